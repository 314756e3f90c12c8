"""The toy-grid comparison of GM-GAN's Section 4.1: GAN vs static vs dynamic GM-GAN, same nets and steps.

Trains every (grid, model, seed) combination with the ``toy-grid3`` / ``toy-grid5`` presets, then reports
the mean and standard deviation over seeds of modes covered, high-quality fraction and log-likelihood
(10,000 samples each, see gmgan.evaluate.toy). Writes docs/results/toy-grid.json, a Markdown table on
stdout and a scatter figure per grid (seed 0) under docs/results/.

    python bench/toy_grid.py --out runs/toy-grid --workers 2            # the full table (about 25 min)
    python bench/toy_grid.py --out runs/toy-quick --steps 500 --seeds 0  # a quick look
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MODELS = {
    "GAN": {"method": "gan"},
    "GM-GAN static": {"method": "gmgan", "prior": {"learnable": False}},
    "GM-GAN dynamic": {"method": "gmgan", "prior": {"learnable": True}},
}
GRIDS = ("toy-grid3", "toy-grid5")
METRICS = ("modes_covered", "high_quality", "log_likelihood")


def train_one(grid: str, model: str, seed: int, steps: int | None, out: str) -> dict:
    import torch

    from gmgan.config import make_config
    from gmgan.train import Trainer

    torch.set_num_threads(1)  # one run per core: tiny MLPs gain nothing from intra-op threads
    update = {**MODELS[model], "train": {"seed": seed, **({"steps": steps} if steps else {})}}
    cfg = make_config(grid, update)
    run = Path(out) / grid / model.replace(" ", "-").lower() / f"seed{seed}"
    start = time.perf_counter()
    from gmgan import checkpoint as ckpt

    latest = ckpt.latest_checkpoint(run)
    done = latest is not None and json.loads((latest / "state.json").read_text())["step"] == cfg.train.steps
    if done and (run / "toy_metrics.json").is_file():  # finished earlier: reuse, so an interrupted table resumes
        metrics = json.loads((run / "toy_metrics.json").read_text())
    else:  # new, interrupted, or trained for fewer steps (resumed to --steps: the same run, continued)
        resume = (run / "config.yaml").is_file()
        metrics = Trainer(cfg, run, resume=resume, progress=False).fit()["toy_metrics"]
    return {"grid": grid, "model": model, "seed": seed, "run": str(run), "seconds": time.perf_counter() - start,
            **{k: metrics[k] for k in (*METRICS, "modes_total")}}


def summarise(rows: list[dict]) -> dict:
    table: dict = {}
    for grid in GRIDS:
        for model in MODELS:
            sel = [r for r in rows if r["grid"] == grid and r["model"] == model]
            if not sel:
                continue
            entry = {"seeds": [r["seed"] for r in sel], "modes_total": sel[0]["modes_total"]}
            for m in METRICS:
                values = [float(r[m]) for r in sel]
                entry[m] = {"per_seed": values, "mean": statistics.fmean(values),
                            "std": statistics.stdev(values) if len(values) > 1 else 0.0}
            table.setdefault(grid, {})[model] = entry
    return table


def reference(n: int = 100_000) -> dict:
    """The metrics of n samples of the true distribution: the best a generator can score."""
    import torch

    from gmgan.data import TOY_GRIDS
    from gmgan.evaluate.toy import toy_metrics

    return {g: toy_metrics(TOY_GRIDS[g].sample(n, torch.Generator().manual_seed(0))[0], TOY_GRIDS[g]) for g in GRIDS}


def scatter(rows: list[dict], out: Path, tag: str = "") -> None:
    import torch

    from gmgan.data import TOY_GRIDS
    from gmgan.nets import generate
    from gmgan.train import load_trained
    from gmgan.viz import save_scatter_panels

    for grid in dict.fromkeys(r["grid"] for r in rows):
        panels = []
        for model in MODELS:
            sel = [r for r in rows if r["grid"] == grid and r["model"] == model and r["seed"] == min(
                x["seed"] for x in rows)]
            if not sel:
                continue
            _, method, _ = load_trained(sel[0]["run"])
            z, k = method.prior.sample(2000, generator=torch.Generator().manual_seed(0))
            panels.append((model, generate(method.G, z), k if method.prior.K > 1 else None))
        real, _ = TOY_GRIDS[grid].sample(2000, torch.Generator().manual_seed(1))
        save_scatter_panels(panels, real, out / f"{grid}{tag}-scatter.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/toy-grid")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, help="override the presets' steps")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results", default="docs/results")
    parser.add_argument("--grids", default=",".join(GRIDS), help="which grids (default both)")
    parser.add_argument("--models", default=",".join(MODELS), help="which models (default all: "
                        + ", ".join(MODELS) + ")")
    parser.add_argument("--tag", default="", help="suffix of the result files, e.g. -30k (toy-grid-30k.json)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    grids = [g for g in args.grids.split(",") if g]
    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"unknown --models {sorted(unknown)}; choose from {list(MODELS)}")
    jobs = [(g, m, s, args.steps, args.out) for g in grids for m in models for s in seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(train_one, *zip(*jobs, strict=True)))
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    summary = {"command": "python bench/toy_grid.py " + " ".join(
        "--" + k + "=" + shlex.quote(str(v)) for k, v in vars(args).items() if v not in (None, "") and k != "results"),
        "samples_per_run": 10_000, "runs": rows, "table": summarise(rows), "reference": reference()}
    (results / f"toy-grid{args.tag}.json").write_text(json.dumps(summary, indent=1) + "\n")
    scatter(rows, results, args.tag)
    print("| grid | model | modes covered | high-quality fraction | log-likelihood |")
    print("| --- | --- | --- | --- | --- |")
    for grid, models in summary["table"].items():
        ref = summary["reference"][grid]
        print(f"| {grid} | true samples (reference) | {ref['modes_covered']} / {ref['modes_total']} | "
              f"{ref['high_quality']:.3g} | {ref['log_likelihood']:.3g} |")
        for model, e in models.items():
            cells = [f"{e[m]['mean']:.3g} ± {e[m]['std']:.2g}" for m in METRICS]
            cells[0] = f"{e['modes_covered']['mean']:.1f} ± {e['modes_covered']['std']:.1f} / {e['modes_total']}"
            print(f"| {grid} | {model} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
