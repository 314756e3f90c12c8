"""What drawing the latents costs in a responsibility-learning step, before and after the change
that stopped gathering a copy of A_k for every latent.

Each step draws K latents per real image, z = mu_k + A_k eps, through a full d x d factor per component, twice
(D's step, and G's step with gradients into mu_k and A_k). Drawing them by gathering A_k per latent (the
(n, d, d) tensor ``A[k]``, 25 MB at n = 640, d = 100, and a scatter of as much in backward) was gmgan's first
implementation; :meth:`gmgan.priors.GaussianMixture._transform` now takes one (n_k, d) x (d, d) product per
component. This script times whole training steps of the responsibility model with either, in interleaved
rounds in one process (machine noise hits both alike), at the ``mnist`` preset's width 64 and at width 32 (the
size experiment), and reports the ratio.

    python bench/responsibility_step.py                # about 3 minutes on 2 CPU cores
    python bench/responsibility_step.py --threads 1 --rounds 5 --out docs/results/responsibility-step.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from gmgan.config import make_config
from gmgan.data import Dataset
from gmgan.priors import GaussianMixture
from gmgan.train import Trainer


def gathered_transform(self: GaussianMixture, eps: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The first implementation, for reference: A_k eps through a gathered (n, d, d) copy of the factors."""
    if self.covariance == "full":
        return torch.einsum("nij,nj->ni", self.scale_param[k], eps)
    return self.scale_param.exp()[k] * eps


@contextmanager
def transform(variant: str):
    current = GaussianMixture._transform
    if variant == "gathered":
        GaussianMixture._transform = gathered_transform  # type: ignore[method-assign]
    try:
        yield
    finally:
        GaussianMixture._transform = current  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="training steps per round and model (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--widths", default="64,32", help="model.width values (default 64,32)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: PyTorch's)")
    parser.add_argument("--out", default="docs/results/responsibility-step.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    variants = ("per-component", "gathered")
    # pixels do not change the cost; random images keep the benchmark free of data files
    g = torch.Generator().manual_seed(0)
    data = Dataset("random-28px", torch.rand(5000, 1, 28, 28, generator=g) * 2 - 1, None, 0)
    with tempfile.TemporaryDirectory() as tmp:
        trainers: dict[tuple[int, str], Trainer] = {}
        for width in widths:
            for variant in variants:
                cfg = make_config("mnist", {"method": "responsibility", "prior": {"learnable": True},
                                            "model": {"width": width}})
                trainers[width, variant] = Trainer(cfg, Path(tmp) / f"w{width}-{variant}", progress=False,
                                                   dataset=data)
        times: dict[tuple[int, str], list[float]] = {key: [] for key in trainers}
        for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
            for (width, variant), trainer in trainers.items():
                with transform(variant):
                    start = time.perf_counter()
                    for _ in range(args.steps):
                        trainer.train_step()
                    if round_:
                        times[width, variant].append(time.perf_counter() - start)
    result = {
        "command": "python bench/responsibility_step.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "note": "seconds per training step (median over rounds) of the responsibility model, C shared, K = 10 "
                "fakes per real, b_D 64; ratio = gathered / per-component, measured in the same interleaved run",
        "machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
        "widths": {},
    }
    print(f"{'width':>5s} {'per-component s/step':>21s} {'gathered s/step':>16s} {'ratio':>6s}")
    for width in widths:
        new, old = (statistics.median(times[width, v]) / args.steps for v in variants)
        result["widths"][str(width)] = {"per_component_s_per_step": new, "gathered_s_per_step": old,
                                        "speedup": old / new,
                                        "round_seconds": {v: times[width, v] for v in variants}}
        print(f"{width:5d} {new:21.3f} {old:16.3f} {old / new:6.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
