"""Print a markdown table of the evaluation.json of several runs (for docs/RESULTS.md).

    python bench/eval_table.py runs/a runs/b ...

Columns: requested-class accuracy (class-conditional runs), FID/KID/IS in the domain classifier's features,
precision/recall/coverage, q, d and s, and the class histogram of the generated samples.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def row(run: Path, name: str = "evaluation.json") -> str:
    ev = json.loads((run / name).read_text())
    g, p = ev["generated"], ev["protocol"]
    acc = g.get("class_accuracy", {}).get("accuracy")
    cells = [run.name, p["method"], str(p["step"]), "-" if acc is None else f"{acc:.4f}",
             f"{g['fid']:.2f}", f"{g['kid']:.3f}", f"{g['is']:.2f}", f"{g['precision']:.3f}", f"{g['recall']:.3f}",
             f"{g['coverage']:.3f}", f"{g['q']:.3f}", f"{g['d_intra']:.3f}", _f(g.get("d_within_class")),
             f"{g['d']:.3f}", f"{g['s']:.3f}",
             " ".join(str(c) for c in g["class_histogram"])]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--file", default="evaluation.json", help="evaluation file in each run (e.g. "
                        "evaluation-fitted.json)")
    args = parser.parse_args()
    print("| run | method | steps | class acc. | FID | KID | IS | precision | recall | coverage | q | d_intra | "
          "d_within_class | d | s | class histogram |")
    print("|" + " --- |" * 16)
    for run in args.runs:
        print(row(run, args.file))


if __name__ == "__main__":
    main()
