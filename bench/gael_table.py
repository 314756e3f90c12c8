"""GAEL's Table 1 over seeds: one row per sampling route of the GAN + encoder runs, mean ± sample std.

    python bench/gael_table.py runs/i17/gael-s0 runs/i17/gael-s1 runs/i17/gael-s2 \
        --baseline docs/results/convergence-unsup.json:GAN --out docs/results/gael-ns

Reads what ``bench/run_batch.py bench/jobs/issue17.txt`` leaves in each run: ``evaluation.json`` (the run's own
N(0, I) prior), ``evaluation-fit10.json`` / ``evaluation-fit50.json`` (``evaluate --prior fitted`` after
``fit-prior --components 10 | 50``) and ``reconstruction/reconstruction-encoder.json`` (``reconstruct --score``:
G(Enc(x)) of held-out images, GAEL's upper bound). ``--baseline FILE:LABEL`` adds the plain GAN's row from a
convergence curve's JSON (its runs' last common step; same 5,000 samples at scale 1); ``--baseline-runs RUN ...``
reads it from the plain GAN runs' own ``evaluation.json`` instead (the same files as the "+ encoder" row, KID
included). Every row names the classifier it was scored in (weights SHA-256): rows in different classifiers are
flagged, not mixed silently.
Writes OUT/table.json (per seed and summary, with the command) and OUT/table.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

COLUMNS = ("fid", "kid", "precision", "recall", "coverage", "q", "is")
ROUTES = (
    ("+ encoder, N(0, I) sampling", "evaluation.json"),
    ("+ 10-component mixture fitted to the encoder's codes", "evaluation-fit10.json"),
    ("+ 50-component mixture fitted to the encoder's codes", "evaluation-fit50.json"),
    ("encoder-generator G(Enc(x)) of held-out images (upper bound)", "reconstruction/reconstruction-encoder.json"),
)


def _scores(path: Path) -> tuple[dict[str, float], dict]:
    """(scores, facts) of one evaluation or reconstruction JSON."""
    doc = json.loads(path.read_text())
    if "encoder_generator" in doc:  # gmgan reconstruct --score
        scores = dict(doc["encoder_generator"])
        facts = {"step": doc["step"], "n": doc["n"], "mse_per_pixel": doc["mse_per_pixel"],
                 "ruler": doc.get("extractor", {}).get("weights_sha256")}
    else:
        g, p = doc["generated"], doc["protocol"]
        scores = {k: g[k] for k in COLUMNS if isinstance(g.get(k), int | float)}
        facts = {"step": p["step"], "n": p["generated"]["n"], "ruler": p["extractor"].get("weights_sha256")}
    return scores, facts


def _summary(per_seed: list[dict[str, float]]) -> dict[str, list[float]]:
    keys = [k for k in COLUMNS if all(k in s for s in per_seed)]
    return {k: [statistics.mean(s[k] for s in per_seed),
                statistics.stdev(s[k] for s in per_seed) if len(per_seed) > 1 else 0.0] for k in keys}


def baseline_rows(spec: str) -> dict:
    file, _, label = spec.rpartition(":")
    doc = json.loads(Path(file).read_text())
    runs = doc["groups"][label]
    last = min(max(p["step"] for p in doc["runs"][r]) for r in runs)
    per_seed = [next(p for p in doc["runs"][r] if p["step"] == last) for r in runs]
    rulers = {e.get("weights_sha256") for e in doc.get("extractors", [])} or {None}
    return {"row": f"baseline {label} (no encoder), from {file}", "runs": runs, "step": last,
            "epochs": per_seed[0]["epochs"], "n": doc["n"], "ruler": sorted(r or "not recorded" for r in rulers),
            "per_seed": [{k: p[k] for k in COLUMNS if k in p} for p in per_seed],
            "summary": _summary([{k: p[k] for k in COLUMNS if k in p} for p in per_seed])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--baseline", help="CURVE_JSON:LABEL, the GAN without encoder")
    ap.add_argument("--baseline-runs", nargs="+", type=Path, default=[],
                    help="the GAN without encoder: run folders with an evaluation.json")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.baseline and args.baseline_runs:
        ap.error("give the baseline once: --baseline or --baseline-runs")
    rows = [baseline_rows(args.baseline)] if args.baseline else []
    routes = [("baseline (no encoder), N(0, I) sampling", "evaluation.json", args.baseline_runs)]
    for name, file, runs in routes + [(name, file, args.runs) for name, file in ROUTES]:  # no runs: no row
        found = [(run, _scores(run / file)) for run in runs if (run / file).is_file()]
        if not found:
            continue
        facts = [f for _, (_, f) in found]
        rows.append({"row": name, "runs": [str(r) for r, _ in found], "step": sorted({f["step"] for f in facts}),
                     "n": sorted({f["n"] for f in facts}), "ruler": sorted({f["ruler"] or "not recorded"
                                                                            for f in facts}),
                     **({"mse_per_pixel": [f["mse_per_pixel"] for f in facts]} if "mse_per_pixel" in facts[0]
                        else {}),
                     "per_seed": [s for _, (s, _) in found], "summary": _summary([s for _, (s, _) in found])})
    rulers = sorted({r for row in rows for r in row["ruler"]})
    lines = ["| row | seeds | " + " | ".join(c.upper() if c in ("fid", "kid", "is") else c for c in COLUMNS)
             + " | classifier |", "|" + " --- |" * (len(COLUMNS) + 3)]
    for row in rows:
        cells = [f"{row['summary'][c][0]:.3f} ± {row['summary'][c][1]:.3f}" if c in row["summary"] else ""
                 for c in COLUMNS]
        tag = ", ".join(chr(ord("A") + rulers.index(r)) for r in row["ruler"])
        lines.append(f"| {row['row']} | {len(row['per_seed'])} | " + " | ".join(cells) + f" | {tag} |")
    lines += ["", "classifiers: " + "; ".join(f"{chr(ord('A') + i)} = {r[:12]}" for i, r in enumerate(rulers))]
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python bench/gael_table.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    (args.out / "table.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
