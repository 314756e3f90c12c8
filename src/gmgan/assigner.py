"""The network a clustering assigns new images with, saved beside ``gmgan cluster``'s results (safetensors + JSON,
never pickle), so that images it has not seen can be placed in its clusters later (``gmgan explore``'s Your image
tab). Saved for the routes whose last step is a trained CNN (:class:`gmgan.evaluate.classifier.DomainClassifier`):
GM-GAN's Algorithm 2 on images, ``--refine`` and ``--self-train``. Its soft scores of new images:
:func:`gmgan.selftrain.predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from gmgan.errors import CheckpointError

FORMAT = "gmgan-cluster-assigner/1"


def assigner_paths(folder: str | Path, seed: int | str) -> tuple[Path, Path]:
    """(weights, description) of seed ``seed``'s assigner in a cluster folder."""
    stem = Path(folder) / f"assigner-seed{seed}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_assigner(folder: str | Path, seed: int | str, model: nn.Module, image_shape: tuple[int, ...],
                  info: dict[str, Any]) -> Path:
    """Write seed ``seed``'s DomainClassifier (weights and what rebuilds it) into ``folder``; returns the weights'
    path. ``image_shape``: (C, H, W) of the images it reads, in [-1, 1]."""
    from safetensors.torch import save_file

    from gmgan.checkpoint import atomic_write_text
    from gmgan.evaluate.classifier import DomainClassifier

    if not isinstance(model, DomainClassifier):
        raise TypeError(f"only DomainClassifier assigners are saved, not {type(model).__name__}")
    weights, meta = assigner_paths(folder, seed)
    description = {"format": FORMAT, "architecture": "DomainClassifier", "channels": int(image_shape[0]),
                   "clusters": int(model.num_classes), "width": int(model.width), "feature_dim": int(model.feature_dim),
                   "image_shape": [int(s) for s in image_shape], "value_range": "[-1, 1]", "seed": seed,
                   "info": info}
    tmp = weights.with_suffix(".safetensors.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(weights)
    atomic_write_text(meta, json.dumps(description, indent=1, default=str) + "\n")
    return weights


def load_assigner(folder: str | Path, seed: int | str, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """(network in eval mode, description) of a saved assigner; CheckpointError when it is missing or unreadable."""
    from gmgan.checkpoint import load_module, load_tensors
    from gmgan.evaluate.classifier import DomainClassifier

    weights, meta = assigner_paths(folder, seed)
    if not weights.is_file() or not meta.is_file():
        raise CheckpointError(f"{folder} holds no assigner for seed {seed} ({weights.name}); run gmgan cluster "
                              "again with this version to write it.")
    try:
        d = json.loads(meta.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{meta} is not readable JSON ({exc}).") from None
    if d.get("format") != FORMAT or d.get("architecture") != "DomainClassifier":
        raise CheckpointError(f"{meta} is not a gmgan cluster assigner this version reads (format "
                              f"{d.get('format')!r}).")
    model = DomainClassifier(int(d["channels"]), int(d["clusters"]), int(d["width"]), int(d["feature_dim"]))
    load_module(model, load_tensors(weights), "assigner", weights)
    return model.to(device).eval(), d

