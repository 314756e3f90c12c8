"""How much a score depends on which classifier measured it: the same samples in two classifiers of one recipe.

    gmgan train-classifier --data-dir DIR --cache-dir CACHE --retrain   # OMP_NUM_THREADS=1
    gmgan evaluate RUN --no-real --n 5000 --cache-dir CACHE --out RUN/evaluation-other-classifier.json
    python bench/ruler_margin.py RUN ... --other evaluation-other-classifier.json --out docs/results/ruler-margin.json

For each run, ``evaluation.json`` and the ``--other`` file must score the same samples (same checkpoint, n and
seed); the difference of each score is then due to the classifier alone. Prints per-run differences and their
mean absolute value relative to the score, and writes them with both classifiers' identities to OUT.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
from pathlib import Path

KEYS = ("fid", "kid", "is", "precision", "recall", "coverage", "q", "d")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--other", required=True, help="evaluation file in each run, scored in the other classifier")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows, rulers = [], {}
    for run in args.runs:
        a, b = (json.loads((run / f).read_text()) for f in ("evaluation.json", args.other))
        for k in ("step", "generated"):
            if a["protocol"][k] != b["protocol"][k]:
                raise SystemExit(f"{run}: the two evaluations differ in {k}; score the same samples in both")
        for doc in (a, b):
            e = doc["protocol"]["extractor"]
            rulers[e.get("weights_sha256")] = {k: e.get(k) for k in ("path", "source", "test_accuracy", "quality")}
        rows.append({"run": str(run), "step": a["protocol"]["step"],
                     "reference": {k: a["generated"][k] for k in KEYS if k in a["generated"]},
                     "other": {k: b["generated"][k] for k in KEYS if k in b["generated"]}})
    keys = [k for k in KEYS if all(k in r["reference"] and k in r["other"] for r in rows)]
    summary = {k: {"mean_difference": statistics.mean(r["other"][k] - r["reference"][k] for r in rows),
                   "mean_abs_relative": statistics.mean(abs(r["other"][k] - r["reference"][k]) / abs(r["reference"][k])
                                                        if r["reference"][k] else math.nan for r in rows)}
               for k in keys}
    command = "python bench/ruler_margin.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command, "classifiers": rulers, "runs": rows, "summary": summary},
                                   indent=1) + "\n")
    print("| score | " + " | ".join(Path(r["run"]).name + " (ref / other)" for r in rows)
          + " | mean difference | mean abs. relative |")
    print("|" + " --- |" * (len(rows) + 3))
    for k in keys:
        cells = [f"{r['reference'][k]:.3f} / {r['other'][k]:.3f}" for r in rows]
        s = summary[k]
        print(f"| {k} | " + " | ".join(cells) + f" | {s['mean_difference']:+.4f} | {s['mean_abs_relative']:.1%} |")


if __name__ == "__main__":
    main()
