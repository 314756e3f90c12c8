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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gmgan import safepickle
from gmgan.decode import IMAGE_SUFFIXES, decode_chunk
from gmgan.errors import DataError

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


def _list_folder(folder: Path) -> tuple[list[Path], list[int] | None, list[str] | None, int]:
    """Image files of a folder: flat (no labels) or one subfolder per class (labels = sorted subfolder names),
    and how many other files were passed over (not images by their suffix)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder. Pass a folder of images (or of class subfolders) with --data-dir.")
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    entries = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]
    flat = sorted(f for f in entries if f.suffix.lower() in IMAGE_SUFFIXES)
    if subdirs and not flat:
        files, labels, others = [], [], len(entries)
        for i, d in enumerate(subdirs):
            inside = [f for f in d.rglob("*") if f.is_file() and not f.name.startswith(".")]
            found = sorted(f for f in inside if f.suffix.lower() in IMAGE_SUFFIXES)
            others += len(inside) - len(found)
            files += found
            labels += [i] * len(found)
        names = [d.name for d in subdirs]
        if not files:
            raise DataError(f"the class folders of {folder} hold no images ({', '.join(IMAGE_SUFFIXES)}).")
        return files, labels, names, others
    if not flat:
        raise DataError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}). Point --data-dir at the images.")
    return flat, None, None, len(entries) - len(flat)


DECODE_CHUNK = 256  # files per task of a decoding worker
PARALLEL_FROM = 2000  # folders with fewer files are decoded in this process (a pool costs ~1 s to start)


def decode_workers(n_files: int) -> int:
    """Processes that decode a folder: one per CPU (at most 8) for large folders, else this process alone."""
    import os

    env = os.environ.get("GMGAN_DECODE_WORKERS")
    if env:
        return max(1, int(env))
    return 1 if n_files < PARALLEL_FROM else max(1, min(8, os.cpu_count() or 1))


def decode_files(files: list[Path], channels: int, size: int, out: np.ndarray, workers: int = 1,
                 progress: bool = True) -> list[tuple[int, str]]:
    """Decode ``files`` into ``out`` (N, channels, size, size) with ``workers`` processes; returns
    (index, why) for each file that could not be read (its row stays zero)."""
    from tqdm import tqdm

    tasks = [([str(f) for f in files[i : i + DECODE_CHUNK]], channels, size)
             for i in range(0, len(files), DECODE_CHUNK)]
    bad: list[tuple[int, str]] = []
    # no bar for small folders, without progress, or when stderr is not a terminal (logs): tqdm disable=None
    bar = tqdm(total=len(files), desc="decoding images", unit="img",
               disable=True if not progress or len(files) < 500 else None)
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: forking a process whose OpenMP threads have run can hang; the workers import only
        # gmgan.decode (numpy and Pillow), so they start quickly
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
        results = pool.map(decode_chunk, tasks)
    else:
        pool, results = None, map(decode_chunk, tasks)
    try:
        start = 0
        for images, errors in results:
            out[start : start + len(images)] = images
            bad += [(start + i, e) for i, e in enumerate(errors) if e is not None]
            start += len(images)
            bar.update(len(images))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return bad


@dataclass(frozen=True)
class FolderImages:
    """A decoded image folder: ``images`` uint8 (N, C, size, size) (memory-mapped), ``labels`` (N,) or None,
    ``files`` the N file names relative to the folder, ``class_names`` (labelled folders), and what was
    passed over: ``skipped`` unreadable images (name, why), ``ignored`` files that are not images."""

    images: np.ndarray
    labels: np.ndarray | None
    files: list[str]
    class_names: list[str] | None
    skipped: list[tuple[str, str]]
    ignored: int


def read_folder(folder: str | Path | None, channels: int, size: int, cache: Path | None = None,
                progress: bool = True) -> FolderImages:
    """Decode a folder once (several processes for large folders) into ``$GMGAN_CACHE/images/<key>/`` and read it
    back memory-mapped. Unreadable files are left out and reported (once, when decoded; they stay listed in the
    cache's meta.json); files that are not images by their suffix are ignored and counted."""
    if folder is None:
        raise DataError("data.name 'folder' needs the folder: pass it with --data-dir DIR.")
    folder = Path(folder).resolve()
    files, labels, names, ignored = _list_folder(folder)
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
            import time

            started = time.perf_counter()
            raw = np.lib.format.open_memmap(tmp / "all.npy", mode="w+", dtype=np.uint8,
                                            shape=(len(files), channels, size, size))
            workers = decode_workers(len(files))
            bad = decode_files(files, channels, size, raw, workers, progress)
            seconds = time.perf_counter() - started
            bad_rows = {i for i, _ in bad}
            keep = [i for i in range(len(files)) if i not in bad_rows]
            if not keep:
                raise DataError(f"none of the {len(files)} images in {folder} could be read (first: "
                                f"{files[bad[0][0]].relative_to(folder)}: {bad[0][1]}). Check the files.")
            if bad:
                arr = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                                shape=(len(keep), channels, size, size))
                for j in range(0, len(keep), 4096):
                    arr[j : j + 4096] = raw[keep[j : j + 4096]]
                arr.flush()
                del arr
                del raw
                (tmp / "all.npy").unlink()
            else:
                raw.flush()
                del raw
                (tmp / "all.npy").rename(tmp / "images.npy")
            if labels is not None:
                np.save(tmp / "labels.npy", np.asarray([labels[i] for i in keep], dtype=np.int64))
            rel = [str(files[i].relative_to(folder)) for i in keep]
            (tmp / "files.txt").write_text("\n".join(rel) + "\n")
            skipped = [[str(files[i].relative_to(folder)), why] for i, why in bad]
            (tmp / "meta.json").write_text(json.dumps({
                "folder": str(folder), "n": len(keep), "channels": channels, "size": size, "class_names": names,
                "skipped": skipped, "ignored_files": ignored, "decode_seconds": round(seconds, 2),
                "decode_workers": workers}))
            if bad:
                first = skipped[0]
                print(f"note: skipped {len(bad)} of {len(files)} files in {folder} that are not readable images "
                      f"(first: {first[0]}: {first[1]}); the list is in {entry / 'meta.json'}", flush=True)

        write_dir_atomically(entry, write, replace=False)
    meta = json.loads((entry / "meta.json").read_text())
    images = np.load(entry / "images.npy", mmap_mode="r", allow_pickle=False)
    y = np.load(entry / "labels.npy", allow_pickle=False) if (entry / "labels.npy").is_file() else None
    names_file = entry / "files.txt"
    rel = names_file.read_text().splitlines() if names_file.is_file() else [str(i) for i in range(len(images))]
    return FolderImages(images, y, rel, meta.get("class_names"), [tuple(s) for s in meta.get("skipped", [])],
                        int(meta.get("ignored_files", 0)))


# ----------------------------------------------------------------------------------------- what a folder is
@dataclass(frozen=True)
class DataSource:
    """What ``--data-dir`` holds, read from its files alone (:func:`detect`).

    ``kind``: idx (MNIST-format files), cifar10, cifar100, stl10 or folder; ``names``: the dataset names that
    read it (``mnist`` and ``fashion-mnist`` share the IDX format); for a folder ``labelled`` (one subfolder per
    class), ``files``, ``channels`` (1 when every sampled file is grayscale) and ``native_size`` (the most
    common shorter side of the sampled files).
    """

    kind: str
    names: tuple[str, ...]
    path: str
    labelled: bool = True
    files: int | None = None
    channels: int | None = None
    native_size: int | None = None

    @property
    def name(self) -> str:
        """The dataset name a run records when nothing else names it."""
        return self.names[0]

    def describe(self) -> str:
        if self.kind == "folder":
            colour = "grayscale" if self.channels == 1 else "colour"
            how = "one subfolder per class (labelled)" if self.labelled else "flat (no labels)"
            return f"a folder of {self.files:,} {colour} images, {how}, mostly {self.native_size} px"
        return {"idx": "MNIST-format IDX files", "cifar10": "the CIFAR-10 python batches",
                "cifar100": "the CIFAR-100 python batches", "stl10": "the STL-10 binaries"}[self.kind]


KIND_OF = {"mnist": "idx", "fashion-mnist": "idx", "cifar10": "cifar10", "cifar100": "cifar100", "stl10": "stl10",
           "folder": "folder"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _has(folder: Path, *names: str) -> bool:
    return any((folder / n).is_file() for n in names)


def existing_folder(path: str | Path, holds: str) -> Path:
    """``path`` as a folder, or the one clear error a user gets for a file or a missing path given as --data-dir
    (``holds``: what the folder should hold, for the message)."""
    folder = Path(path)
    if folder.is_file():
        raise DataError(f"--data-dir {folder} is a file; give the folder that holds {holds} (--data-dir "
                        f"{folder.parent}).")
    if not folder.is_dir():
        raise DataError(f"--data-dir {folder} does not exist. Give the folder that holds {holds}.")
    return folder


def detect(data_dir: str | Path) -> DataSource:
    """What a folder holds, from its files: MNIST-format IDX files, the CIFAR-10/100 or STL-10 archives
    (the folder itself or the archive's inner folder inside it), or images (flat, or one subfolder per class).

    Raises:
        DataError: the path does not exist, is a file, or holds none of these.
    """
    from collections import Counter

    folder = existing_folder(data_dir, "the data")
    if _has(folder, "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
            "t10k-images-idx3-ubyte.gz"):
        return DataSource("idx", ("mnist", "fashion-mnist"), str(folder))
    for inner in (folder, folder / "cifar-10-batches-py"):
        if _has(inner, "data_batch_1", "test_batch"):
            return DataSource("cifar10", ("cifar10",), str(folder))
    for inner in (folder, folder / "cifar-100-python"):
        if _has(inner, "train", "test") and _has(inner, "meta"):
            return DataSource("cifar100", ("cifar100",), str(folder))
    for inner in (folder, folder / "stl10_binary"):
        if _has(inner, "test_X.bin", "train_X.bin", "unlabeled_X.bin"):
            return DataSource("stl10", ("stl10",), str(folder))
    files, labels, _, _ = _list_folder(folder)
    from PIL import Image

    step = max(1, len(files) // 200)  # the header of up to ~200 files, spread over the folder: no decoding
    modes: Counter[str] = Counter()
    sides: Counter[int] = Counter()
    first_error = ""
    for f in files[::step]:
        try:
            with Image.open(f) as im:
                modes["gray" if im.mode in GRAY_MODES else "colour"] += 1
                sides[min(im.size)] += 1
        except (OSError, ValueError, SyntaxError) as exc:
            first_error = first_error or f"{f.relative_to(folder)}: {exc}"
            continue  # an unreadable file is reported when the folder is decoded
    if not sides:
        raise DataError(f"none of the {len(files[::step])} images sampled from {folder} could be read (first: "
                        f"{first_error}). Check the files.")
    return DataSource("folder", ("folder",), str(folder), labelled=labels is not None, files=len(files),
                      channels=1 if modes["colour"] == 0 else 3, native_size=sides.most_common(1)[0][0])


DEFAULT_MAX_SIZE = 64  # larger images are resized to this by default: training above it is slow on a CPU


def default_image_size(native: int, sizes: tuple[int, ...]) -> tuple[int, str]:
    """The image size a folder run trains at, and why: the native size when the networks support it, else the
    largest supported size below it, at most DEFAULT_MAX_SIZE (the smallest supported one for tiny images).

    Example:
        >>> default_image_size(32, (8, 16, 28, 32, 48, 64, 96))
        (32, 'native')
        >>> default_image_size(128, (8, 16, 28, 32, 48, 64, 96))[0]
        64
    """
    if native in sizes:
        return native, "native"
    below = [s for s in sizes if s <= min(native, DEFAULT_MAX_SIZE)]
    size = max(below) if below else min(sizes)
    return size, f"resized from {native} px (shorter side, then the centre square)"


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
