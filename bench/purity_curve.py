"""Mean component purity along training, from a run's kept checkpoints.

    python bench/purity_curve.py runs/gm-std-s0 runs/gm-std-s1 runs/gm-std-s2 --label "GM-GAN static" \
        --out docs/results/purity-curve

For every checkpoint of every run: n samples per component (fixed latents per run), classified by the
dataset's evaluation classifier (the one ``gmgan evaluate`` uses, cached); purity of a component = the share
of its samples in its majority class; mean over components. Labels enter only through that classifier, i.e.
for scoring. With ``--head`` the runs' component head (``--info``) is also read on the real test images and
its clustering ACC recorded per checkpoint. Writes OUT.json (every point, the command) and OUT.png (mean over
the runs of one label with its standard deviation as a band, one line per label).
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
from gmgan.evaluate.classifier import get_classifier
from gmgan.nets import generate
from gmgan.train import load_run_config, load_trained
from gmgan.viz import parse_groups, save_group_curves


def curve(run: Path, n_per_component: int, head: bool, data_dir: str | None,
          known: list[dict[str, float]] | None = None, every: int = 1) -> list[dict[str, float]]:
    from gmgan import cluster as cl
    from gmgan.data import load_from_config

    cfg = load_run_config(run)
    train = load_from_config(cfg.data, 0, data_dir=data_dir, imbalance=False)
    test = load_from_config(cfg.data, 0, split="test", data_dir=data_dir, imbalance=False)
    classifier = get_classifier(train, test, progress=False)
    done = {int(p["step"]): p for p in known or []}
    points = []
    for path in ckpt.list_checkpoints(run, every):  # --every: a coarser curve (the last checkpoint always scored)
        step = ckpt.checkpoint_step(path)
        if step in done and (not head or "head_test_acc" in done[step]):
            points.append(done[step])  # scored by an earlier call (--reuse)
            continue
        _, method, step = load_trained(run, checkpoint=path)
        K = method.prior.K
        k = torch.arange(K).repeat_interleave(n_per_component)
        z, _ = method.prior.sample(len(k), component=k, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            classes = classifier.extract(generate(method.G, z))[1].argmax(1)
        purity = M.component_purity(k, classes, K, train.num_classes or 10)
        point = {"step": step, "epochs": round(cfg.train.epochs(step, len(train)), 2),
                 "mean_purity": float(purity["mean"]),
                 "classes_covered": len(set(int(c) for c in purity["majority_class"]))}
        if head and getattr(method, "has_component_head", False):
            c = cl.fit_head_route(method, train.x[torch.randperm(len(train), generator=torch.Generator()
                                                                 .manual_seed(0))[:20_000]])
            pred = c.assign(test.x).argmax(1).numpy()
            point.update({f"head_test_{m}": v for m, v in cl.scores(test.y.numpy(), pred).items()})
        print(run, point, flush=True)
        points.append(point)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--label", action="append", help="LABEL=RUN,RUN,... groups for the plot (default: one "
                        "group of every run)")
    parser.add_argument("--n-per-component", type=int, default=500)
    parser.add_argument("--head", action="store_true", help="also score the component head on the test split")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="docs/results/purity-curve")
    parser.add_argument("--every", type=int, default=1, help="score only checkpoints whose step is a multiple of "
                        "this (and the last one)")
    parser.add_argument("--reuse", action="store_true", help="keep the points OUT.json already has (same runs, "
                        "same --n-per-component) and score only new checkpoints")
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    known: dict[str, list[dict[str, float]]] = {}
    previous = Path(args.out).with_suffix(".json")
    if args.reuse and previous.is_file():
        old = json.loads(previous.read_text())
        if old.get("n_per_component") == args.n_per_component:
            known = old["runs"]
    results = {str(run): curve(run, args.n_per_component, args.head, args.data_dir, known.get(str(run)), args.every)
               for run in args.runs}
    groups = parse_groups(args.label or [f"runs={','.join(map(str, args.runs))}"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/purity_curve.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out.with_suffix(".json").write_text(json.dumps({"command": command, "n_per_component": args.n_per_component,
                                                    "groups": groups, "runs": results}, indent=1) + "\n")
    metrics = ["mean_purity"] + (["head_test_acc"] if args.head else [])
    save_group_curves(results, groups, metrics, out.with_suffix(".png"), ylim=(0, 1))
    print(f"written {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
