"""Sample quality along training, from a run's kept checkpoints: when has a model converged?

    python bench/convergence_curve.py runs/gan-s0 runs/gan-s1 --every 2000 --n 5000 \
        --label "GAN=runs/gan-s0,runs/gan-s1" --out docs/results/convergence-mnist

For every kept checkpoint whose step is a multiple of ``--every`` (and the last, once the run has finished; a
run still training can be scored so far and again later with ``--reuse``): ``n`` samples at scale 1
(fixed latents per run, seed 0), scored the way ``gmgan sweep`` scores one scale (FID, precision, recall,
coverage and q in the evaluation classifier's features, d_intra / d, the Inception Score, class accuracy for
class-conditional runs, component purity for mixtures). Writes OUT.json (every point, the command) and OUT.png
(FID, recall and q against epochs: the mean over each label's runs with their standard deviation as a band).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from gmgan import checkpoint as ckpt
from gmgan.evaluate import metrics as M
from gmgan.evaluate.run import EvalOptions, Evaluator, record_extractor
from gmgan.train import load_run_config
from gmgan.viz import parse_groups, save_group_curves

METRICS = ("fid", "precision", "recall", "coverage", "q", "d_intra", "d", "is", "class_accuracy")


def curve(run: Path, opts: EvalOptions, every: int, known: list[dict] | None = None,
          extractors: dict[str, dict] | None = None) -> list[dict]:
    done = {int(p["step"]): p for p in known or []}
    kept = ckpt.list_checkpoints(run)
    finished = bool(kept) and ckpt.checkpoint_step(kept[-1]) >= load_run_config(run).train.steps
    ev: Evaluator | None = None
    points = []
    for path in kept:
        step = ckpt.checkpoint_step(path)
        if step % every and not (finished and path == kept[-1]):
            continue
        if step in done:
            points.append(done[step])
            continue
        if ev is None:
            ev = Evaluator(run, EvalOptions(**{**opts.__dict__, "step": step}), progress=False)
            if extractors is not None:  # the classifier the points are measured in
                record_extractor(extractors, ev)
        else:
            ev.use_checkpoint(path)
        x, k = ev.samples(opts.n, 1.0, opts.seed)
        m = ev.score(x, k, full=False, seed=opts.seed)
        point = {"step": step, "epochs": round(ev.cfg.train.epochs(step, len(ev.train)), 2)}
        point.update({key: m[key] if key != "class_accuracy" else m[key]["accuracy"]
                      for key in METRICS if m.get(key) is not None})
        if ev.method.prior.K > 1 and ev.num_classes > 1:
            classes = ev.classifier.extract(x)[1].argmax(1)
            point["mean_purity"] = float(M.component_purity(k, classes, ev.method.prior.K, ev.num_classes)["mean"])
        print(run, {key: round(v, 4) if isinstance(v, float) else v for key, v in point.items()}, flush=True)
        points.append(point)
    return points


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
    parser.add_argument("--reuse", action="store_true", help="keep the points OUT.json already has")
    args = parser.parse_args()
    opts = EvalOptions(n=args.n, pairs=args.pairs, real_baseline=False, data_dir=args.data_dir)
    out = Path(args.out)
    known: dict[str, list[dict]] = {}
    extractors: dict[str, dict] = {}
    if args.reuse and out.with_suffix(".json").is_file():
        old = json.loads(out.with_suffix(".json").read_text())
        if old.get("n") == args.n:
            known = old["runs"]
            extractors = {e.get("weights_sha256", "toy"): e for e in old.get("extractors", [])}
    results = {str(run): curve(run, opts, args.every, known.get(str(run)), extractors) for run in args.runs}
    groups = parse_groups(args.label or [f"{run.name}={run}" for run in args.runs])
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/convergence_curve.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out.with_suffix(".json").write_text(json.dumps({"command": command, "n": args.n, "pairs": args.pairs,
                                                    "groups": groups, "runs": results,
                                                    "extractors": list(extractors.values())}, indent=1) + "\n")
    save_group_curves(results, groups, ("fid", "recall", "q", "mean_purity"), out.with_suffix(".png"))
    print(f"written {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
