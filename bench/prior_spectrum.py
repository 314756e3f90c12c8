"""What a learned (dynamic) mixture prior becomes along training: the spectrum of each component's factor A_k.

    python bench/prior_spectrum.py runs/i17/gmdyn-s0 runs/i17/gmdyn-s1 runs/i17/gmdyn-s2 \
        --label "GM-GAN dynamic=runs/i17/gmdyn-s0,runs/i17/gmdyn-s1,runs/i17/gmdyn-s2" \
        --data-dir DIR --out docs/results/prior-spectrum

The dynamic GM-GAN samples z = A_k eps + mu_k and learns mu_k and A_k with the GAN (GM-GAN Section 3). For every
kept checkpoint of every run this reads the prior alone (no sampling of G, no labels) and records, as means over
the K components (``gmgan.evaluate.metrics.prior_spread``):

* ``rms_std``: sqrt(trace(Sigma_k) / d), the component's standard deviation per latent dimension (sigma at
  the start, 0.15 at the papers' settings);
* ``effective_rank``: exp of the entropy of Sigma_k's normalised eigenvalues, i.e. how many directions carry
  the component's variance (d at the start for an isotropic A_k, 1 when all of it lies along one direction);
* ``dims_90``: the fewest directions holding 90% of trace(Sigma_k);
* ``largest_std``: the largest singular value of A_k (the std along the component's main direction);
* ``min_mean_distance`` / ``mean_mean_distance``: the closest and the average distance between two means;
* ``component_recoverable``: how often the component a z was drawn from is the likeliest under the prior
  (the Bayes rule on z, ``metrics.class_accuracy_ceiling`` with one class per component): the ceiling on any
  map from components to classes.

Writes OUT.json (every point, the command) and OUT.png (mean over a label's runs, its std as a band).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from gmgan import checkpoint as ckpt
from gmgan.evaluate import metrics as M
from gmgan.priors import GaussianMixture
from gmgan.train import load_run_config, load_trained
from gmgan.viz import parse_groups, save_group_curves

METRICS = ("rms_std", "effective_rank", "dims_90", "largest_std", "min_mean_distance", "mean_mean_distance",
           "component_recoverable")


def spectrum(prior: GaussianMixture, n: int = 20_000) -> dict[str, float]:
    """metrics.prior_spread and the components' recoverability from z, for one mixture prior."""
    return {**M.prior_spread(prior),
            "component_recoverable": M.class_accuracy_ceiling(prior, torch.eye(prior.K), n=n)}


def curve(run: Path, n_train: int, every: int) -> list[dict[str, float]]:
    cfg = load_run_config(run)
    points = []
    for path in ckpt.list_checkpoints(run, every):  # --every: a coarser curve (the last checkpoint always read)
        _, method, step = load_trained(run, checkpoint=path)
        if not isinstance(method.prior, GaussianMixture):
            raise SystemExit(f"{run} samples {type(method.prior).__name__}, not a mixture: nothing to measure.")
        point = {"step": step, "epochs": round(cfg.train.epochs(step, n_train), 2), **spectrum(method.prior)}
        print(run, {k: round(v, 3) for k, v in point.items()}, flush=True)
        points.append(point)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--label", action="append", help="LABEL=RUN,RUN,... groups for the plot (default: one "
                        "group of every run)")
    parser.add_argument("--data-dir", help="the runs' data, only to turn steps into epochs")
    parser.add_argument("--every", type=int, default=1, help="read only checkpoints whose step is a multiple of "
                        "this (and the last one)")
    parser.add_argument("--out", default="docs/results/prior-spectrum")
    args = parser.parse_args()
    from gmgan.data import load_from_config

    results = {}
    for run in args.runs:
        n_train = len(load_from_config(load_run_config(run).data, 0, data_dir=args.data_dir, imbalance=False))
        results[str(run)] = curve(run, n_train, args.every)
    groups = parse_groups(args.label or [f"runs={','.join(map(str, args.runs))}"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/prior_spectrum.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out.with_suffix(".json").write_text(json.dumps({"command": command, "groups": groups, "runs": results},
                                                   indent=1) + "\n")
    save_group_curves(results, groups, ["rms_std", "effective_rank", "largest_std", "component_recoverable"],
                      out.with_suffix(".png"))
    print(f"written {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
