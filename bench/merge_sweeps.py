"""Merge the sweep.json of several ``gmgan sweep`` runs into one folder (one figure, one summary), so the
groups of one figure can be swept by parallel processes:

    python bench/merge_sweeps.py runs/sweep-gan runs/sweep-gmgan --out docs/results/fig7-unsup

The protocols must agree (scales, n, seed, pairs); rows and summaries are concatenated, sweep.png redrawn.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gmgan.evaluate.run import write_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    parts = [json.loads((f / "sweep.json").read_text()) for f in args.folders]
    keys = ("scales", "n")
    for p in parts[1:]:
        same = all(p["protocol"][k] == parts[0]["protocol"][k] for k in keys)
        opts = {k: v for k, v in p["protocol"]["options"].items() if k not in ("device",)}
        ref = {k: v for k, v in parts[0]["protocol"]["options"].items() if k not in ("device",)}
        if not same or opts != ref:
            raise SystemExit("the sweeps were made with different protocols; merge only like with like")
    rows = [r for p in parts for r in p["rows"]]
    protocol = {**parts[0]["protocol"], "runs": [r for p in parts for r in p["protocol"]["runs"]],
                "groups": {k: v for p in parts for k, v in p["protocol"].get("groups", {}).items()},
                "merged_from": [str(f) for f in args.folders]}
    write_sweep(rows, protocol, args.out)
    print(f"written {args.out}/sweep.json, sweep.csv, sweep.png")


if __name__ == "__main__":
    main()
