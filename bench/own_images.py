"""A folder of your own images at scale: decoding once against training, and training time by image size.

1. Decoding: a folder of N generated PNG files (default 100,000 colour images at 32 px) is decoded into gmgan's
   cache by ``gmgan.datasets.read_folder`` with one process and with one per CPU core; images/s of each.
2. The training loop on that folder (the cached, memory-mapped array; default config: DCGAN width 64, b_D 64,
   b_G 128, fp32): real images/s consumed by D, and the share of each step spent turning the uint8 batch into
   floats (the loader). The ratio decode / train says whether the folder could be re-read every epoch
   without becoming the bottleneck (it is decoded only once anyway).
3. Guidance by resolution: seconds per 1,000 training steps at 28 px (grayscale), 32 and 64 px (colour), same
   config, timed in interleaved rounds so machine noise hits them alike.

Writes docs/results/own-images.json (the command relative to the repo, no machine paths).

    python bench/own_images.py                  # about 5 minutes on 2 CPU cores
    python bench/own_images.py --images 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gmgan.config import make_config
from gmgan.data import load_dataset
from gmgan.datasets import read_folder
from gmgan.train import Trainer


def write_folder(folder: Path, n: int, size: int, seed: int = 0) -> None:
    """n colour PNG files of size x size with random smooth content (what they show does not change the cost)."""
    folder.mkdir(parents=True)
    rng = np.random.RandomState(seed)
    base = rng.randint(0, 256, (64, 8, 8, 3)).astype(np.uint8)
    for i in range(n):
        im = Image.fromarray(base[i % 64]).resize((size, size), Image.Resampling.BILINEAR)
        im.save(folder / f"{i:06d}.png")


def time_decode(folder: Path, size: int, workers: int, cache: Path) -> dict[str, float]:
    os.environ["GMGAN_DECODE_WORKERS"] = str(workers)
    shutil.rmtree(cache, ignore_errors=True)
    start = time.perf_counter()
    f = read_folder(folder, 3, size, cache=cache, progress=False)
    seconds = time.perf_counter() - start
    return {"workers": workers, "images": len(f.images), "seconds": round(seconds, 2),
            "images_per_s": round(len(f.images) / seconds, 1)}


def step_times(trainers: dict[str, Trainer], steps: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per step of each trainer, interleaved: round r times every trainer once."""
    for t in trainers.values():  # warm-up
        for _ in range(2):
            t.train_step()
    times: dict[str, list[float]] = {k: [] for k in trainers}
    for _ in range(rounds):
        for name, t in trainers.items():
            start = time.perf_counter()
            for _ in range(steps):
                t.train_step()
            times[name].append((time.perf_counter() - start) / steps)
    return times


def loader_seconds(data: object, b_D: int, n: int = 50) -> float:
    """Mean seconds to read one batch of b_D images from the (memory-mapped) cache as floats in [-1, 1]."""
    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(n):
        data.batch(torch.randint(len(data), (b_D,), generator=g))  # type: ignore[attr-defined]
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default="docs/results/own-images.json")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    result: dict = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
                    "machine": {"cpus": cores, "torch": torch.__version__, "threads": torch.get_num_threads(),
                                "python": platform.python_version()}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "images"
        start = time.perf_counter()
        write_folder(folder, args.images, args.size)
        print(f"wrote {args.images} PNG files ({time.perf_counter() - start:.0f} s)", flush=True)
        decode = [time_decode(folder, args.size, w, root / "cache") for w in sorted({1, min(8, cores)})]
        for d in decode:
            print(f"decode, {d['workers']} process(es): {d['images_per_s']:.0f} images/s", flush=True)
        os.environ["GMGAN_CACHE"] = str(root / "cache")
        os.environ.pop("GMGAN_DECODE_WORKERS", None)
        data = load_dataset("folder", folder, "train", image_size=args.size, channels=3)
        cfg = make_config(None, {"data": {"name": "folder", "data_dir": str(folder), "image_size": args.size,
                                          "channels": 3}})
        trainer = Trainer(cfg, root / "run", progress=False, dataset=data)
        train = step_times({"folder": trainer}, args.steps, args.rounds)["folder"]
        step = statistics.median(train)
        load = loader_seconds(data, cfg.train.b_D)
        train_ips = cfg.train.b_D / step
        best_decode = max(d["images_per_s"] for d in decode)
        result["folder"] = {"images": args.images, "size": args.size, "channels": 3, "decode": decode,
                            "train_images_per_s": round(train_ips, 1), "step_seconds_median": round(step, 4),
                            "loader_seconds_per_batch": round(load, 5),
                            "loader_share_of_step": round(load / step, 4),
                            "decode_over_train": round(best_decode / train_ips, 1)}
        print(f"training: {train_ips:.0f} real images/s; reading a batch from the cache is "
              f"{100 * load / step:.1f}% of a step; decoding is {best_decode / train_ips:.1f}x the training rate",
              flush=True)
        # guidance by resolution: one trainer per size on random images (pixels do not change the cost)
        trainers = {}
        for size, channels in ((28, 1), (32, 3), (64, 3)):
            from gmgan.data import Dataset

            g = torch.Generator().manual_seed(0)
            d = Dataset(f"random-{size}px", torch.rand(2000, channels, size, size, generator=g) * 2 - 1)
            c = make_config(None, {"data": {"name": "folder", "image_size": size, "channels": channels}})
            trainers[f"{size} px"] = Trainer(c, root / f"run-{size}", progress=False, dataset=d)
        times = step_times(trainers, args.steps, args.rounds)
        result["by_size"] = {}
        for name, ts in times.items():
            med = statistics.median(ts)
            result["by_size"][name] = {"seconds_per_1000_steps": round(1000 * med, 1),
                                       "steps_per_s": round(1 / med, 2), "rounds": [round(t, 4) for t in ts]}
            print(f"{name}: {1000 * med / 60:.1f} min per 1,000 steps ({1 / med:.2f} steps/s)", flush=True)
        result["config"] = {"model.width": cfg.model.width, "b_D": cfg.train.b_D, "b_G": cfg.train.b_G,
                            "precision": cfg.train.precision, "K": cfg.prior.K, "latent_dim": cfg.prior.latent_dim}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
