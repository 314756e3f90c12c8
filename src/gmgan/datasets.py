"""Real image datasets read offline from the user's own files: CIFAR-10/100 (python batches), STL-10 (binary),
and any folder of images.

Every reader returns uint8 images (N, C, H, W) and int64 labels (or None); :func:`to_model_range` resizes
(shorter side to the target size, then a centre crop) and maps them to [-1, 1]. A folder is decoded once
into a memory-mapped cache (``$GMGAN_CACHE/images/<fingerprint>/``), keyed by the files' names, sizes and
times, the target size and the channels, so a 100k-image folder is read from disk as one array afterwards.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gmgan import safepickle
from gmgan.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _locate(data_dir: str | Path | None, name: str, inner: str, needed: str) -> Path:
    if data_dir is None:
        raise DataError(f"data.name {name!r} reads the dataset's files from a folder: pass it with --data-dir DIR.")
    folder = Path(data_dir)
    if folder.is_file():
        raise DataError(f"--data-dir {folder} is a file; give the folder that holds the {name} files "
                        f"(--data-dir {folder.parent}).")
    for candidate in (folder, folder / inner):
        if (candidate / needed).is_file():
            return candidate
    raise DataError(f"{needed} not found in {folder} or {folder / inner}. Unpack the {name} archive there and pass "
                    "that folder with --data-dir.")


def _key(d: dict, name: str) -> object:
    """CIFAR keys are bytes (Python 3 writers) or str (the original Python 2 files)."""
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    raise DataError(f"the batch has no {name!r} entry.")


def load_cifar(name: str, data_dir: str | Path | None, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CIFAR-10 (data_batch_1..5, test_batch) or CIFAR-100 (train, test; fine labels) python batches."""
    if name == "cifar10":
        folder = _locate(data_dir, name, "cifar-10-batches-py", "test_batch")
        files, label_key, meta, names_key = CIFAR10_FILES[split], "labels", "batches.meta", "label_names"
    else:
        folder = _locate(data_dir, name, "cifar-100-python", "test")
        files, label_key, meta, names_key = [split], "fine_labels", "meta", "fine_label_names"
    xs, ys = [], []
    for f in files:
        path = folder / f
        if not path.is_file():
            raise DataError(f"{path} is missing. Unpack the whole {name} archive into {folder}.")
        batch = safepickle.load(path)
        if not isinstance(batch, dict):
            raise DataError(f"{path} does not hold a CIFAR batch (a dict).")
        data = np.asarray(_key(batch, "data"))
        labels = np.asarray(_key(batch, label_key), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise DataError(f"{path}: expected uint8 data (N, 3072) and N labels; got {data.dtype} {data.shape} "
                            f"and {len(labels)} labels. The file is corrupt.")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    n_classes = 10 if name == "cifar10" else 100
    y = np.concatenate(ys)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{name} labels must be 0..{n_classes - 1}; found {y.min()}..{y.max()}. The files are corrupt.")
    class_names = [str(i) for i in range(n_classes)]
    if (folder / meta).is_file():
        try:
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in _key(safepickle.load(folder / meta), names_key)]  # type: ignore[attr-defined]
            if len(names) == n_classes:
                class_names = names
        except DataError:
            pass  # the names are a nicety; the numbers stay
    return np.concatenate(xs), y, class_names


def load_stl10(data_dir: str | Path | None, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """STL-10 binaries: train / test (labelled, 96x96) or unlabeled (100,000 images, no labels)."""
    folder = _locate(data_dir, "stl10", "stl10_binary", "test_X.bin")
    x_path = folder / f"{split}_X.bin"
    if not x_path.is_file():
        raise DataError(f"{x_path} is missing. STL-10 splits: train, test, unlabeled.")
    raw = np.fromfile(x_path, dtype=np.uint8)
    per = 3 * 96 * 96
    if raw.size % per:
        raise DataError(f"{x_path} holds {raw.size} bytes, not a whole number of 96x96 RGB images: truncated.")
    x = raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)  # stored column-major per channel
    if split == "unlabeled":
        return np.ascontiguousarray(x), None
    y_path = folder / f"{split}_y.bin"
    if not y_path.is_file():
        raise DataError(f"{y_path} is missing.")
    y = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1  # 1..10 on disk
    if len(y) != len(x) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise DataError(f"{y_path} should hold {len(x)} labels in 1..10; it holds {len(y)} in "
                        f"{y.min() + 1 if y.size else '-'}..{y.max() + 1 if y.size else '-'}.")
    return np.ascontiguousarray(x), y


def _list_folder(folder: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Image files of a folder: flat (no labels) or one subfolder per class (labels = sorted subfolder names)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder. Pass a folder of images (or of class subfolders) with --data-dir.")
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    flat = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if subdirs and not flat:
        files, labels = [], []
        for i, d in enumerate(subdirs):
            found = sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            files += found
            labels += [i] * len(found)
        names = [d.name for d in subdirs]
        if not files:
            raise DataError(f"the class folders of {folder} hold no images ({', '.join(IMAGE_SUFFIXES)}).")
        return files, labels, names
    if not flat:
        raise DataError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}). Point --data-dir at the images.")
    return flat, None, None


def _decode(path: Path, channels: int, size: int) -> np.ndarray:
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
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable image ({exc}). Remove or replace it.") from exc
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_folder(folder: str | Path | None, channels: int, size: int,
                cache: Path | None = None) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """A folder of images, decoded once into a memory-mapped uint8 array (N, C, size, size)."""
    if folder is None:
        raise DataError("data.name 'folder' needs the folder: pass it with --data-dir DIR.")
    folder = Path(folder).resolve()
    files, labels, names = _list_folder(folder)
    h = hashlib.sha256(f"{folder}|{channels}|{size}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    from gmgan.paths import cache_root

    root = cache or cache_root()
    entry = root / "images" / h.hexdigest()[:16]
    if not (entry / "meta.json").is_file():
        from gmgan.checkpoint import write_dir_atomically

        def write(tmp: Path) -> None:
            arr = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                            shape=(len(files), channels, size, size))
            for i, f in enumerate(files):
                arr[i] = _decode(f, channels, size)
            arr.flush()
            del arr
            if labels is not None:
                np.save(tmp / "labels.npy", np.asarray(labels, dtype=np.int64))
            (tmp / "meta.json").write_text(json.dumps({"folder": str(folder), "n": len(files), "channels": channels,
                                                       "size": size, "class_names": names}))

        write_dir_atomically(entry, write)
    images = np.load(entry / "images.npy", mmap_mode="r", allow_pickle=False)
    y = np.load(entry / "labels.npy", allow_pickle=False) if (entry / "labels.npy").is_file() else None
    return images, y, names


def to_model_range(images: np.ndarray, size: int | None, channels: int | None = None) -> Tensor:
    """uint8 (N, C, H, W) -> float32 in [-1, 1], resized (shorter side, centre crop) to ``size`` when given."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1.0)
    if channels is not None and channels != x.shape[1]:
        if channels == 1:
            x = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]) if x.shape[1] == 3 else x[:, :1]
        else:
            x = x.expand(-1, 3, -1, -1).contiguous()
    if size is not None and x.shape[-1] != size:
        h, w = x.shape[-2:]
        scale = size / min(h, w)
        x = F.interpolate(x, size=(max(size, round(h * scale)), max(size, round(w * scale))), mode="bilinear",
                          antialias=True, align_corners=False)
        top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
        x = x[..., top : top + size, left : left + size].clamp(-1, 1)
    return x
