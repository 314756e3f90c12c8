"""The recommended clustering pipeline's row of docs/results/cluster-mnist.json, from its runs.

The pipeline is ``gmgan cluster --data-dir DIR --out OUT`` (no --method: k-means, the over-clustered stage,
re-clustering; seeds 0,1,2). Its seeds may run as one command, or side by side as ``--seeds N --out OUT/seed-N``
and then be assembled by the one command on ``OUT/all`` after copying their ``state/`` folders there (the command
resumes every seed from its finished steps, so nothing trains twice). Per seed: the k-means start, the stage
before re-clustering (the score of the round it kept), each re-clustering round (criterion, kept, score), the
final scores, and the seconds, split into route, stage and re-clustering, from the folder where the seed trained.
Test scores are read only from the records; nothing here decides anything.

    python bench/jobs/cluster_pipeline_row.py --all runs/pipeline/all --seed-dir runs/pipeline/seed-{seed} \\
        --mnist-json docs/results/cluster-mnist.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

LABEL = "recommended pipeline (ours): k-means (pixels), over-clustered stage, re-clustering"


def chosen_eval(history: list[dict], chosen: int | None) -> float | None:
    for h in history:
        if h.get("round") == chosen and h.get("eval"):
            return h["eval"]["acc"]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", type=Path, required=True, help="the folder of the 3-seed command (its cluster.json)")
    ap.add_argument("--seed-dir", default=None, help="where each seed trained, with {seed} (for its seconds); "
                    "default: --all")
    ap.add_argument("--mnist-json", type=Path, default=None)
    ap.add_argument("--commands", nargs="*", default=["gmgan cluster --data-dir DIR --out OUT"],
                    help="the commands as run (data folder as DIR)")
    args = ap.parse_args()
    c = json.loads((args.all / "cluster.json").read_text())
    seeds: dict = {}
    for s, rec in c["seeds"].items():
        where = Path(args.seed_dir.format(seed=s)) if args.seed_dir else args.all
        trained = json.loads((where / "cluster.json").read_text())["seeds"][s]
        st = rec["fit"]["self_train"]
        before = st.get("stage_before_recluster") or {}
        rc = st.get("recluster") or {}
        stage_s = (before.get("seconds") if before else st.get("seconds")) or 0.0
        seeds[s] = {
            "kmeans_test_acc": rec["before_self_train"]["test"]["acc"],
            "stage_test_acc": chosen_eval(before.get("history", []), before.get("chosen_round")) if before else
            chosen_eval(st["history"], st["chosen_round"]),
            "recluster_rounds": [{"criterion_before": q["criterion_before"], "criterion_after": q["criterion_after"],
                                  "kept": q["kept"], "umap_gmm_seconds": q["seconds"],
                                  "stage_seconds": q["stage_seconds"],
                                  "test_acc": chosen_eval(q["stage_history"], q["stage_rounds"])}
                                 for q in rc.get("rounds", [])],
            "final_test": {m: v["per_seed"][s] for m, v in c["summary"]["test"].items()},
            "criterion": st.get("criterion"),
            "wall_seconds": trained["fit_wall_seconds"], "cpu_seconds": trained.get("fit_cpu_seconds"),
            "seconds": {"route": round(trained["fit_wall_seconds"] - stage_s - rc.get("seconds", 0), 1),
                        "stage": stage_s, "recluster": rc.get("seconds")}}
    acc = {s: r["final_test"]["acc"] for s, r in seeds.items()}
    row = {"command": args.commands, "summary": {"test": c["summary"]["test"]},
           "summary_before_self_train": c.get("summary_before_self_train"),
           "selected_seed": c["selected_seed"], "selected": c["selected"],
           "selection": c["protocol"]["selected_seed"],
           "best_seed_by_labels": int(max(acc, key=acc.get)), "per_seed": seeds, "protocol": c["protocol"]}
    if args.mnist_json:
        full = json.loads(args.mnist_json.read_text())
        full["routes"][LABEL] = row
        args.mnist_json.write_text(json.dumps(full, indent=1) + "\n")
    t = c["summary"]["test"]
    fmt = lambda m: f"{m['mean']:.3f} ± {m['std']:.3f} ({m['best']:.3f})"
    walls = [r["wall_seconds"] for r in seeds.values()]
    print(f"| k-means on pixels | + over-clustered stage + re-clustering (the one command) | {fmt(t['acc'])} | "
          f"{fmt(t['nmi'])} | {fmt(t['ari'])} | {c['selected']['test']['acc']:.3f} (seed {c['selected_seed']}) | "
          f"{statistics.fmean(walls):,.0f} |")
    for s, r in seeds.items():
        print(s, json.dumps({k: v for k, v in r.items() if k != "final_test"}), r["final_test"]["acc"])


if __name__ == "__main__":
    main()
