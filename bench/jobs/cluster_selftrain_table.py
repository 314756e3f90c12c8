"""Collect the rows of bench/jobs/cluster_selftrain.sh (runs/cluster-selftrain/ROW/cluster.json) into
docs/results/cluster-selftrain.json and print the markdown table: test ACC / NMI / ARI, mean ± std over the seeds
(best seed), before and after the self-training stage (with and without over-clustering), the label-free pick, the
consensus, and wall time. With --mnist-json the same rows also go into the complete clustering table
(docs/results/cluster-mnist.json, beside the rows of bench/cluster_mnist.py, which are kept), each with its command
(the data folder as DIR), per-seed scores, the seed the label-free criterion picked, and the wall seconds per seed
split into the route and the stage (plus the GAN's training, for GM-GAN rows, read from its run folder).

The complete table also gets, per start with both rows measured, a row computed from the two: seed by seed, the
plain or the over-clustered stage, whichever ended with the higher label-free criterion (what ``gmgan cluster
--over-cluster 3 --over-cluster-pick`` does in one run); and ``--probes`` summarises bench/overcluster_probe.py
results (the one-seed comparison of merge rules) under over_cluster_probes.

    python bench/jobs/cluster_selftrain_table.py [--rows DIR] [--out FILE.json] [--mnist-json FILE.json]
        [--probes runs/overcluster-probe/*.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LABELS = {"gmgan": "GM-GAN Alg. 2", "gmgan-oc": "GM-GAN Alg. 2, over-clustering",
          "pcagmm": "GMM (PCA 50)", "pcagmm12": "GMM (PCA 50), seeds 1-2",
          "pcagmm-oc": "GMM (PCA 50), over-clustering",
          "kmeans": "k-means (pixels)", "kmeans-oc": "k-means (pixels), over-clustering"}
# rows of the complete table that join the seeds of several folders (seed 0 ran first, seeds 1-2 later)
JOINED = {"GMM (PCA 50)": ("pcagmm", "pcagmm12")}
# the commands of bench/jobs/cluster_selftrain.sh, as recorded ({run}: the GM-GAN run of seed 0, {seeds}: the seeds)
COMMANDS = {
    "gmgan": "gmgan cluster {run} --seeds {seeds} --splits test --self-train --consensus --data-dir DIR",
    "gmgan-oc": "gmgan cluster {run} --seeds {seeds} --splits test --self-train --over-cluster 3 --consensus "
                "--data-dir DIR",
    "pcagmm": "gmgan cluster --data-dir DIR --method pca-gmm --seeds {seeds} --splits test --self-train",
    "pcagmm-oc": "gmgan cluster --data-dir DIR --method pca-gmm --seeds {seeds} --splits test --self-train "
                 "--over-cluster 3",
    "kmeans": "gmgan cluster --data-dir DIR --method kmeans --seeds {seeds} --splits test --self-train",
    "kmeans-oc": "gmgan cluster --data-dir DIR --method kmeans --seeds {seeds} --splits test --self-train "
                 "--over-cluster 3",
}
COMMANDS["pcagmm12"] = COMMANDS["pcagmm"]


def fmt(m: dict) -> str:
    return f"{m['mean']:.3f} ± {m['std']:.3f} ({m['best']:.3f})"


def gan_seconds(run: str | None, seed: str) -> float | None:
    """Wall seconds of a GM-GAN seed's training: its last checkpoint's time minus its config's (written at start)."""
    if not run:
        return None
    folder = Path(run) if seed == "0" else Path(f"{run}-s{seed}")
    ckpts = sorted((folder / "checkpoints").glob("step-*")) if folder.is_dir() else []
    if not ckpts or not (folder / "config.yaml").is_file():
        return None
    return round(ckpts[-1].stat().st_mtime - (folder / "config.yaml").stat().st_mtime, 1)


def summarize(per_seed: dict) -> dict:
    """{metric: {per_seed, mean, std (ddof 1), best}} from {seed: {metric: value}} (as gmgan.cluster.summarize)."""
    import statistics

    out: dict = {}
    for metric in next(iter(per_seed.values())):
        values = {s: m[metric] for s, m in per_seed.items()}
        v = list(values.values())
        out[metric] = {"per_seed": values, "mean": statistics.fmean(v),
                       "std": statistics.stdev(v) if len(v) > 1 else 0.0, "best": max(v)}
    return out


def seed_records(key: str, c: dict) -> dict:
    """Per seed: before/after test scores, the stage's label-free criterion and record, and the seconds."""
    out = {}
    run = c["protocol"].get("run")
    for s, rec in c["seeds"].items():
        st = rec["fit"]["self_train"]
        stage = {k: st.get(k) for k in ("stop_reason", "rounds", "chosen_round", "seconds", "criterion")}
        oc = st.get("over_cluster")
        if oc:
            stage["over_cluster"] = {k: oc.get(k) for k in ("K_over", "merge", "fine_stop_reason", "fine_rounds",
                                                            "fine_seconds", "groups", "group_sizes", "seconds")}
        out[s] = {"before": rec["before_self_train"]["test"], "after": c["summary"]["test"],
                  "stage": stage, "wall": rec["fit_wall_seconds"], "cpu": rec.get("fit_cpu_seconds"),
                  "seconds": {"gan": gan_seconds(run, s), "route": round(rec["fit_wall_seconds"] -
                                                                         (stage["seconds"] or 0), 1),
                              "stage": stage["seconds"]}}
        out[s]["after"] = {m: v["per_seed"][s] for m, v in c["summary"]["test"].items()}
    return out


def mnist_row(keys: tuple[str, ...], found: dict) -> dict:
    """One row of the complete table from the seeds of one or more folders; the seed is picked by the stage's
    label-free criterion over all of them."""
    seeds: dict = {}
    for key in keys:
        seeds.update(seed_records(key, found[key]))
    before = summarize({s: r["before"] for s, r in seeds.items()})
    after = summarize({s: r["after"] for s, r in seeds.items()})
    crit = {s: r["stage"]["criterion"] for s, r in seeds.items()}
    picked = max(crit, key=lambda s: crit[s] if crit[s] is not None else -1.0)
    c0 = found[keys[0]]
    run = c0["protocol"].get("run")
    commands = [COMMANDS[k].format(run=run, seeds=",".join(map(str, found[k]["protocol"]["seeds"]))) for k in keys]
    return {"command": commands[0] if len(commands) == 1 else commands,
            "summary": {"test": after}, "summary_before_self_train": {"test": before},
            "fit_wall_seconds": {s: r["wall"] for s, r in seeds.items()},
            "cpu_seconds": {s: r["cpu"] for s, r in seeds.items()},
            "seconds_per_seed": {s: r["seconds"] for s, r in seeds.items()},
            "selected_seed": int(picked), "selected": {"test": seeds[picked]["after"]},
            "selection": "chosen without labels: the stage's criterion (augmentation consistency x balance of "
                         "cluster sizes, held-out images)",
            "best_seed_by_labels": int(max(after["acc"]["per_seed"], key=after["acc"]["per_seed"].get)),
            "stage": {s: r["stage"] for s, r in seeds.items()},
            "consensus": c0.get("consensus") if len(keys) == 1 else None,
            "protocol": c0["protocol"]}


PAIRS = (("GM-GAN Alg. 2", "GM-GAN Alg. 2, over-clustering"), ("GMM (PCA 50)", "GMM (PCA 50), over-clustering"),
         ("k-means (pixels)", "k-means (pixels), over-clustering"))


def pick_row(plain: dict, over: dict) -> dict:
    """Per seed, whichever of two rows' stages ended with the higher label-free criterion (computed from both rows'
    results: the cost is both stages', the sum of their seconds)."""
    seeds = sorted(set(plain["stage"]) & set(over["stage"]), key=int)
    per_seed, chosen, seconds = {}, {}, {}
    for s in seeds:
        cp, co = plain["stage"][s]["criterion"] or -1.0, over["stage"][s]["criterion"] or -1.0
        src = over if co > cp else plain
        chosen[s] = "over-clustering" if src is over else "plain"
        per_seed[s] = {m: v["per_seed"][s] for m, v in src["summary"]["test"].items()}
        seconds[s] = round(plain["fit_wall_seconds"][s] + over["fit_wall_seconds"][s], 1)
    after = summarize(per_seed)
    crit = {s: max(plain["stage"][s]["criterion"] or -1.0, over["stage"][s]["criterion"] or -1.0) for s in seeds}
    picked = max(crit, key=crit.get)
    return {"command": [plain["command"], over["command"]],
            "note": "computed from the two rows above, seed by seed: the stage (plain or over-clustered) with the "
                    "higher label-free criterion is kept; wall seconds are the sum of both",
            "summary": {"test": after}, "chosen_per_seed": chosen, "fit_wall_seconds": seconds,
            "selected_seed": int(picked), "selected": {"test": per_seed[picked]},
            "best_seed_by_labels": int(max(after["acc"]["per_seed"], key=after["acc"]["per_seed"].get))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=Path, default=Path("runs/cluster-selftrain"))
    ap.add_argument("--out", type=Path, default=Path("docs/results/cluster-selftrain.json"))
    ap.add_argument("--mnist-json", type=Path, default=None, help="also add the rows to this clustering table "
                    "(docs/results/cluster-mnist.json), keeping its other rows")
    ap.add_argument("--probes", type=Path, nargs="*", default=[], help="with --mnist-json: bench/overcluster_probe.py "
                    "results (one seed each) to summarise there, under over_cluster_probes")
    args = ap.parse_args()
    table: dict = {"command": "bench/jobs/cluster_selftrain.sh RUN && python bench/jobs/cluster_selftrain_table.py",
                   "rows": {}}
    lines = ["| start | stage | ACC | NMI | ARI | label-free pick: ACC | wall s per seed (route + stage) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    found: dict = {}
    for key, label in LABELS.items():
        path = args.rows / key / "cluster.json"
        if not path.is_file():
            continue
        c = found[key] = json.loads(path.read_text())
        before, after = c["summary_before_self_train"]["test"], c["summary"]["test"]
        picked = c["selected_seed"]
        seeds = c["seeds"]
        walls = [seeds[s]["fit_wall_seconds"] for s in seeds]
        recs = seed_records(key, c)
        row = {"before": before, "after": after, "selected_seed": picked,
               "selected_acc": c["selected"]["test"]["acc"],
               "best_seed_by_labels": max(after["acc"]["per_seed"], key=after["acc"]["per_seed"].get),
               "wall_seconds_per_seed": walls, "seconds_per_seed": {s: r["seconds"] for s, r in recs.items()},
               "stage": {s: r["stage"] for s, r in recs.items()},
               "consensus": (c.get("consensus") or {}).get("scores", {}).get("test")}
        table["rows"][label] = row
        lines.append(f"| {label} | - | {fmt(before['acc'])} | {fmt(before['nmi'])} | {fmt(before['ari'])} | | |")
        mean_stage = sum(r["seconds"]["stage"] or 0 for r in recs.values()) / len(recs)
        lines.append(f"| {label} | + self-training | {fmt(after['acc'])} | {fmt(after['nmi'])} | {fmt(after['ari'])} "
                     f"| {row['selected_acc']:.3f} (seed {picked}) | {sum(walls) / len(walls):.0f} "
                     f"({sum(walls) / len(walls) - mean_stage:.0f} + {mean_stage:.0f}) |")
        if row["consensus"]:
            cs = row["consensus"]
            lines.append(f"| {label} | + self-training, consensus of the seeds | {cs['acc']:.3f} | {cs['nmi']:.3f} "
                         f"| {cs['ari']:.3f} | | |")
    if args.out.is_file():  # rows of earlier calls that this one does not recompute (e.g. hand-joined ones) stay
        for label, row in json.loads(args.out.read_text()).get("rows", {}).items():
            table["rows"].setdefault(label, row)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    if args.mnist_json:
        rows: dict = {}
        joined = {k for keys in JOINED.values() for k in keys}
        for label, keys in JOINED.items():
            if all(k in found for k in keys):
                rows[label] = mnist_row(keys, found)
        for key, label in LABELS.items():
            if key in found and key not in joined:
                rows[label] = mnist_row((key,), found)
        for plain, over in PAIRS:  # per seed, the plain stage or the over-clustered one, by the stage's criterion
            if plain in rows and over in rows:
                rows[f"{plain} + self-training, plain or over-clustered by the higher criterion"] = \
                    pick_row(rows[plain], rows[over])
        full = json.loads(args.mnist_json.read_text()) if args.mnist_json.is_file() else {"routes": {}}
        full["self_training_command"] = (f"MNIST_DIR=DIR {table['command']} --mnist-json {args.mnist_json}")
        full["routes"].update({(f"{label} (ours)" if " + self-training" in label else
                                f"{label} + self-training (ours)"): row for label, row in rows.items()})
        for path in args.probes:  # which merge rule: one seed, a 20k-image subset, all test images scored
            p = json.loads(path.read_text())
            full.setdefault("over_cluster_probes", {})[path.stem] = {
                "command": p["command"], "route_test": p["route"]["test"], "factor": p["factor"],
                "train_images": p["train_images"],
                "note": "a fine_stage stop_reason 'guard: ...' means the probe ran with the guards of the stage at K "
                        "in the fine stage, since relaxed there (gmgan.selftrain.fine_stage_options)",
                "fine_stage": {k: p["fine"][k] for k in ("test_purity", "stop_reason", "rounds", "seconds")},
                "merges": {m: {"merged_test": r["test"], "after_stage_test": (r.get("final") or {}).get("test"),
                               "stage_stop": (r.get("final") or {}).get("stop_reason")}
                           for m, r in p["merges"].items()}}
        args.mnist_json.write_text(json.dumps(full, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
