"""Sample quality along training, from a run's kept checkpoints: when has a model converged?

    python bench/convergence_curve.py runs/gan-s0 runs/gan-s1 --every 2000 --n 5000 \
        --label "GAN=runs/gan-s0,runs/gan-s1" --out docs/results/convergence-mnist

For every kept checkpoint whose step is a multiple of ``--every`` (and the last, once the run has finished; a
run still training can be scored so far and again later with ``--reuse``, which keeps every point OUT.json has,
also those of checkpoints pruned or run folders gone since, and scores only the rest; a run trained anew under
the same name is told by its weights' SHA-256, recorded with each point, and scored afresh, or by ``--forget RUN``
for points recorded without it): ``n`` samples at scale 1
(fixed latents per run, seed 0), scored the way ``gmgan sweep`` scores one scale (FID, precision, recall,
coverage and q in the evaluation classifier's features, d_intra / d, the Inception Score, class accuracy for
class-conditional runs, component purity for mixtures). Writes OUT.json (every point, the command) and OUT.png
(``--metrics`` against epochs, by default FID, recall, q and component purity: the mean over each label's runs
with their standard deviation as a band), and, per label, the best value each run reached over its scored
checkpoints (``--best``, by default the lowest FID and the highest Inception Score: what papers/002's Table III
reports), as mean ± sample std over the label's runs with the epochs where the runs reached it.

Curves recorded earlier can stand beside new ones without their run folders (which need not outlive the machine
that trained them): ``--include OLD.json`` adds OLD's labels with their points as recorded, and is refused when
OLD was measured in another evaluation classifier than the new points (the weights' SHA-256 in each file's
``extractors``), since FID and the rest are only comparable in one. ``--until STEP`` keeps the points up to STEP
of every run, new and included (the plot, the best-over-training table and the scoring), so that models trained
for different lengths are compared over the same length; ``--at STEP,...`` adds a table of every label's scores at
each of those steps (mean ± sample std over the runs that reached it):

    python bench/convergence_curve.py runs/half-s0 runs/half-s1 --label "half=runs/half-s0,runs/half-s1" \
        --include docs/results/convergence-table3.json --until 12000 --at 6000,12000 --out docs/results/half
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import statistics
import sys
from pathlib import Path

import torch

from gmgan import checkpoint as ckpt
from gmgan.evaluate import metrics as M
from gmgan.evaluate.run import EvalOptions, Evaluator, record_extractor
from gmgan.train import load_run_config
from gmgan.viz import parse_groups, save_group_curves

METRICS = ("fid", "precision", "recall", "coverage", "q", "d_intra", "d", "is", "class_accuracy")
LOWER_IS_BETTER = {"fid"}


def weights_sha256(checkpoint: Path) -> str:
    """What a point was scored from: the SHA-256 of its checkpoint's weights (a retrained run's differ)."""
    return hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()


def curve(run: Path, opts: EvalOptions, every: int, known: list[dict] | None = None,
          extractors: dict[str, dict] | None = None, until: int | None = None) -> list[dict]:
    """The run's points: those ``known`` (recorded earlier, kept as they are, also where their checkpoint or the
    whole run folder is gone since, unless a kept checkpoint shows the run was trained anew) and a new one for
    every other kept checkpoint on the ``every`` grid."""
    done = {int(p["step"]): p for p in known or []}
    kept = ckpt.list_checkpoints(run)
    finished = bool(kept) and ckpt.checkpoint_step(kept[-1]) >= load_run_config(run).train.steps
    on_disk = {ckpt.checkpoint_step(path): path for path in kept}
    retrained = [step for step, p in done.items() if step in on_disk
                 and p.get("weights_sha256", "") not in ("", weights_sha256(on_disk[step]))]
    if retrained:  # the same name, another training: its recorded points belong to a run that is gone
        print(f"{run}: the checkpoint at step {retrained[0]} is not the one its recorded point was scored from "
              f"(retrained since?); its {len(done)} recorded points are dropped and it is scored anew", flush=True)
        done = {}
    ev: Evaluator | None = None
    points = list(done.values())
    gone = len(set(done) - set(on_disk))
    if gone:
        print(f"{run}: {gone} recorded point(s) kept whose checkpoints are no longer there", flush=True)
    for step, path in on_disk.items():
        if until is not None and step > until:
            break
        if step % every and not (finished and path == kept[-1]):
            continue
        if step in done:
            continue
        if ev is None:
            ev = Evaluator(run, EvalOptions(**{**opts.__dict__, "step": step}), progress=False)
            if extractors is not None:  # the classifier the points are measured in
                record_extractor(extractors, ev)
        else:
            ev.use_checkpoint(path)
        x, k = ev.samples(opts.n, 1.0, opts.seed)
        m = ev.score(x, k, full=False, seed=opts.seed)
        point = {"step": step, "epochs": round(ev.cfg.train.epochs(step, len(ev.train)), 2),
                 "weights_sha256": weights_sha256(path)}
        point.update({key: m[key] if key != "class_accuracy" else m[key]["accuracy"]
                      for key in METRICS if m.get(key) is not None})
        if ev.method.prior.K > 1 and ev.num_classes > 1:
            classes = ev.classifier.extract(x)[1].argmax(1)
            point["mean_purity"] = float(M.component_purity(k, classes, ev.method.prior.K, ev.num_classes)["mean"])
        print(run, {key: round(v, 4) if isinstance(v, float) else v for key, v in point.items()
                    if key != "weights_sha256"}, flush=True)
        points.append(point)
    return sorted(points, key=lambda p: int(p["step"]))


def _mean_std(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single value rather than an error)."""
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def _extractors(record: dict) -> dict[str, dict]:
    """The evaluation classifiers an OUT.json was scored in, keyed by their weights' SHA-256."""
    return {e.get("weights_sha256", "toy"): e for e in record.get("extractors", [])}


def best_over_training(results: dict[str, list[dict]], groups: dict[str, list[str]],
                       metrics: list[str]) -> dict[str, dict[str, dict]]:
    """Per group and metric: each run's best point (lowest FID, highest anything else), and their mean ± std."""
    table: dict[str, dict[str, dict]] = {}
    for name, members in groups.items():
        for metric in metrics:
            pick = min if metric in LOWER_IS_BETTER else max
            per_run = []
            for run in members:
                scored = [p for p in results.get(run, []) if metric in p]
                if scored:
                    b = pick(scored, key=lambda p, m=metric: p[m])
                    per_run.append({"run": run, "value": b[metric], "step": b["step"], "epochs": b["epochs"]})
            if per_run:
                values = [r["value"] for r in per_run]
                table.setdefault(name, {})[metric] = {**_mean_std(values), "runs": per_run}
    return table


AT_METRICS = ("fid", "is", "precision", "recall", "coverage", "q", "d", "mean_purity")


def until_step(results: dict[str, list[dict]], until: int | None) -> dict[str, list[dict]]:
    """Every run's points up to step ``until`` (all of them when None)."""
    if until is None:
        return results
    return {run: [p for p in points if p["step"] <= until] for run, points in results.items()}


def include(paths: list[Path], groups: dict[str, list[str]], results: dict[str, list[dict]],
            extractors: dict[str, dict]) -> tuple[dict[str, list[str]], dict[str, list[dict]], dict[str, dict]]:
    """Add the labels and points of earlier OUT.json files to ``groups`` and ``results`` (returned as new dicts).

    Refused (ValueError, naming the file and the fix) when a label or a run is already there, or when a file's
    points were measured in another evaluation classifier than ``extractors`` (the new points' ones); with no new
    points the first file's classifier becomes the one the rest must share.
    """
    groups, results, extractors = dict(groups), dict(results), dict(extractors)
    for path in paths:
        old = json.loads(path.read_text())
        theirs = _extractors(old)
        if extractors and theirs and set(theirs) != set(extractors):
            raise ValueError(f"{path} was scored in another evaluation classifier ({', '.join(sorted(theirs))}) "
                             f"than the other points ({', '.join(sorted(extractors))}); its FID and the rest are "
                             "not comparable with them. Score all runs in one classifier, or leave --include out.")
        extractors.update(theirs)
        for name, members in old["groups"].items():
            if name in groups:
                raise ValueError(f"label {name!r} of {path} is already given; rename one of them.")
            clash = [m for m in members if m in results]
            if clash:
                raise ValueError(f"{path} holds points of {', '.join(clash)}, which are also given; "
                                 "pass each run once.")
            groups[name] = list(members)
            results.update({m: old["runs"].get(m, []) for m in members})
    return groups, results, extractors


def values_at(results: dict[str, list[dict]], groups: dict[str, list[str]], step: int,
              metrics: tuple[str, ...] = AT_METRICS) -> dict[str, dict[str, dict]]:
    """Per group and metric: the mean ± sample std at ``step`` over the group's runs that have a point there."""
    table: dict[str, dict[str, dict]] = {}
    for name, members in groups.items():
        rows = [p for run in members for p in results.get(run, []) if p["step"] == step]
        for metric in metrics:
            values = [p[metric] for p in rows if metric in p]
            if values:
                table.setdefault(name, {})[metric] = {**_mean_std(values), "n": len(values),
                                                      "epochs": rows[0]["epochs"]}
    return table


def at_lines(table: dict[str, dict[str, dict]], step: int) -> list[str]:
    metrics = [m for m in AT_METRICS if any(m in row for row in table.values())]
    lines = [f"| at step {step} | runs | epochs | " + " | ".join(metrics) + " |", "|" + " --- |" * (len(metrics) + 3)]
    for name, row in table.items():
        first = next(iter(row.values()))
        cells = [f"{row[m]['mean']:.3f} ± {row[m]['std']:.3f}" if m in row else "" for m in metrics]
        lines.append(f"| {name} | {first['n']} | {first['epochs']} | " + " | ".join(cells) + " |")
    return lines


def best_lines(table: dict[str, dict[str, dict]], metrics: list[str]) -> list[str]:
    head = " | ".join(f"{'lowest' if m in LOWER_IS_BETTER else 'highest'} {m} (epochs)" for m in metrics)
    lines = [f"| model | runs | {head} |", "|" + " --- |" * (len(metrics) + 2)]
    for name, row in table.items():
        cells = []
        for m in metrics:
            if m not in row:
                cells.append("")
                continue
            r = row[m]
            cells.append(f"{r['mean']:.3f} ± {r['std']:.3f} ({'/'.join(str(x['epochs']) for x in r['runs'])})")
        n = max(len(r["runs"]) for r in row.values())
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--label", action="append", help="LABEL=RUN,RUN,... groups for the plot (default: one "
                        "group per run)")
    parser.add_argument("--n", type=int, default=5000, help="generated samples per checkpoint (default 5000)")
    parser.add_argument("--pairs", type=int, default=10_000, help="MS-SSIM pairs for d_intra (default 10000)")
    parser.add_argument("--every", type=int, default=1000, help="score checkpoints whose step is a multiple of "
                        "this, and the last of a finished run (default 1000)")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="docs/results/convergence")
    parser.add_argument("--reuse", action="store_true", help="keep the points OUT.json already has, also those "
                        "whose checkpoints or run folders are gone since, and score only the new checkpoints")
    parser.add_argument("--forget", action="append", type=Path, default=[], metavar="RUN",
                        help="with --reuse: drop RUN's recorded points and score it anew (a run trained again "
                        "under the same name, whose old points carry no weights fingerprint); repeatable")
    parser.add_argument("--metrics", default="fid,recall,q,mean_purity",
                        help="comma-separated panels of OUT.png (default fid,recall,q,mean_purity; also precision, "
                        "coverage, d_intra, d, is, class_accuracy)")
    parser.add_argument("--include", action="append", type=Path, default=[], metavar="JSON",
                        help="an earlier OUT.json whose labels and points join the new ones as recorded "
                        "(refused when scored in another evaluation classifier); repeatable")
    parser.add_argument("--until", type=int, help="only points up to this step, for every run")
    parser.add_argument("--at", help="also tabulate each label's scores at these steps (comma-separated)")
    parser.add_argument("--best", default="fid,is", help="comma-separated metrics whose best value over training "
                        "is tabulated per label (default fid,is: lowest FID, highest Inception Score)")
    args = parser.parse_args()
    known_metrics = set(METRICS) | {"mean_purity"}
    for option in ("metrics", "best"):
        unknown = [m for m in getattr(args, option).split(",") if m not in known_metrics]
        if unknown:
            parser.error(f"--{option}: unknown metric {', '.join(unknown)}; choose from "
                         f"{', '.join(sorted(known_metrics))}")
    opts = EvalOptions(n=args.n, pairs=args.pairs, real_baseline=False, data_dir=args.data_dir)
    out = Path(args.out)
    known: dict[str, list[dict]] = {}
    extractors: dict[str, dict] = {}
    if args.reuse and out.with_suffix(".json").is_file():
        old = json.loads(out.with_suffix(".json").read_text())
        if old.get("n") == args.n:
            known = {run: points for run, points in old["runs"].items() if Path(run) not in args.forget}
            extractors = _extractors(old)
    stray = [str(run) for run in args.forget if run not in args.runs]
    if stray:
        parser.error(f"--forget {', '.join(stray)}: not among the runs given; pass the run to score anew as well")
    missing = [str(p) for p in args.include if not p.is_file()]
    if missing:
        parser.error(f"--include: no file {', '.join(missing)}; give the JSON an earlier run of this script wrote")
    groups = parse_groups(args.label or [f"{run.name}={run}" for run in args.runs])
    try:  # refuse a clash (or a classifier other than the reused points') before any scoring work
        include(args.include, groups, {str(run): [] for run in args.runs}, extractors)
    except ValueError as e:
        parser.error(f"--include: {e}")
    absent = [str(run) for run in args.runs if not run.is_dir() and not known.get(str(run))]
    if absent:
        parser.error(f"no run folder {', '.join(absent)}, and no points recorded for it (--reuse keeps those of "
                     f"{out.with_suffix('.json')}); check the path")
    unverified = [str(run) for run in args.runs if run not in args.forget
                  and {int(p["step"]) for p in known.get(str(run), []) if "weights_sha256" not in p}
                  & {ckpt.checkpoint_step(path) for path in ckpt.list_checkpoints(run)}]
    if unverified:  # points recorded before fingerprints, and checkpoints at their steps again: the same training?
        parser.error(f"{', '.join(unverified)}: points recorded without a weights fingerprint, and the folder has "
                     "checkpoints at their steps again, so whether it is the same training cannot be told; "
                     "pass --forget RUN to score it anew (the same scores if it is the same training)")
    results = {str(run): curve(run, opts, args.every, known.get(str(run)), extractors, args.until)
               for run in args.runs}
    try:  # again: the new points' classifier is known only now
        groups, results, extractors = include(args.include, groups, results, extractors)
    except ValueError as e:
        parser.error(f"--include: {e}")
    results = until_step(results, args.until)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/convergence_curve.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    best = best_over_training(results, groups, args.best.split(","))
    record = {"command": command, "n": args.n, "pairs": args.pairs, "groups": groups, "runs": results, "best": best,
              "extractors": list(extractors.values())}
    at_steps = [int(step) for step in args.at.split(",")] if args.at else []
    if at_steps:
        record["at"] = {str(step): values_at(results, groups, step) for step in at_steps}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    save_group_curves(results, groups, args.metrics.split(","), out.with_suffix(".png"))
    print("\n".join(["best over training:", *best_lines(best, args.best.split(","))]))
    for step in at_steps:
        print("\n".join([f"at step {step}:", *at_lines(record["at"][str(step)], step)]))
    print(f"written {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
