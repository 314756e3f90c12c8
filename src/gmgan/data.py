"""Datasets as tensors in [-1, 1] with optional labels. Nothing is downloaded at run time.

* ``toy-grid3``: GM-GAN Section 4.1, 9 Gaussians at {-1, 0, 1}^2 with covariance 0.1 I (std 0.316).
* ``toy-grid5``: the 5x5 grid of GAEL's toy example and of the usual 2-D benchmark, means {-4,-2,0,2,4}^2,
  std 0.05.
* ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside scikit-learn); a fixed
  80/20 train/test split.
* ``mnist`` / ``fashion-mnist``: a folder with the standard IDX files (``train-images-idx3-ubyte`` etc.,
  gzipped or not).
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gmgan import datasets as ds
from gmgan.datasets import IMAGE_SUFFIXES, to_model_range
from gmgan.errors import DataError
from gmgan.nets import IMAGE_SIZES

FOLDER_SPLITS = ("train", "test", "all")


@dataclass(frozen=True)
class ToyGrid:
    """A homogeneous mixture of isotropic Gaussians on a square grid: the toy data's true distribution."""

    size: int  # modes per side
    spacing: float  # distance between neighbouring modes
    std: float  # per-coordinate standard deviation of each mode

    @property
    def means(self) -> Tensor:
        """(size^2, 2) mode centres, row-major, centred on the origin."""
        axis = (torch.arange(self.size, dtype=torch.float32) - (self.size - 1) / 2) * self.spacing
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([gx.flatten(), gy.flatten()], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """n points and the index of the mode each was drawn from."""
        M = self.size**2
        y = torch.randint(M, (n,), generator=generator)
        x = self.means[y] + self.std * torch.randn(n, 2, generator=generator)
        return x, y

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) under the true mixture, (n,)."""
        sq = torch.cdist(x.double(), self.means.double()).pow(2)  # (n, M)
        log_comp = -0.5 * sq / self.std**2 - math.log(2 * math.pi * self.std**2)
        return (torch.logsumexp(log_comp, dim=1) - math.log(self.size**2)).float()


TOY_GRIDS = {
    "toy-grid3": ToyGrid(size=3, spacing=1.0, std=math.sqrt(0.1)),
    "toy-grid5": ToyGrid(size=5, spacing=2.0, std=0.05),
}


def content_hash(x: np.ndarray, y: Tensor | None) -> str:
    """Short sha256 of an array's shape and bytes and of the labels: the one fingerprint of training data
    (the evaluation classifier's cache key, the check that a resumed run reads its own data)."""
    import hashlib

    h = hashlib.sha256(str(tuple(x.shape)).encode())
    h.update(memoryview(np.ascontiguousarray(x)).cast("B"))  # type: ignore[arg-type]
    if y is not None:
        h.update(y.contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


@dataclass
class Dataset:
    """Training data: ``x`` (N, ...) float32 in [-1, 1] for images (raw coordinates for points)."""

    name: str
    x: Tensor
    y: Tensor | None = None  # (N,) int64 class labels, used only where a method or a metric needs them
    num_classes: int | None = None
    grid: ToyGrid | None = None  # the true distribution of a toy dataset
    class_names: list[str] | None = None  # label index -> the dataset's own label (differs after a class subset)
    names: list[str] | None = None  # each sample's file, relative to the data folder (image folders); else None

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    def fingerprint(self) -> str:
        """sha256 of the samples and labels: the same data moved to another folder keep their fingerprint."""
        return content_hash(self.x.contiguous().numpy(), self.y)

    def batch(self, idx: Tensor) -> Tensor:
        """The float samples at ``idx`` (what the trainer reads each step)."""
        return self.x[idx]


class LazyImages(Dataset):
    """Images kept as uint8 (a memory-mapped array for folders), turned into float [-1, 1] one batch at a time.

    Training reads only :meth:`batch`, so a 100,000-image set at 64 px costs 1.2 GB of (page-cached) uint8
    rather than 4.9 GB of float32. ``x`` still works for code that wants everything at once (evaluation's
    reference sets): it converts the whole set on first use and keeps it.
    """

    def __init__(self, name: str, images: np.ndarray, y: Tensor | None, num_classes: int | None,
                 class_names: list[str] | None, size: int | None, channels: int | None,
                 names: list[str] | None = None) -> None:
        self.images, self.size, self.channels = images, size, channels
        self._x: Tensor | None = None
        super().__init__(name, None, y, num_classes, None, class_names, names)  # type: ignore[arg-type]

    @property
    def x(self) -> Tensor:
        if self._x is None:
            self._x = self.batch(torch.arange(len(self.images)))
        return self._x

    @x.setter
    def x(self, value: Tensor | None) -> None:
        self._x = value

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def fingerprint(self) -> str:
        return content_hash(self.images, self.y)  # the uint8 images: no float copy of the set

    @property
    def shape(self) -> tuple[int, ...]:
        c, h = self.images.shape[1], self.images.shape[2]
        return (self.channels or c, self.size or h, self.size or h)

    @property
    def is_image(self) -> bool:
        return True

    def batch(self, idx: Tensor) -> Tensor:

        if self._x is not None:
            return self._x[idx]
        rows = np.asarray(idx.cpu().numpy(), dtype=np.int64)
        return to_model_range(np.asarray(self.images[rows]), self.size, self.channels)


IDX_DTYPES: dict[int, Any] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def write_idx(path: str | Path, array: Any, gz: bool | None = None) -> Path:
    """Write ``array`` as an IDX file of unsigned bytes (the MNIST format; gzipped when ``gz``, by default when
    the name ends in .gz). The inverse of :func:`read_idx` for uint8 data: tests and benchmarks make their own
    small MNIST folders with it."""
    path = Path(path)
    a = np.asarray(array)
    header = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape)
    data = header + a.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if (path.suffix == ".gz" if gz is None else gz) else data)
    return path


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array, checking its header against its length.

    Raises:
        DataError: the file is missing, truncated, or not IDX, with the file's name and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist.")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(
                f"{path} is a corrupt or truncated gzip file ({exc}). Replace it with a good copy."
            ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES or raw[3] == 0:
        raise DataError(f"{path} is not an IDX file: it should start with 0x00 0x00, a type code and a rank.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: its header needs {header} bytes, the file has {len(raw)}.")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path} has {len(raw)} bytes but its header (shape {dims}) says {expected}: the file is "
            "truncated or corrupt. Replace it with a good copy."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{stem}[.gz] not found in {folder}. Put the standard IDX files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, gzipped or not) there "
        "and pass the folder with --data-dir."
    )


def load_idx_folder(folder: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) uint8 and labels (N,) of an MNIST-format folder."""
    folder = ds.existing_folder(folder, "the IDX files")
    prefix = "train" if split == "train" else "t10k"
    img_path, lbl_path = _find(folder, f"{prefix}-images-idx3-ubyte"), _find(folder, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3:
        raise DataError(f"{img_path} should hold images (N, H, W); it holds an array of shape {images.shape}.")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{lbl_path} should hold {images.shape[0]} labels to match {img_path}; it holds shape {labels.shape}."
        )
    return images, labels


def _to_unit_range(images: np.ndarray, maximum: float) -> Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)) / maximum
    return (x * 2 - 1).unsqueeze(1)  # (N, 1, H, W) in [-1, 1]


def _resize(x: Tensor, size: int | None) -> Tensor:
    if size is None or x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(-1, 1)


def load_digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, (N, 8, 8) in [0, 16], with a fixed 80/20 split (seed 0)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    order = np.random.RandomState(0).permutation(len(bunch.target))
    cut = int(0.8 * len(order))
    idx = order[:cut] if split == "train" else order[cut:]
    return bunch.images[idx], bunch.target[idx]


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    split: str = "train",
    n_samples: int = 5000,
    image_size: int | None = None,
    seed: int = 0,
    channels: int | None = None,
) -> Dataset:
    """Load a dataset by name (see the module docstring). Toy points are drawn with ``seed``.

    ``channels`` (1 or 3) converts colour images to grayscale or the reverse; None keeps the dataset's own."""
    if name in TOY_GRIDS:
        grid = TOY_GRIDS[name]
        # the test split is a fresh draw from the same distribution
        x, y = grid.sample(n_samples, torch.Generator().manual_seed(seed + (0 if split == "train" else 10_007)))
        return Dataset(name, x, y, grid.size**2, grid)
    if name == "digits":
        images, labels = load_digits(split)
        x = _resize(_to_unit_range(images, 16.0), image_size)
        return Dataset(name, x, torch.from_numpy(labels).long(), 10)
    if name in ("mnist", "fashion-mnist"):
        if data_dir is None:
            raise DataError(
                f"data.name {name!r} reads IDX files from a folder: pass it with --data-dir DIR "
                "(the folder that holds train-images-idx3-ubyte and the other IDX files)."
            )
        images, labels = load_idx_folder(data_dir, split)
        x = _resize(_to_unit_range(images, 255.0), image_size)
        y = torch.from_numpy(labels.astype(np.int64))
        if y.numel() and (y.min() < 0 or y.max() > 9):
            raise DataError(f"labels in {data_dir} must be 0-9 for {name}; found {int(y.min())}..{int(y.max())}.")
        return Dataset(name, x, y, 10)
    if name in ("cifar10", "cifar100", "stl10", "folder"):
        return _load_real(name, data_dir, split, image_size, channels)
    raise DataError(f"Unknown dataset {name!r}.")


def _load_real(name: str, data_dir: str | Path | None, split: str, image_size: int | None,
               channels: int | None) -> Dataset:
    """CIFAR-10/100, STL-10 and image folders (gmgan.datasets), as float images in [-1, 1]."""

    names: list[str] | None = None
    files: list[str] | None = None
    labels: np.ndarray | None
    if name in ("cifar10", "cifar100"):
        if split not in ("train", "test"):
            raise DataError(f"{name} has the splits train and test. Got {split!r}.")
        images, labels, names = ds.load_cifar(name, data_dir, split)
    elif name == "stl10":
        if split not in ("train", "test", "unlabeled"):
            raise DataError(f"stl10 has the splits train, test and unlabeled. Got {split!r}.")
        images, labels = ds.load_stl10(data_dir, split)
    else:  # a folder: 90% train, 10% test, split by a fixed permutation of the sorted files; "all" = every file
        if split not in FOLDER_SPLITS:
            raise DataError(f"an image folder has the splits {', '.join(FOLDER_SPLITS)} (90/10, and both). "
                            f"Got {split!r}.")
        if image_size is None or channels is None:
            source = ds.detect(data_dir) if data_dir is not None else None
            if source is not None and source.kind == "folder":
                channels = channels or source.channels
                image_size = image_size or ds.default_image_size(source.native_size or 64, IMAGE_SIZES)[0]
        size = image_size or 64
        folder = ds.read_folder(data_dir, channels or 3, size)
        images, labels, names = folder.images, folder.labels, folder.class_names
        order = np.random.RandomState(0).permutation(len(images))
        cut = max(1, int(0.9 * len(order))) if len(order) > 1 else len(order)
        idx = np.arange(len(images)) if split == "all" else np.sort(order[:cut] if split == "train" else order[cut:])
        images = images if split == "all" else images[idx]  # "all" stays memory-mapped
        labels = labels[idx] if labels is not None else None
        files = [folder.files[i] for i in idx]
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)) if labels is not None else None
    n_classes = len(names) if names else (int(y.max()) + 1 if y is not None and y.numel() else None)
    if len(images) == 0:
        raise DataError(f"the {split} split of {name} in {data_dir} is empty.")
    return LazyImages(name, images, y, n_classes, names, image_size, channels, files)


def select_classes(data: Dataset, spec: str) -> Dataset:
    """Keep the classes listed in ``spec`` ("3,5,8"), relabelled 0..n-1 in that order; names are kept.

    Example:
        >>> ds = Dataset("t", torch.zeros(4, 2), torch.tensor([0, 1, 2, 1]), 3)
        >>> sub = select_classes(ds, "2,1")
        >>> sub.y.tolist(), sub.class_names
        ([1, 0, 1], ['2', '1'])
    """
    names = _names(data)
    wanted = [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in names]
    if not wanted or unknown or len(set(wanted)) != len(wanted):
        raise DataError(
            f"data.classes {spec!r} must list distinct classes of {data.name} separated by commas; "
            f"{'unknown: ' + ', '.join(unknown) if unknown else 'none given or repeated'}. "
            f"Its classes: {', '.join(names)}."
        )
    assert data.y is not None
    old = torch.tensor([names.index(c) for c in wanted])
    new_label = torch.full((len(names),), -1, dtype=torch.long)
    new_label[old] = torch.arange(len(old))
    keep = new_label[data.y] >= 0
    return Dataset(data.name, data.x[keep], new_label[data.y[keep]], len(wanted), data.grid, wanted)


def make_imbalanced(data: Dataset, spec: str, seed: int = 0) -> Dataset:
    """Subsample classes to fixed counts: "dominant=1,others=1000" (Responsibility paper, Section III-E: one
    class kept whole, 1,000 random images of every other), or per class "3=500,7=all,others=100".
    Classes not named and without ``others`` are kept whole. The draw is seeded, so a run can rebuild it.

    Example:
        >>> ds = Dataset("t", torch.zeros(9, 2), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]), 3)
        >>> make_imbalanced(ds, "dominant=0,others=1").y.tolist()
        [0, 0, 0, 1, 2]
    """
    names = _names(data)
    assert data.y is not None
    counts: dict[int, int | None] = {}  # class index -> images to keep (None = all)
    others: int | None = None
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        key, has_equals, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key == "dominant":
            key, value = value, "all"
        try:
            count = None if value == "all" else int(value)
        except ValueError:
            count = -1
        if (count is not None and count < 0) or not has_equals:
            raise DataError(
                f"data.imbalance part {part!r} must be CLASS=COUNT, CLASS=all, dominant=CLASS or others=COUNT "
                "(e.g. 'dominant=1,others=1000')."
            )
        if key == "others":
            others = count
        elif key in names:
            counts[names.index(key)] = count
        else:
            raise DataError(
                f"data.imbalance names class {key!r}, which {data.name} does not have ({', '.join(names)})."
            )
    g = torch.Generator().manual_seed(seed)
    keep = []
    for m in range(len(names)):
        idx = torch.nonzero(data.y == m).flatten()
        want = counts.get(m, others)
        if want is not None and want < idx.numel():
            idx = idx[torch.randperm(idx.numel(), generator=g)[:want]].sort().values
        keep.append(idx)
    order = torch.cat(keep).sort().values
    if order.numel() == 0:
        raise DataError(f"data.imbalance {spec!r} keeps no images. Raise the counts.")
    return Dataset(data.name, data.x[order], data.y[order], data.num_classes, data.grid, data.class_names)


def _names(data: Dataset) -> list[str]:
    if data.y is None or data.num_classes is None:
        raise DataError(f"{data.name} has no labels, so classes cannot be selected or rebalanced.")
    return data.class_names or [str(m) for m in range(data.num_classes)]


def load_from_config(cfg: Any, seed: int, split: str | None = None, imbalance: bool = True,
                     data_dir: str | Path | None = None) -> Dataset:
    """The dataset a run's ``data`` config describes: the named set, then its class subset, then (training
    data only, unless asked otherwise) its imbalance. ``split`` and ``data_dir`` override the config's;
    a ``data_dir`` that holds other data than the config names is refused, naming both.
    """
    if data_dir is not None and cfg.name in ds.KIND_OF:
        source = ds.detect(data_dir)
        if cfg.name not in source.names:
            raise DataError(f"this run's data are {cfg.name} (data.name), but --data-dir {data_dir} holds "
                            f"{source.describe()}. Pass the folder the run was trained on.")
    data = load_dataset(cfg.name, data_dir or cfg.data_dir, split or cfg.split, cfg.n_samples, cfg.image_size, seed,
                        getattr(cfg, "channels", None))
    if cfg.classes:
        data = select_classes(data, cfg.classes)
    if imbalance and cfg.imbalance:
        data = make_imbalanced(data, cfg.imbalance, seed)
    return data


class BatchSampler:
    """Endless shuffled batches by index, resumable: its state is a generator state, a permutation and a cursor.

    Epochs are reshuffled with its own generator, so data order never depends on global RNG state.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.generator)
        self.cursor = 0

    def next(self, batch_size: int) -> Tensor:
        parts, need = [], batch_size
        while need > 0:
            if self.cursor >= self.n:
                self.perm, self.cursor = torch.randperm(self.n, generator=self.generator), 0
            take = self.perm[self.cursor : self.cursor + need]
            parts.append(take)
            self.cursor += take.numel()
            need -= take.numel()
        return torch.cat(parts)

    def state(self) -> tuple[dict[str, Tensor], dict[str, int]]:
        return {"perm": self.perm, "generator": self.generator.get_state()}, {"cursor": self.cursor}

    def load_state(self, tensors: dict[str, Tensor], info: dict[str, int]) -> None:
        self.perm = tensors["perm"].clone()
        self.generator.set_state(tensors["generator"].clone())
        self.cursor = int(info["cursor"])




def load_images(path: str | Path, channels: int, size: int) -> tuple[Tensor, list[str]]:
    """Images a user points at, as a run sees them: (N, channels, size, size) in [-1, 1], and their names.

    ``path``: a folder of image files (read in name order; converted to grayscale or RGB and resized to
    ``size`` x ``size``), a ``.npy`` array of shape (N, H, W) or (N, C, H, W) with values in [0, 255] (read
    without pickle), or an IDX image file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)}). Point to a folder of images.")
        arrays = []
        for f in files:
            try:
                with Image.open(f) as im:
                    rgb = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
                    arrays.append(np.asarray(rgb, dtype=np.float32))
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{f} is not a readable image ({exc}). Remove or replace it.") from exc
        x = np.stack(arrays)
        x = x[:, None] if channels == 1 else x.transpose(0, 3, 1, 2)
        names = [f.name for f in files]
    elif path.is_file():
        if path.suffix == ".npy":
            try:
                x = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise DataError(f"{path} is not a readable .npy array ({exc}).") from exc
        else:
            x = read_idx(path)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != channels:
            raise DataError(f"{path} holds an array of shape {x.shape}; this run needs (N, {channels}, H, W) "
                            f"{'or (N, H, W) ' if channels == 1 else ''}images.")
        names = [str(i) for i in range(x.shape[0])]
    else:
        raise DataError(f"{path} does not exist. Give a folder of images, a .npy array or an IDX file.")
    t = torch.from_numpy(np.ascontiguousarray(x)) / 255.0 * 2 - 1
    return _resize(t, size).clamp(-1, 1), names
