"""When FID and recall disagree: how spread out generated samples are, next to real ones, in the evaluation
classifier's features.

    python bench/sample_geometry.py runs/i17/gmdyn-s0 runs/i17/gan-s0 --step 27000 --n 5000 \
        --data-dir DIR --out docs/results/sample-geometry.json

Improved recall (Kynkaenniemi et al. 2019) counts the real samples that fall inside the k-NN ball of some
generated sample, with radii measured among the generated samples themselves. A generator whose samples lie
on a thinner set than the data's (fewer directions of variation) has small radii there, so real samples fall
outside the balls even when the two distributions' means and covariances agree (what FID compares). This
measures, for each run's n samples at scale 1 and for n real training images (the same count, the yardstick):

* recall and precision at k = 3 (gmgan's default), 5 and 10 against the held-out reference set;
* the median k-NN radius (k = 3) within the set;
* the local intrinsic dimension: the maximum-likelihood estimate of Levina & Bickel (2004) with k = 20
  neighbours, averaged over the points as MacKay & Ghahramani's note recommends (the inverse of the mean of
  the per-point inverse estimates). Written here because it is four lines on the neighbour distances already
  computed; scikit-dimension has it, but is not a dependency of gmgan.

Labels enter only through the classifier, for scoring. Writes OUT (JSON: the command, one row per set).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from gmgan.evaluate import metrics as M
from gmgan.evaluate.run import EvalOptions, Evaluator

KS = (3, 5, 10)


def local_dimension(features: torch.Tensor, k: int = 20, chunk: int = 1024) -> float:
    """Levina-Bickel MLE of the intrinsic dimension from each point's k nearest neighbours (itself excluded),
    pooled over the points as 1 / mean(1 / m_x)."""
    x = features.double()
    inverse = []
    for c in x.split(chunk):
        t = torch.cdist(c, x).topk(k + 1, dim=1, largest=False).values[:, 1:]  # T_1 .. T_k
        t = t.clamp_min(1e-12)
        inverse.append(torch.log(t[:, -1:] / t[:, :-1]).mean(1))  # 1 / m_x, with the k - 1 normalisation
    return float(1.0 / torch.cat(inverse).mean())


def geometry(features: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    row: dict[str, float] = {}
    for k in KS:
        pr = M.prdc(reference, features, k=k, k_dc=5)
        row[f"recall_k{k}"], row[f"precision_k{k}"] = pr["recall"], pr["precision"]
    row["median_radius_k3"] = float(M.nearest_distances(features, features, k=3, exclude_self=True).median())
    row["local_dimension_k20"] = local_dimension(features)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--step", type=int, help="a kept checkpoint's step (default: the latest)")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--data-dir")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    real_done = False
    for run in args.runs:
        ev = Evaluator(run, EvalOptions(n=args.n, step=args.step, data_dir=args.data_dir), progress=False)
        if not real_done:  # the yardstick: n real training images, scored the same way
            pick = torch.randperm(len(ev.train), generator=torch.Generator().manual_seed(0))[:args.n]
            real = ev.classifier.extract(ev.train.x[pick])[0]
            rows.append({"set": "real training images", "n": args.n, **geometry(real, ev.ref_features)})
            print(rows[-1], flush=True)
            real_done = True
        x, _ = ev.samples(args.n, 1.0, 0)
        rows.append({"set": str(run), "step": ev.step, "n": args.n,
                     **geometry(ev.classifier.extract(x)[0], ev.ref_features)})
        print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/sample_geometry.py " + shlex.join(sys.argv[1:])
    args.out.write_text(json.dumps({"command": command, "classifier": ev.classifier.protocol(), "rows": rows},
                                   indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
