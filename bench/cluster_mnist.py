"""The MNIST clustering table (GM-GAN's Table 3 at our scale): baselines and the three model routes, 3 seeds.

Runs ``gmgan cluster`` for every row, then writes docs/results/cluster-mnist.json (per route: acc, nmi, ari per
seed and their mean, std and best, per split; CPU seconds per seed) and prints the markdown table.

    python bench/cluster_mnist.py --data-dir DIR --out runs/cluster \\
        --route "GM-GAN classifier=runs/gmgan:classifier" \\
        --route "GM-GAN + head=runs/info:head" \\
        --route "GM-GAN + head, refined=runs/info:head --refine 0.5"

A route is LABEL=RUN:METHOD[@SEEDS][ EXTRA gmgan cluster FLAGS]. Model rows use RUN, RUN-s1 and RUN-s2 for
seeds 0, 1, 2 (``gmgan cluster --seeds`` trains the missing ones). Baseline rows (k-means and a Gaussian
mixture on pixels and on 50 principal components) need only the data. The JSON records the command with the
paths as typed (give them relative to the repository) and refuses absolute ones.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

BASELINE_ROWS = {"k-means (pixels)": "kmeans", "GMM, diagonal (pixels)": "gmm", "k-means (PCA 50)": "pca-kmeans",
                 "GMM (PCA 50)": "pca-gmm"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/cluster"))
    ap.add_argument("--route", action="append", default=[], metavar="LABEL=RUN:METHOD[@SEEDS]")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--baselines", default=",".join(BASELINE_ROWS.values()))
    ap.add_argument("--json", type=Path, default=Path("docs/results/cluster-mnist.json"))
    ap.add_argument("--skip-existing", action="store_true", help="reuse OUT/<row>/cluster.json when present")
    ap.add_argument("--keep-rows", action="store_true", help="keep the rows of the existing JSON that this call "
                    "does not compute, each with the command that computed it")
    args = ap.parse_args()

    rows: list[tuple[str, list[str]]] = []
    for label, method in BASELINE_ROWS.items():
        if method in args.baselines.split(","):
            rows.append((label, ["--dataset", "mnist", "--method", method]))
    for spec in args.route:  # LABEL=RUN:METHOD, optionally @SEEDS (e.g. @0 for a single-seed row)
        label, _, rest = spec.partition("=")
        rest, *extra = rest.split()
        rest, _, seeds = rest.partition("@")
        run, _, method = rest.rpartition(":")
        rows.append((label, [run, "--method", method, *(["--seeds", seeds] if seeds else []), *extra]))
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    if any(Path(a).is_absolute() for a in shlex.split(command)[1:]) or str(Path.cwd()) in command:
        print("give paths relative to the repository: the command is committed with the table", file=sys.stderr)
        return 2
    result: dict = {"command": command, "seeds": args.seeds, "routes": {}}
    earlier: dict = {}
    if args.keep_rows and args.json.is_file():
        old = json.loads(args.json.read_text())
        earlier = {label: {**r, "command": r.get("command", old["command"])} for label, r in old["routes"].items()}
    for label, cmd in rows:
        out = args.out / label.replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")
        if not (args.skip_existing and (out / "cluster.json").is_file()):
            seeds = [] if "--seeds" in cmd else ["--seeds", args.seeds]
            full = [sys.executable, "-m", "gmgan", "cluster", *cmd, *seeds, "--data-dir", args.data_dir,
                    "--out", str(out)]
            print("$", " ".join(full), flush=True)
            if subprocess.call(full):
                print(f"{label}: failed", flush=True)
                continue
        c = json.loads((out / "cluster.json").read_text())
        cpu = {s: round(r["fit_cpu_seconds"], 1) for s, r in c["seeds"].items()}
        wall = {s: round(r["fit_wall_seconds"], 1) for s, r in c["seeds"].items()}
        result["routes"][label] = {"gmgan_cluster_args": cmd, "summary": c["summary"], "cpu_seconds": cpu,
                                   "fit_wall_seconds": wall, "selected_seed": c.get("selected_seed"),
                                   "selected": c.get("selected"), "protocol": c["protocol"],
                                   "summary_before_refine": c.get("summary_before_refine"),
                                   "fit": {s: r["fit"] for s, r in c["seeds"].items()},
                                   "consensus": c.get("consensus"), "command": command}
    for label, r in earlier.items():  # rows of earlier calls, after this call's
        result["routes"].setdefault(label, r)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print("\n| method | split | ACC mean +- std (best) | NMI (Eq. 13) mean +- std | ARI mean +- std | "
          "label-free pick: ACC | fit s per seed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, r in result["routes"].items():
        for split, m in r["summary"].items():
            wall = sum(r["fit_wall_seconds"].values()) / len(r["fit_wall_seconds"])
            pick = (r.get("selected") or {}).get(split, {}).get("acc")
            print(f"| {label} | {split} | {m['acc']['mean']:.4f} +- {m['acc']['std']:.4f} ({m['acc']['best']:.4f}) | "
                  f"{m['nmi']['mean']:.4f} +- {m['nmi']['std']:.4f} | {m['ari']['mean']:.4f} +- {m['ari']['std']:.4f} "
                  f"| {'-' if pick is None else format(pick, '.4f')} (seed {r.get('selected_seed')}) | {wall:.0f} |")
        if r.get("consensus"):
            for split, m in r["consensus"]["scores"].items():
                print(f"| {label}, consensus of the seeds (ours) | {split} | {m['acc']:.4f} | {m['nmi']:.4f} | "
                      f"{m['ari']:.4f} | - | - |")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
