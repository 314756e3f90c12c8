"""Pack a batch's results (and, optionally, the final weights of some runs) into tar.gz files of bounded size.

For moving a batch of runs off a remote machine: the small files of every run (config, evaluation, metrics,
sample grids, interpolations, assignments) go into OUT/results.tar.gz; with ``--weights NAME,...`` each named
run's last checkpoint (model.safetensors + state.json) is added to OUT/weights-N.tar.gz files of at most
``--max-mb`` each.

    python bench/pack_results.py runs/i6 $OUT --weights mnist-resp,mnist-gael --max-mb 15
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

SMALL = ("config.yaml", "evaluation*.json", "metrics.jsonl", "toy_metrics.json", "samples/final.png",
         "samples/sigma-sweep.png", "samples/interpolate-*.png", "assign/*.json", "reconstruction/*")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("batch", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--weights", default="", help="comma-separated run names whose last checkpoint to pack")
    ap.add_argument("--max-mb", type=float, default=15.0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    root = args.batch.name
    with tarfile.open(args.out / "results.tar.gz", "w:gz") as tar:
        for f in sorted(args.batch.glob("*.json")) + sorted(args.batch.glob("*.log")):
            tar.add(f, f"{root}/{f.name}")
        for run in sorted(p for p in args.batch.iterdir() if p.is_dir()):
            for pattern in SMALL:
                for f in sorted(run.glob(pattern)):
                    tar.add(f, f"{root}/{run.name}/{f.relative_to(run)}")
    groups: list[list[Path]] = [[]]
    size = 0.0
    for name in filter(None, args.weights.split(",")):
        ckpts = sorted((args.batch / name / "checkpoints").glob("step-*"))
        if not ckpts:
            print(f"{name}: no checkpoint")
            continue
        files = [ckpts[-1] / "model.safetensors", ckpts[-1] / "state.json", args.batch / name / "config.yaml"]
        mb = sum(f.stat().st_size for f in files) / 2**20
        if groups[-1] and size + mb > args.max_mb:
            groups.append([])
            size = 0.0
        groups[-1] += files
        size += mb
    for i, files in enumerate(g for g in groups if g):
        with tarfile.open(args.out / f"weights-{i}.tar.gz", "w:gz") as tar:
            for f in files:
                tar.add(f, f"{root}/{f.relative_to(args.batch)}")
    for f in sorted(args.out.iterdir()):
        print(f"{f.name} {f.stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
