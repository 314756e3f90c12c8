"""Speed of the evaluation metrics on 28x28 images (budget: each part under 60 s on 2 CPU cores).

Times, in one run:
  1. feature extraction + FID + KID + precision/recall/density/coverage for 10,000 "generated" vs 10,000
     real 28x28 images (MNIST train images stand in for generated ones; the cost does not depend on what
     the images show);
  2. d_intra over all 499,500 pairs of 1,000 images (batched MS-SSIM);
and, as ratios measured in the same run, our batched MS-SSIM against torchmetrics' per pair, and our chunked
precision/recall/density/coverage against the ``prdc`` package (full distance matrices) on 2,000 vs 2,000.

Writes docs/results/metrics-speed.json.

    python bench/metrics_speed.py --data-dir DIR
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from gmgan.data import load_dataset
from gmgan.evaluate import metrics as M
from gmgan.evaluate.classifier import DomainClassifier, cache_dir_for, load_classifier
from gmgan.evaluate.msssim import mean_pairwise_ms_ssim, ms_ssim, msssim_settings

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--pairs-images", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "metrics-speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    train = load_dataset("mnist", args.data_dir, "train")
    test = load_dataset("mnist", args.data_dir, "test")
    cached = cache_dir_for(train)
    if cached.is_dir():
        model, extractor = load_classifier(cached).model, f"cached MNIST classifier {cached.name}"
    else:
        model, extractor = DomainClassifier(1, 10).eval(), "untrained DomainClassifier (same cost as a trained one)"
    fake_images, real_images = train.x[: args.n], test.x[: args.n]

    def distribution_metrics():
        real_f, _ = model.extract(real_images)
        fake_f, _ = model.extract(fake_images)
        return {"fid": M.fid(real_f, fake_f), "kid": M.kid(real_f, fake_f)["mean"], **M.prdc(real_f, fake_f)}

    values, t_dist = timed(distribution_metrics)
    print(f"features + FID + KID + P/R/D/C, {args.n} vs {args.n}: {t_dist:.1f} s  {values}")

    pair_images = train.x[: args.pairs_images]
    intra, t_pairs = timed(lambda: mean_pairwise_ms_ssim(pair_images, pairs=None))
    print(f"d_intra over all {intra['pairs']} pairs of {args.pairs_images} images: {t_pairs:.1f} s "
          f"(mean MS-SSIM {intra['mean']:.4f})")

    # ratios in this run: batched MS-SSIM vs torchmetrics per pair; chunked PRDC vs the prdc package
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_msssim

    s = msssim_settings(28)
    n_cmp = 400
    x, y = train.x[:n_cmp], train.x[n_cmp:2 * n_cmp]
    _, t_tm = timed(lambda: [tm_msssim(x[i:i + 1], y[i:i + 1], kernel_size=s.kernel_size, sigma=s.sigma,
                                       betas=s.betas, data_range=2.0, normalize="relu") for i in range(n_cmp)])
    _, t_ours = timed(lambda: ms_ssim(x, y, s))
    print(f"MS-SSIM of {n_cmp} pairs: torchmetrics {t_tm:.2f} s, ours {t_ours:.3f} s")

    prdc_ratio = None
    try:
        import prdc

        real_f, _ = model.extract(test.x[:2000])
        fake_f, _ = model.extract(train.x[:2000])
        _, t_pkg = timed(lambda: prdc.compute_prdc(real_f.numpy(), fake_f.numpy(), nearest_k=5))
        _, t_mine = timed(lambda: M.prdc(real_f, fake_f, k=5, k_dc=5))
        prdc_ratio = {"prdc_package_s": round(t_pkg, 3), "ours_s": round(t_mine, 3),
                      "ours_over_package": t_mine / t_pkg}
        print(f"PRDC 2000 vs 2000: prdc package {t_pkg:.2f} s, ours {t_mine:.2f} s")
    except ImportError:
        print("prdc not installed: skipping the PRDC comparison (pip install prdc)")

    result = {
        "machine": {"cpu_threads": args.threads, "platform": platform.platform(), "torch": torch.__version__},
        "extractor": extractor,
        "distribution_metrics": {"n_generated": args.n, "n_real": args.n, "seconds": round(t_dist, 2),
                                 "budget_s": 60, "ratio_to_budget": t_dist / 60, "values": values},
        "d_intra_all_pairs": {"images": args.pairs_images, "pairs": intra["pairs"], "seconds": round(t_pairs, 2),
                              "budget_s": 60, "ratio_to_budget": t_pairs / 60, "mean_ms_ssim": intra["mean"]},
        "ms_ssim_vs_torchmetrics": {"pairs": n_cmp, "torchmetrics_s": round(t_tm, 3), "ours_s": round(t_ours, 4),
                                    "ours_over_torchmetrics": t_ours / t_tm},
        "prdc_vs_package": prdc_ratio,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
