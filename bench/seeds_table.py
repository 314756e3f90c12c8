"""A table of models over seeds from their runs' evaluation.json: parameters, epochs and scores, mean ± std.

    python bench/seeds_table.py --group "responsibility=runs/i17/resp-s0,runs/i17/resp-s1,runs/i17/resp-s2" \
        --group "GM-GAN dynamic=runs/i17/gmdyn-s0,..." --group "GAN=runs/i17/gan-s0,..." --out docs/results/table3

One row per group (a model), in the order given: trainable parameters counted from the final checkpoint
(G + D + C + prior, as bench/run_batch.py counts them), the step and epochs the evaluation was made at (every
critic batch counted), and FID, KID, Inception Score, precision, recall, coverage, q and d as mean ± sample std
over the group's runs. Each evaluation names the classifier it was scored in (weights SHA-256): a table whose
runs were scored in different classifiers, or at different steps or sample counts within a row, is refused
rather than mixed silently.
Writes OUT/table.json (the command, per run and summary) and OUT/table.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

from gmgan.data import load_from_config
from gmgan.train import load_run_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_batch import count_parameters

COLUMNS = ("fid", "kid", "is", "precision", "recall", "coverage", "q", "d")
SHOWN = {"fid": "FID", "kid": "KID", "is": "IS"}  # KID as gmgan evaluate writes it (the MMD^2, unscaled)


def one_run(run: Path, data_dir: str | None) -> dict:
    doc = json.loads((run / "evaluation.json").read_text())
    protocol, generated = doc["protocol"], doc["generated"]
    cfg = load_run_config(run)
    n_train = len(load_from_config(cfg.data, cfg.train.seed, data_dir=data_dir))
    return {"run": str(run), "step": protocol["step"], "epochs": round(cfg.train.epochs(protocol["step"], n_train), 2),
            "n": protocol["generated"]["n"], "ruler": protocol["extractor"].get("weights_sha256"),
            "parameters": sum(count_parameters(run).values()),
            "scores": {k: generated[k] for k in COLUMNS if isinstance(generated.get(k), int | float)}}


def summary(values: list[float]) -> list[float]:
    return [statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--group", action="append", required=True, metavar="LABEL=RUN,RUN,...",
                    help="a model and its runs (one per seed); repeat for each row")
    ap.add_argument("--data-dir", help="the dataset folder, to count the training set for epochs")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    rows = []
    for spec in args.group:
        label, sep, runs = spec.partition("=")
        if not sep or not runs:
            ap.error(f"--group {spec!r}: give it as LABEL=RUN,RUN,...")
        missing = [r for r in runs.split(",") if not (Path(r) / "evaluation.json").is_file()]
        if missing:
            ap.error(f"--group {label}: no evaluation.json in {', '.join(missing)}; run gmgan evaluate RUN first")
        per_run = [one_run(Path(r), args.data_dir) for r in runs.split(",")]
        for key in ("step", "n"):
            if len({p[key] for p in per_run}) > 1:
                ap.error(f"--group {label}: its runs were evaluated at different {key}s "
                         f"({sorted({p[key] for p in per_run})}); evaluate them at the same one")
        rows.append({"row": label, "runs": per_run, "step": per_run[0]["step"], "epochs": per_run[0]["epochs"],
                     "n": per_run[0]["n"], "parameters": sorted({p["parameters"] for p in per_run}),
                     "summary": {k: summary([p["scores"][k] for p in per_run]) for k in COLUMNS
                                 if all(k in p["scores"] for p in per_run)}})
    rulers = {p["ruler"] for row in rows for p in row["runs"]}
    if len(rulers) > 1:
        ap.error(f"the runs were scored in {len(rulers)} different classifiers ({sorted(map(str, rulers))}); "
                 "evaluate them all with the same one")

    lines = ["| model | seeds | parameters | steps | epochs | "
             + " | ".join(SHOWN.get(c, c) for c in COLUMNS) + " |", "|" + " --- |" * (len(COLUMNS) + 5)]
    for row in rows:
        cells = [f"{row['summary'][c][0]:.3f} ± {row['summary'][c][1]:.3f}" if c in row["summary"] else ""
                 for c in COLUMNS]
        lines.append(f"| {row['row']} | {len(row['runs'])} | {'/'.join(f'{p:,}' for p in row['parameters'])} | "
                     f"{row['step']:,} | {row['epochs']} | " + " | ".join(cells) + " |")
    ruler = next(iter(rulers))
    lines += ["", f"{rows[0]['n']:,} samples per run at scale 1; classifier weights SHA-256 {str(ruler)[:12]}..."]
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python bench/seeds_table.py " + shlex.join(sys.argv[1:])
    (args.out / "table.json").write_text(json.dumps({"command": command, "classifier": ruler, "rows": rows},
                                                    indent=1) + "\n")
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
