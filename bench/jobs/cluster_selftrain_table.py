"""Collect the rows of bench/jobs/cluster_selftrain.sh (runs/cluster-selftrain/ROW/cluster.json) into
docs/results/cluster-selftrain.json and print the markdown table: test ACC / NMI / ARI, mean ± std over the seeds
(best seed), before and after the self-training stage, the label-free pick, the consensus, and wall time.

    python bench/jobs/cluster_selftrain_table.py [--rows DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LABELS = {"gmgan": "GM-GAN Alg. 2", "pcagmm": "GMM (PCA 50)", "pcagmm12": "GMM (PCA 50), seeds 1-2",
          "kmeans": "k-means (pixels)"}


def fmt(m: dict) -> str:
    return f"{m['mean']:.3f} ± {m['std']:.3f} ({m['best']:.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=Path, default=Path("runs/cluster-selftrain"))
    ap.add_argument("--out", type=Path, default=Path("docs/results/cluster-selftrain.json"))
    args = ap.parse_args()
    table: dict = {"command": "bench/jobs/cluster_selftrain.sh RUN && python bench/jobs/cluster_selftrain_table.py",
                   "rows": {}}
    lines = ["| start | stage | ACC | NMI | ARI | label-free pick: ACC | wall s per seed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, label in LABELS.items():
        path = args.rows / key / "cluster.json"
        if not path.is_file():
            continue
        c = json.loads(path.read_text())
        before, after = c["summary_before_self_train"]["test"], c["summary"]["test"]
        picked = c["selected_seed"]
        seeds = c["seeds"]
        walls = [seeds[s]["fit_wall_seconds"] for s in seeds]
        stage = {s: {k: seeds[s]["fit"]["self_train"].get(k) for k in ("stop_reason", "rounds", "chosen_round",
                                                                        "seconds", "criterion")} for s in seeds}
        row = {"before": before, "after": after, "selected_seed": picked,
               "selected_acc": c["selected"]["test"]["acc"],
               "best_seed_by_labels": max(after["acc"]["per_seed"], key=after["acc"]["per_seed"].get),
               "wall_seconds_per_seed": walls, "stage": stage,
               "consensus": (c.get("consensus") or {}).get("scores", {}).get("test")}
        table["rows"][label] = row
        lines.append(f"| {label} | - | {fmt(before['acc'])} | {fmt(before['nmi'])} | {fmt(before['ari'])} | | |")
        lines.append(f"| {label} | + self-training | {fmt(after['acc'])} | {fmt(after['nmi'])} | {fmt(after['ari'])} "
                     f"| {row['selected_acc']:.3f} (seed {picked}) | {sum(walls) / len(walls):.0f} |")
        if row["consensus"]:
            cs = row["consensus"]
            lines.append(f"| {label} | + self-training, consensus of the seeds | {cs['acc']:.3f} | {cs['nmi']:.3f} "
                         f"| {cs['ari']:.3f} | | |")
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
