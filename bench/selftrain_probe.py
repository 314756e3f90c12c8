"""Probe the label-free self-training stage (gmgan.selftrain) on MNIST, from GM-GAN runs or from a baseline.

For every run: load it (latest checkpoint, or --checkpoint), fit the classifier route (GM-GAN Algorithm 2:
1,000 generated samples per component, 1,500 classifier steps), assign the MNIST training images (init), run
the self-training stage on them, and score ACC/NMI/ARI on the test split before (the route) and after (the
stage's network), with the wall time of each part. ``--init kmeans|pca-gmm`` starts from a pixel baseline
instead of a run (fitted on --fit-images training images), to see what GM-GAN's components contribute.
Labels are read only to score.

    OMP_WAIT_POLICY=PASSIVE python bench/selftrain_probe.py --data-dir DIR \\
        --run runs/c40/k10-s0 --run runs/c40/k10-s1 --out docs/results/selftrain-probe.json
    OMP_WAIT_POLICY=PASSIVE python bench/selftrain_probe.py --data-dir DIR --init pca-gmm

Options of the stage: ``--set NAME=VALUE`` (a SelfTrainOptions field, e.g. --set max_rounds=8); ``--subset N``
self-trains on N random training images only (a quick probe; the test split is always scored whole).
Writes JSON (the command with paths as typed, relative to the repository; settings; per run the scores before
and after, seconds, the stage's history).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any


def parse_sets(items: list[str]) -> dict[str, Any]:
    from gmgan.selftrain import SelfTrainOptions

    names = {f.name for f in fields(SelfTrainOptions)}
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in names:
            raise SystemExit(f"--set {item!r}: unknown option; SelfTrainOptions has {sorted(names)}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--run", action="append", default=[], help="a trained GM-GAN run folder (repeatable)")
    ap.add_argument("--checkpoint", default=None, help="one checkpoint folder of the (single) --run")
    ap.add_argument("--init", default="route", choices=("route", "kmeans", "pca-gmm"),
                    help="route: the classifier route of each --run; kmeans / pca-gmm: a pixel baseline")
    ap.add_argument("--fit-images", type=int, default=20_000, help="training images a baseline is fitted on")
    ap.add_argument("--seed", type=int, default=0, help="seed of the route's classifier and of the stage")
    ap.add_argument("--subset", type=int, default=0, help="self-train on this many training images (0 = all)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a SelfTrainOptions field")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("docs/results/selftrain-probe.json"))
    args = ap.parse_args()

    command = ("OMP_WAIT_POLICY=PASSIVE " if os.environ.get("OMP_WAIT_POLICY") else "") + \
        "python bench/selftrain_probe.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if any(Path(a).is_absolute() for a in shlex.split(command)[2:] if not a.startswith("-")) \
            or str(Path.cwd()) in command:
        print("give paths relative to the repository: the command is recorded with the results", file=sys.stderr)
        return 2
    if args.init == "route" and not args.run:
        ap.error("--init route needs at least one --run")
    if args.checkpoint and len(args.run) != 1:
        ap.error("--checkpoint goes with exactly one --run")

    import torch

    torch.set_num_threads(args.threads)
    from gmgan.cluster import contingency, fit_baseline, fit_classifier_route, scores
    from gmgan.data import load_dataset
    from gmgan.selftrain import SelfTrainOptions, self_train

    opts = SelfTrainOptions(**parse_sets(args.set))
    opts.validate()
    train = load_dataset("mnist", args.data_dir, "train")
    test = load_dataset("mnist", args.data_dir, "test")
    idx = torch.arange(len(train))
    if args.subset:
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: args.subset]
    assert train.y is not None and test.y is not None  # MNIST is labelled; labels only score
    x, y = train.x[idx], train.y[idx]

    def score(soft: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        return {k: round(v, 5) for k, v in scores(labels.numpy(), soft.argmax(1).numpy()).items()}

    sources = args.run if args.init == "route" else [args.init]
    result: dict[str, Any] = {"command": command, "init": args.init, "seed": args.seed,
                              "train_images": len(x), "threads": args.threads, "options": asdict(opts), "runs": {}}
    for source in sources:
        rec: dict[str, Any] = {}
        t0 = time.perf_counter()
        if args.init == "route":
            from gmgan.train import load_trained

            _, method, step = load_trained(source, "cpu", checkpoint=args.checkpoint)
            route = fit_classifier_route(method, 1000, 1500, args.seed)
            rec.update({"checkpoint": args.checkpoint, "step": step, "route_info": route.info})
            K = route.K
        else:
            fit = train.x[torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
                          [: args.fit_images]]
            K = 10
            route = fit_baseline(args.init, fit, K, args.seed)
            rec["route_info"] = route.info
        init = route.assign(x)
        rec["route_seconds"] = round(time.perf_counter() - t0, 1)
        rec["before"] = {"train": score(init, y), "test": score(route.assign(test.x), test.y)}
        print(f"{source}: before: train ACC {rec['before']['train']['acc']:.4f}, test ACC "
              f"{rec['before']['test']['acc']:.4f} ({rec['route_seconds']:.0f} s)", flush=True)
        t1 = time.perf_counter()
        res = self_train(x, init, K, opts, seed=args.seed, x_eval=test.x, y_eval=test.y)
        rec["stage_seconds"] = round(time.perf_counter() - t1, 1)
        test_soft = res.assign(test.x) if res.model is not None else route.assign(test.x)
        rec["after"] = {"train": score(res.soft, y), "test": score(test_soft, test.y)}
        rec["stop_reason"], rec["rounds"] = res.info["stop_reason"], res.info["rounds"]
        rec["chosen_round"] = res.info["chosen_round"]
        rec["test_contingency_after"] = contingency(test.y.numpy(), test_soft.argmax(1).numpy()).tolist()
        rec["history"] = res.history
        print(f"{source}: after: train ACC {rec['after']['train']['acc']:.4f}, test ACC "
              f"{rec['after']['test']['acc']:.4f} NMI {rec['after']['test']['nmi']:.4f} ARI "
              f"{rec['after']['test']['ari']:.4f} ({rec['stage_seconds']:.0f} s, {rec['rounds']} rounds, "
              f"{rec['stop_reason']}, kept round {rec['chosen_round']})", flush=True)
        result["runs"][source] = rec
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")  # after every run: partial results survive
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
