"""Two trainings on one machine: images/s of a training alone and of two at once, under OpenMP wait policies
(see the speed results). Each scenario runs ``gmgan train`` as separate processes (so the environment is
set before torch is imported) and reads the images/s from their metrics logs (start-up excluded). Writes
docs/results/threads.json.

    python bench/threads.py --data-dir DIR          # about 8 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

POLICIES: dict[str, dict[str, str]] = {  # what each policy sets; "unset" leaves OpenMP's defaults
    "unset": {},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
}
OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "GMGAN_THREADING")


def run_together(n: int, preset: str, steps: int, env_update: dict[str, str], data_dir: str | None,
                 tmp: Path) -> list[float]:
    """Start n trainings at once; the images/s of each (mean of its log records after the first)."""
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    env.update(env_update, GMGAN_THREADING="off")  # gmgan's own default must not touch what is measured
    procs, runs = [], []
    for i in range(n):
        run = tmp / f"{preset}-{len(list(tmp.iterdir()))}-{i}"
        cmd = [sys.executable, "-m", "gmgan", "train", "--preset", preset, "--out", str(run), "--steps", str(steps),
               "--no-progress", "--set", f"train.log_every={max(steps // 10, 1)}", "--set", "train.sample_every=0",
               "--set", f"train.checkpoint_every={steps * 10}"]
        if data_dir and preset != "digits":
            cmd += ["--data-dir", data_dir]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        runs.append(run)
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"training failed: {err[-2000:]}")
    speeds = []
    for run in runs:
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][1:]
        speeds.append(statistics.mean(r["images_per_s"] for r in records))
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="MNIST IDX folder (the mnist preset); without it only digits runs")
    parser.add_argument("--mnist-steps", type=int, default=300)
    parser.add_argument("--digits-steps", type=int, default=1000)
    parser.add_argument("--out", default="docs/results/threads.json")
    args = parser.parse_args()
    presets = {"digits": args.digits_steps, **({"mnist": args.mnist_steps} if args.data_dir else {})}
    result: dict[str, Any] = {
        "command": "python bench/threads.py" + (f" --data-dir {args.data_dir}" if args.data_dir else "")
                   + f" --mnist-steps {args.mnist_steps} --digits-steps {args.digits_steps}",
        "note": "speeds in images/s (real images through D); ratio_two_vs_alone: each of two "
                "concurrent trainings over the same training alone, same policy; cpus: os.cpu_count()",
        "cpus": os.cpu_count(), "policies": POLICIES, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for preset, steps in presets.items():
            for name, env in POLICIES.items():
                t0 = time.perf_counter()
                alone = run_together(1, preset, steps, env, args.data_dir, Path(tmp))[0]
                two = run_together(2, preset, steps, env, args.data_dir, Path(tmp))
                entry = {"alone": alone, "two_at_once": two, "ratio_two_vs_alone": min(two) / alone}
                result["results"][f"{preset} / {name}"] = entry
                print(f"{preset:7s} {name:22s} alone {alone:9.1f}  two at once {two[0]:9.1f} {two[1]:9.1f}  "
                      f"ratio {entry['ratio_two_vs_alone']:.2f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
