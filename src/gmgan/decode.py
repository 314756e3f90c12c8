"""Decoding image files to uint8 arrays: the work of the processes that read a folder once.

Kept free of torch so that a decoding worker starts in a fraction of a second (it imports numpy and Pillow
only); :func:`gmgan.datasets.read_folder` drives it and writes the cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gmgan.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def decode(path: str | Path, channels: int, size: int) -> np.ndarray:
    """One image file as uint8 (channels, size, size): converted to grayscale or RGB, its shorter side resized
    to ``size`` (bicubic), then the centre square.

    Raises:
        DataError: the file is not a readable image; the message names it and the reason.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            im = opened.convert("L" if channels == 1 else "RGB")
            w, h = im.size
            scale = size / min(w, h)  # shorter side to size, then the centre square
            im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
            w, h = im.size
            left, top = (w - size) // 2, (h - size) // 2
            arr = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path} is not a readable image ({exc}). Remove or replace it.") from exc
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def decode_chunk(args: tuple[list[str], int, int]) -> tuple[np.ndarray, list[str | None]]:
    """Decode a worker's share of files: the images, and for each file None or why it could not be read."""
    paths, channels, size = args
    out = np.zeros((len(paths), channels, size, size), dtype=np.uint8)
    errors: list[str | None] = []
    for i, p in enumerate(paths):
        try:
            out[i] = decode(p, channels, size)
            errors.append(None)
        except DataError as exc:
            cause = exc.__cause__
            errors.append(f"{type(cause).__name__}: {cause}" if cause is not None else str(exc))
    return out, errors
