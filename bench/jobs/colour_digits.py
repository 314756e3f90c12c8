"""A stand-in for a user's folder of colour photos: the first N MNIST training digits, each drawn in a random
foreground colour on a random background colour (at least 200 apart in summed RGB), resized to 32 px, saved as
PNG files in one flat folder (no labels). Used by bench/jobs/own_images.sh for the published command times.

    python bench/jobs/colour_digits.py --data-dir DIR --out runs/own/colour-digits [--n 5000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from gmgan.data import load_idx_folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, help="the folder holding the MNIST IDX files")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    x, _ = load_idx_folder(args.data_dir, "train")
    rng = np.random.RandomState(0)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):
        fg, bg = rng.randint(0, 256, 3), rng.randint(0, 256, 3)
        while np.abs(fg.astype(int) - bg).sum() < 200:
            fg, bg = rng.randint(0, 256, 3), rng.randint(0, 256, 3)
        a = x[i].astype(np.float32)[..., None] / 255
        img = (a * fg + (1 - a) * bg).astype(np.uint8)
        Image.fromarray(img).resize((32, 32), Image.Resampling.BICUBIC).save(args.out / f"{i:05d}.png")
    print(f"wrote {args.n} PNG files to {args.out}")


if __name__ == "__main__":
    main()
