"""Throughput of 2 data-parallel processes (torchrun, gloo, 1 thread each) against 1 process (2 threads), same
global batch, on the CPU: does splitting the batch across processes pay on this machine?

Alternates the two set-ups ``--repeats`` times (machine noise hits both alike) and reports the median of the
real images per second each logged (the first log interval, warm-up, left out). Writes
docs/results/ddp-throughput.json.

    python bench/ddp_throughput.py --data-dir DIR            # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(nproc: int, out: Path, args: argparse.Namespace) -> list[float]:
    common = ["train", "--preset", "mnist", "--method", args.method, "--steps", str(args.steps), "--data-dir",
              args.data_dir, "--out", str(out), "--no-progress", "--set", f"train.log_every={args.steps // 5}",
              "--set", "train.sample_every=0", "--set", f"train.checkpoint_every={args.steps}"]
    threads = str(max(1, args.cores // nproc))
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    if nproc == 1:
        cmd = [sys.executable, "-m", "gmgan", *common]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "gmgan", *common]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["images_per_s"] for r in records[1:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--method", default="gan")
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default="docs/results/ddp-throughput.json")
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"1 process": [], "2 processes": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            rates["1 process"] += run(1, Path(tmp) / f"one-{i}", args)
            rates["2 processes"] += run(2, Path(tmp) / f"two-{i}", args)
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "command": f"python bench/ddp_throughput.py --data-dir DIR --method {args.method} --steps {args.steps} "
                   f"--repeats {args.repeats} --cores {args.cores}",
        "setting": {"preset": "mnist", "method": args.method, "global_b_D": 64, "global_b_G": 128,
                    "cores": args.cores, "threads_per_process": {"1 process": args.cores,
                                                                  "2 processes": max(1, args.cores // 2)},
                    "backend": "gloo (CPU)"},
        "images_per_s": rates, "median_images_per_s": med,
        "speedup_2_vs_1": med["2 processes"] / med["1 process"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for k, v in med.items():
        print(f"{k:12s} {v:8.1f} real images/s (median of {len(rates[k])} log intervals)")
    print(f"2 processes / 1 process: {result['speedup_2_vs_1']:.3f}; written {args.out}")


if __name__ == "__main__":
    main()
