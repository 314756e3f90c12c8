"""Probe over-clustering for the self-training stage (gmgan.selftrain.self_train_over) on MNIST: which merge rule.

From one start (a GM-GAN run's classifier route, or a pixel baseline): split its K clusters into factor x K
(k-means in PCA space), self-train at K_over once, then merge the fine clusters into K by every rule asked for
(coassign, features, centroids) and score each merged assignment on the test split; with --final, run the stage at
K from each merge too. Labels are read only to score (and for the fine clusters' purity, also only reported).

    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 python bench/overcluster_probe.py --data-dir DIR --init pca-gmm \\
        --seed 1 --subset 20000 --out runs/overcluster-probe/pcagmm-s1.json

Options: ``--set NAME=VALUE`` (a SelfTrainOptions field, both stages); ``--factor F``; ``--fine-rounds R``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from selftrain_probe import parse_sets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--run", default=None, help="a trained GM-GAN run (with --init route)")
    ap.add_argument("--init", default="route", choices=("route", "kmeans", "pca-gmm"))
    ap.add_argument("--fit-images", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subset", type=int, default=0, help="self-train on this many training images (0 = all)")
    ap.add_argument("--factor", type=int, default=3)
    ap.add_argument("--fine-rounds", type=int, default=0)
    ap.add_argument("--merges", default="coassign,features,centroids")
    ap.add_argument("--final", action="store_true", help="also run the stage at K from each merge")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    argv = ["DIR" if a == args.data_dir else a for a in sys.argv[1:]]  # the data folder is recorded as DIR
    command = ("OMP_WAIT_POLICY=PASSIVE " if os.environ.get("OMP_WAIT_POLICY") else "") + \
        "python bench/overcluster_probe.py " + " ".join(shlex.quote(a) for a in argv)
    if str(Path.cwd()) in command or any(Path(a).is_absolute() for a in argv):
        print("give paths relative to the repository: the command is recorded with the results", file=sys.stderr)
        return 2

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from gmgan.cluster import contingency, fit_baseline, fit_classifier_route, scores
    from gmgan.data import load_dataset
    from gmgan.selftrain import (
        OverClusterOptions,
        SelfTrainOptions,
        fine_stage_options,
        merge_fine_clusters,
        self_train,
        split_clusters,
    )

    opts = SelfTrainOptions(**parse_sets(args.set))
    opts.validate()
    train = load_dataset("mnist", args.data_dir, "train")
    test = load_dataset("mnist", args.data_dir, "test")
    assert train.y is not None and test.y is not None
    idx = torch.arange(len(train))
    if args.subset:
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: args.subset]
    x, y = train.x[idx], train.y[idx]

    def score(soft: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        return {k: round(v, 5) for k, v in scores(labels.numpy(), soft.argmax(1).numpy()).items()}

    def purity(soft: torch.Tensor, labels: torch.Tensor) -> float:
        table = contingency(labels.numpy(), soft.argmax(1).numpy())
        return round(float(table.max(1).sum() / table.sum()), 5)

    rec: dict[str, Any] = {"command": command, "seed": args.seed, "train_images": len(x), "factor": args.factor,
                           "options": asdict(opts)}
    t0 = time.perf_counter()
    if args.init == "route":
        from gmgan.train import load_trained

        _, method, _ = load_trained(args.run, "cpu")
        route = fit_classifier_route(method, 1000, 1500, args.seed)
    else:
        fit = train.x[torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: args.fit_images]]
        route = fit_baseline(args.init, fit, 10, args.seed)
    K = route.K
    init = route.assign(x)
    rec["route"] = {"test": score(route.assign(test.x), test.y), "seconds": round(time.perf_counter() - t0, 1)}
    print(f"route: test {rec['route']['test']}", flush=True)
    t1 = time.perf_counter()
    torch.manual_seed(args.seed)
    fine_init = split_clusters(x, init, args.factor, args.seed)
    M = args.factor * K
    rec["split"] = {"train_purity": purity(fine_init, y), "seconds": round(time.perf_counter() - t1, 1)}
    fo = fine_stage_options(opts, OverClusterOptions(factor=args.factor, fine_rounds=args.fine_rounds))
    fine = self_train(x, fine_init, M, fo, seed=args.seed)
    assert fine.model is not None
    fine_test = fine.assign(test.x)
    rec["fine"] = {"test_purity": purity(fine_test, test.y), "train_purity": purity(fine.soft, y),
                   "stop_reason": fine.info["stop_reason"], "rounds": fine.info["rounds"],
                   "seconds": fine.info["seconds"], "history": fine.history,
                   "test_contingency": contingency(test.y.numpy(), fine_test.argmax(1).numpy()).tolist()}
    print(f"fine stage (K_over {M}): test purity {rec['fine']['test_purity']} ({fine.info['seconds']:.0f} s)",
          flush=True)
    rec["merges"] = {}
    for merge in args.merges.split(","):
        t2 = time.perf_counter()
        merged, info, assign = merge_fine_clusters(fine.model, x, fine.soft, K, merge, args.seed, opts)
        m: dict[str, Any] = {"info": info, "seconds": round(time.perf_counter() - t2, 1),
                             "train": score(merged, y), "test": score(assign(test.x), test.y)}
        print(f"merge {merge}: test {m['test']} ({m['seconds']:.0f} s)", flush=True)
        if args.final:
            res = self_train(x, merged, K, opts, seed=args.seed)
            soft = res.assign(test.x) if res.model is not None else assign(test.x)
            m["final"] = {"test": score(soft, test.y), "stop_reason": res.info["stop_reason"],
                          "rounds": res.info["rounds"], "seconds": res.info["seconds"],
                          "criterion": [h.get("criterion") for h in res.history],
                          "test_contingency": contingency(test.y.numpy(), soft.argmax(1).numpy()).tolist()}
            print(f"merge {merge} + stage: test {m['final']['test']} ({res.info['seconds']:.0f} s)", flush=True)
        rec["merges"][merge] = m
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rec, indent=1, default=lambda o: o.tolist() if isinstance(o, np.ndarray)
                                       else str(o)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
