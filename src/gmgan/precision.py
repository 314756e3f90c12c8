"""Arithmetic precision of the heavy loops: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (``train.precision``).

bf16 and fp16 run the networks' forward passes under :func:`torch.autocast`; weights, optimiser states and
gradients stay float32 (autocast casts copies per op), the networks hand float32 outputs to the losses
(:mod:`gmgan.nets`), and the mixture prior's sampling and log-densities and the gradient penalty run in
float32 (:func:`full_precision`). fp16 exists only on CUDA and comes with a gradient scaler (see
:class:`Scalers`).

``auto`` picks what pays on the hardware, from ``bench/throughput.py``'s measurements: bf16 where the
device computes it natively (CUDA with bf16; a CPU with AVX-512 BF16 or AMX), fp32 elsewhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from gmgan.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def bf16_native(device: torch.device) -> bool:
    """True when ``device`` computes bf16 in hardware (not emulated through float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve(precision: str, device: torch.device) -> str:
    """The precision that will actually run: ``auto`` made concrete, impossible requests refused."""
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision must be one of {PRECISIONS}. Got {precision!r} instead.")
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision fp16 needs a CUDA device (float16 on a CPU is emulated and slow). Use "
                          "bf16 or fp32 on the CPU, or auto.")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """float32 inside, whatever autocast is active outside (CPU and CUDA)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.autocast("cpu", enabled=False))
        if torch.cuda.is_available():
            stack.enter_context(torch.autocast("cuda", enabled=False))
        yield


class Scalers:
    """One gradient scaler per optimiser for fp16 (disabled, i.e. pass-through, otherwise). The scales are
    part of the trainer state in each checkpoint, so an fp16 run resumes exactly."""

    def __init__(self, precision: str, device: torch.device, names: tuple[str, ...] = ("D", "G")) -> None:
        enabled = precision == "fp16"
        self.scalers = {n: torch.amp.GradScaler(device.type, enabled=enabled) for n in names}

    def backward_step(self, name: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                      between: Any = None) -> None:
        """loss.backward(), then ``between()`` (e.g. averaging gradients across processes), then the step."""
        scaler = self.scalers[name]
        scaler.scale(loss).backward()
        if between is not None:
            between()
        scaler.step(optimizer)
        scaler.update()

    def state(self) -> dict[str, Any]:
        return {n: s.state_dict() for n, s in self.scalers.items() if s.is_enabled()}

    def load_state(self, state: dict[str, Any]) -> None:
        for n, s in state.items():
            self.scalers[n].load_state_dict(s)
