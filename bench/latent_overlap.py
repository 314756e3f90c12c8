"""How far apart a run's mixture components are in the latent space: the Bayes accuracy of the component.

    python bench/latent_overlap.py runs/i17/sup-s0 runs/i17/sup-s1 runs/i17/sup-s2 \
        --out docs/results/latent-overlap-sup.json

For each scale sigma of the sweep, z is drawn from every component k of the run's prior at that covariance
scale, and scored by whether the prior's own posterior p(k | z) (Eq. 3 of papers/002, the mixture's
responsibilities) puts it back in k. That fraction is an upper bound on the class accuracy of a supervised
GM-GAN sampled at that sigma: G sees only z, so a z that lies closer to another component's mean is, for G,
that component's. No images, no labels, no training: a property of c, sigma, K and d (and the drawn means).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from gmgan.train import load_trained

SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0)


@torch.no_grad()
def component_accuracy(prior, scale: float, per_component: int, seed: int) -> float:
    """Fraction of z ~ component k (covariance scaled by ``scale``) whose most responsible component is k."""
    g = torch.Generator(device=prior.device).manual_seed(seed)
    k = torch.arange(prior.K, device=prior.device).repeat(per_component)
    z, _ = prior.sample(len(k), component=k, generator=g, scale=scale)
    return float((prior.responsibilities(z).argmax(1) == k).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--per-component", type=int, default=20_000, help="latents per component and scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = {}
    for run in args.runs:
        cfg, method, step = load_trained(run)
        p = method.prior
        runs[str(run)] = {"step": step, "K": p.K, "d": p.d, "c": cfg.prior.c, "sigma": cfg.prior.sigma,
                          "accuracy": {str(s): component_accuracy(p, s, args.per_component, args.seed)
                                       for s in SCALES}}
        print(run, {s: round(a, 4) for s, a in runs[str(run)]["accuracy"].items()}, flush=True)
    command = "python bench/latent_overlap.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command, "per_component": args.per_component, "seed": args.seed,
                                    "runs": runs}, indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
