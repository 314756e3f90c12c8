"""The class-accuracy ceiling of a supervised GM-GAN's prior, over c and sigma, before any training.

    python bench/prior_ceiling.py --out docs/results/prior-ceiling.json

A generator sees only z; where mixture components overlap, no generator can always make the class z's component
asks for. metrics.class_accuracy_ceiling gives the best achievable share (the Bayes rule on z). This tabulates
it for K components in d dimensions (means from U[-c, c]^d, each seed its own means, std sigma) at each sampling
scale of the sweep: a property of (c, sigma, K, d) alone, to choose c before training.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from gmgan.evaluate.metrics import class_accuracy_ceiling
from gmgan.priors import GaussianMixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--c", default="0.05,0.1,0.125,0.15,0.2,0.25")
    parser.add_argument("--sigma", type=float, default=0.15, help="component std at scale 1 (the papers' 0.15)")
    parser.add_argument("--K", type=int, default=10)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--scales", default="0.5,0.8,1.0,1.2,1.5,2.0")
    parser.add_argument("--seeds", type=int, default=3, help="draws of the means (the training seeds 0, 1, ...)")
    parser.add_argument("--n", type=int, default=50_000, help="latents per estimate")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    one_each = torch.eye(args.K, dtype=torch.bool)
    rows = []
    for c in map(float, args.c.split(",")):
        for seed in range(args.seeds):
            prior = GaussianMixture(args.K, args.d, c=c, sigma=args.sigma,
                                    generator=torch.Generator().manual_seed(seed))
            for scale in map(float, args.scales.split(",")):
                rows.append({"c": c, "seed": seed, "scale": scale,
                             "ceiling": class_accuracy_ceiling(prior, one_each, scale, n=args.n, seed=seed)})
        print(c, [round(r["ceiling"], 4) for r in rows if r["c"] == c and r["seed"] == 0], flush=True)
    command = "python bench/prior_ceiling.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command, "sigma": args.sigma, "K": args.K, "d": args.d, "n": args.n,
                                    "rows": rows}, indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
