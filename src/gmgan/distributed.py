"""Data-parallel training across processes with torch.distributed (``torchrun --nproc_per_node=N -m gmgan train``).

How a step is shared (the global batch is the config's b_D and b_G, whatever the number of processes):

* every rank draws the same global batch of indices and latents (same seeds), then keeps its slice
  (rank r of W takes rows r*B/W to (r+1)*B/W): a distributed sampler that keeps the single-process data
  order, so a run is resumable and, for networks without batch statistics, ends with the weights of a
  one-process run on the same global batch (tested on the CPU with gloo);
* after each backward pass the gradients are averaged across ranks (all-reduce), then every rank takes
  the same optimiser step, so the weights, the mixture's parameters included, stay identical;
* BatchNorm keeps per-rank batch statistics (as DistributedDataParallel without SyncBatchNorm); its
  running averages are averaged across ranks before each checkpoint;
* rank 0 alone writes files; logged metrics are averaged across ranks.

We average gradients ourselves instead of wrapping G and D in DistributedDataParallel: a GAN step runs D
several times before one backward (real, fake, the gradient penalty's double backward), freezes D in G's
step and uses two optimisers, which DDP's hooks do not support (double backward) or need workarounds for
(unused parameters). The all-reduce below is what DDP does, bucketed the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gmgan.errors import ConfigError

_BUCKET_ELEMENTS = 2**22  # about 16 MB of float32 per all-reduce


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Context()


def from_environment(device: str) -> Context:
    """The process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT), initialised once;
    a plain ``gmgan train`` (no WORLD_SIZE, or 1) is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Context(rank, world, local)


def check_divisible(ctx: Context, **batches: int) -> None:
    for name, value in batches.items():
        if value % ctx.world_size:
            raise ConfigError(f"train.{name} = {value} (the global batch) must divide evenly across the "
                              f"{ctx.world_size} processes. Use a multiple of {ctx.world_size}.")


def local_slice(t: Tensor, ctx: Context) -> Tensor:
    """This rank's rows of a tensor holding the whole global batch."""
    if not ctx.enabled:
        return t
    n = t.shape[0] // ctx.world_size
    return t[ctx.rank * n : (ctx.rank + 1) * n]


def average_gradients(params: list[nn.Parameter], ctx: Context) -> None:
    """Average .grad across ranks, flattening them into buckets (one all-reduce per bucket)."""
    if not ctx.enabled:
        return
    buckets: list[list[Tensor]] = [[]]
    size = 0
    for g in (p.grad for p in params if p.grad is not None):
        if buckets[-1] and size + g.numel() > _BUCKET_ELEMENTS:
            buckets.append([])
            size = 0
        buckets[-1].append(g)
        size += g.numel()
    for bucket in filter(None, buckets):
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat)
        flat /= ctx.world_size
        offset = 0
        for g in bucket:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def average_buffers(module: nn.Module, ctx: Context) -> None:
    """Average floating-point buffers (BatchNorm running statistics) across ranks."""
    if not ctx.enabled:
        return
    for buf in module.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf /= ctx.world_size


def average_scalars(values: dict[str, Tensor], ctx: Context) -> dict[str, Tensor]:
    """Mean of each logged scalar over ranks (one all-reduce)."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)
    stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])
    dist.all_reduce(stacked)
    stacked /= ctx.world_size
    return dict(zip(keys, stacked, strict=True))


def max_divergence(module: nn.Module, ctx: Context) -> float:
    """Largest difference of any weight between this rank and rank 0 (0.0 when the ranks agree)."""
    if not ctx.enabled:
        return 0.0
    flat = torch.cat([p.detach().reshape(-1).float() for p in module.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, 0)
    diff = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff)


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown(ctx: Context) -> None:
    """Wait for every rank, then close the process group (a rank leaving with it open can abort at exit)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
