"""Probe the re-clustering step (gmgan.selftrain.manifold_assign + the stage from its partition) on MNIST.

From a saved stage network (an assigner written by ``gmgan cluster ... --self-train``, e.g. ``OUT/assigner-seedN``
or a pipeline's ``OUT/state/seed-N-*/assigner-seedstage``): UMAP of its features of the training images (in the
stage's order), a Gaussian mixture from several starts (each start's train ACC and likelihood logged; the highest
likelihood kept), then the stage from that partition with the options given, its test ACC logged every round.
Labels are read only to score.

    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 python bench/recluster_probe.py --data-dir DIR \\
        --assigner runs/cluster-selftrain/kmeans-oc-s1 --seed 1 --set relabel=False --set size_prior=0

The two settings compared in gmgan.selftrain.recluster_stage_options: ``--set size_prior=0`` (the stage
relabelling from its own predictions, sizes kept) against ``--set relabel=False --set size_prior=0`` (the network
learns the mixture's partition).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from selftrain_probe import parse_sets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="an MNIST-format folder (IDX files)")
    ap.add_argument("--assigner", required=True, help="the folder holding assigner-seed<SEED>.safetensors/.json")
    ap.add_argument("--seed", required=True, help="the assigner's seed (or name, e.g. stage)")
    ap.add_argument("--umap-seed", type=int, default=None, help="UMAP's and the stage's seed (default: --seed)")
    ap.add_argument("--gmm-inits", type=int, default=10)
    ap.add_argument("--set", action="append", default=[], help="a SelfTrainOptions field, NAME=VALUE")
    ap.add_argument("--out", help="write the record as JSON here")
    args = ap.parse_args()
    import umap
    from sklearn.mixture import GaussianMixture

    from gmgan.assigner import load_assigner
    from gmgan.cluster import clustering_accuracy
    from gmgan.data import load_idx_folder
    from gmgan.selftrain import SelfTrainOptions, features, predict, self_train

    def load(split: str) -> tuple[torch.Tensor, np.ndarray]:
        im, lb = load_idx_folder(args.data_dir, split)
        return torch.from_numpy(im.astype(np.float32) / 127.5 - 1).unsqueeze(1), lb

    xtr, ytr = load("train")
    xte, yte = load("test")
    order = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(1))  # gmgan cluster's stage order
    xtr, ytr = xtr[order], ytr[order.numpy()]
    seed = args.umap_seed if args.umap_seed is not None else int(args.seed) if args.seed.isdigit() else 0
    model, _ = load_assigner(args.assigner, args.seed)
    rec: dict = {"command": " ".join(["python", *sys.argv]), "start_test_acc":
                 clustering_accuracy(yte, predict(model, xte).argmax(1).numpy())}
    t = time.perf_counter()
    emb = umap.UMAP(n_components=10, n_neighbors=20, min_dist=0.0, random_state=seed,
                    n_jobs=1).fit_transform(features(model, xtr).numpy())
    rec["umap_seconds"] = round(time.perf_counter() - t, 1)
    best = None
    rec["gmm_starts"] = []
    for r in range(args.gmm_inits):
        g = GaussianMixture(10, covariance_type="full", random_state=seed * 100 + r).fit(emb)
        acc = clustering_accuracy(ytr, g.predict(emb))
        rec["gmm_starts"].append({"lower_bound": round(float(g.lower_bound_), 5), "train_acc": round(acc, 5)})
        print(f"gmm start {r}: lower bound {g.lower_bound_:.4f} train ACC {acc:.4f}", flush=True)
        if best is None or g.lower_bound_ > best.lower_bound_:
            best = g
    assert best is not None
    soft = torch.as_tensor(best.predict_proba(emb)).float()
    rec["mixture_train_acc"] = clustering_accuracy(ytr, soft.argmax(1).numpy())
    opts = SelfTrainOptions(**parse_sets(args.set))
    res = self_train(xtr, soft, 10, opts, seed=seed, progress=True, x_eval=xte, y_eval=yte)
    rec["stage"] = {"options": {k: v for k, v in vars(opts).items()}, "history": res.history,
                    "stop_reason": res.info["stop_reason"], "seconds": res.info["seconds"]}
    rec["final_test_acc"] = clustering_accuracy(yte, res.assign(xte).argmax(1).numpy())
    print(f"mixture train ACC {rec['mixture_train_acc']:.4f} -> after the stage test ACC {rec['final_test_acc']:.4f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rec, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
