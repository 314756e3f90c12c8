"""Whether the responsibility model's C tells the mixture components apart, along training.

    python bench/posterior_outputs.py runs/i17/resp-s0 runs/i17/resp-s1 runs/i17/resp-s2 --every 3000 \
        --out docs/results/posterior-outputs.json

papers/002's posterior consistency module trains C (p(k | x), a softmax over K outputs) to agree with the prior's
p(k | z) on generated images, by the mutual information of Eq. 4 (``responsibility.measure: mi``, the paper's) or
by KL / JS. For every kept checkpoint of every run (``--every``: only steps that are multiples of it, and the
last) this draws 200 generated images per component and records ``ResponsibilityGMGAN.output_usage`` (no real
data, no labels): how many of C's outputs are used, which components C merges into one output, the agreement of
each component's images with its majority output, and the mutual information I(component; output) in nats
(log K = 2.303 for K = 10 when no components are merged), beside the training log's L_xz at that step.
Writes OUT (JSON: the command and every point) and prints one line per point.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from gmgan import checkpoint as ckpt
from gmgan.train import load_trained


def logged(run: Path, key: str) -> dict[int, float]:
    """The training log's value of ``key`` at each logged step."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if key in row:
            out[int(row["step"])] = float(row[key])
    return out


def curve(run: Path, every: int) -> list[dict]:
    l_xz = logged(run, "L_xz")
    points = []
    for path in ckpt.list_checkpoints(run, every):
        cfg, method, step = load_trained(run, checkpoint=path)
        if not hasattr(method, "output_usage"):
            raise SystemExit(f"{run} is not a responsibility run (gmgan train --method responsibility).")
        point = {"step": step, "measure": cfg.responsibility.measure, **method.output_usage(),
                 "L_xz_logged": l_xz.get(step)}
        print(run, point, flush=True)
        points.append(point)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--every", type=int, default=1, help="read only checkpoints whose step is a multiple of "
                        "this (and the last one)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/posterior-outputs.json"))
    args = parser.parse_args()
    results = {str(run): curve(run, args.every) for run in args.runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/posterior_outputs.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    args.out.write_text(json.dumps({"command": command, "runs": results}, indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
