"""Checkpoints as data, never code: tensors in safetensors, everything else in JSON.

Layout of ``RUN/checkpoints``::

    step-00001000/model.safetensors    G.*, D.*, prior.* (what ``sample`` and later commands need)
    step-00001000/trainer.safetensors  optimiser moments, RNG states, the data order
    step-00001000/state.json           step, config, optimiser hyper-parameters, format version
    latest                             name of the newest complete checkpoint

A checkpoint is written into a temporary folder, flushed, then renamed into place, and only then does
``latest`` (itself replaced atomically) point at it; a process killed mid-write leaves the previous good
checkpoint untouched. Nothing here calls ``pickle`` or ``torch.load``: a crafted file cannot run code.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from gmgan.errors import CheckpointError

FORMAT = "gmgan-checkpoint"
VERSION = 1


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _save_tensors(tensors: dict[str, Tensor], path: Path) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def prefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimiser's state_dict into tensors (safetensors) and plain values (JSON)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], info: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *info["scalars"].items()]:
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def write_dir_atomically(dest: Path, write: Callable[[Path], None], replace: bool = True) -> bool:
    """Fill a temporary sibling folder with ``write(tmp)``, flush it, then rename it to ``dest``.

    A reader never sees a half-written ``dest``. With ``replace`` an existing ``dest`` is moved aside first and
    deleted only once the new one is in place; without it an existing ``dest`` wins (another process wrote the
    same entry first) and the new copy is dropped. Returns True when ``dest`` now holds what ``write`` wrote.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        _fsync_dir(tmp)
        old = dest.parent / f".old-{dest.name}-{os.getpid()}"
        if dest.exists():
            if not replace:
                shutil.rmtree(tmp, ignore_errors=True)
                return False
            os.replace(dest, old)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: dict[str, Tensor],
    trainer: dict[str, Tensor],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` atomically, point ``latest`` at it, then prune all but ``keep``."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    final = ckpt_dir / name

    def write(tmp: Path) -> None:
        _save_tensors(model, tmp / "model.safetensors")
        _save_tensors(trainer, tmp / "trainer.safetensors")
        _write_json(tmp / "state.json", {"format": FORMAT, "version": VERSION, "step": step, **state})

    # the same step written again after a resume replaces the older copy, only once the new one is complete
    write_dir_atomically(final, write)
    atomic_write_text(ckpt_dir / "latest", name + "\n")
    _fsync_dir(ckpt_dir)
    for old in sorted(list_checkpoints(run_dir))[:-keep]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path, every: int = 1) -> list[Path]:
    """Complete checkpoint folders, oldest first (temporary folders of interrupted writes are ignored).

    ``every``: only those whose step is a multiple of it, and always the newest (a coarser curve over training).
    """
    if every < 1:
        raise ValueError(f"every must be a whole number of steps >= 1. Got {every}.")
    ckpt_dir = Path(run_dir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return []
    paths = sorted(p for p in ckpt_dir.glob("step-*") if (p / "state.json").is_file())
    return [p for p in paths if checkpoint_step(p) % every == 0 or p == paths[-1]]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The folder ``latest`` names, or the newest complete one when the pointer is missing or stale."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    pointer = ckpt_dir / "latest"
    if pointer.is_file():
        target = ckpt_dir / pointer.read_text().strip()
        if (target / "state.json").is_file():
            return target
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def checkpoint_step(path: str | Path) -> int:
    """The step of a checkpoint folder, from its name (step-00001000 -> 1000)."""
    return int(Path(path).name.split("-")[1])


def checkpoint_at(run_dir: str | Path, step: int) -> Path:
    """The kept checkpoint folder of ``step``, or a CheckpointError naming the steps that were kept."""
    kept = {checkpoint_step(p): p for p in list_checkpoints(run_dir)}
    if step in kept:
        return kept[step]
    shown = ", ".join(map(str, list(kept)[:12])) + (", ..." if len(kept) > 12 else "")
    raise CheckpointError(
        f"{run_dir} kept no checkpoint of step {step}; kept steps: {shown or 'none'}. Pick one of those "
        "(train with --set train.keep_checkpoints=N to keep more).")


def load_checkpoint(
    path: str | Path, trainer: bool = True
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]]:
    """(model tensors, trainer tensors, state) of one checkpoint folder, with clear errors if corrupt.

    ``trainer=False`` skips the optimiser and RNG states (empty dict): sampling and evaluation need only the
    weights, so a run shared as config.yaml + model.safetensors + state.json still works.
    """
    path = Path(path)
    state_file = path / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except FileNotFoundError as exc:
        raise CheckpointError(f"{state_file} is missing: {path} is not a gmgan checkpoint.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{state_file} is not valid JSON ({exc}): the checkpoint is corrupt. Delete {path} to fall back "
            "to the previous checkpoint, or start a new run."
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{state_file} is not a gmgan checkpoint (no format {FORMAT!r}).")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} was written by a newer gmgan (format version {state['version']}); upgrade gmgan to read it."
        )
    trainer_tensors = load_tensors(path / "trainer.safetensors") if trainer else {}
    return load_tensors(path / "model.safetensors"), trainer_tensors, state


def load_tensors(path: str | Path) -> dict[str, Tensor]:
    """Read a safetensors file; anything else (a pickle, a truncated file) is refused, never executed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} is not a valid safetensors file ({exc}). gmgan never unpickles files; if this is a "
            "checkpoint from another tool, convert its weights to safetensors."
        ) from exc


def load_module(module: nn.Module, tensors: dict[str, Tensor], what: str, source: Path | str) -> None:
    """load_state_dict with a message that says which model the checkpoint does not match."""
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise CheckpointError(
            f"The {what} weights in {source} do not fit this model ({' '.join(first)[:300]}...). The "
            "checkpoint comes from a different config; point the command at the run that wrote it."
        ) from exc
