"""The network a clustering assigns new images with: saved as safetensors + JSON, read back to the same answers."""

import json

import pytest
import torch

from gmgan.assigner import assigner_paths, load_assigner, save_assigner
from gmgan.errors import CheckpointError
from gmgan.evaluate.classifier import DomainClassifier
from gmgan.selftrain import predict as assign


def test_a_saved_assigner_gives_the_same_answers(tmp_path):
    torch.manual_seed(0)
    net = DomainClassifier(3, 7, width=8).eval()
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    save_assigner(tmp_path, 2, net, (3, 16, 16), {"route": "classifier"})
    back, d = load_assigner(tmp_path, 2)
    assert d["clusters"] == 7 and d["image_shape"] == [3, 16, 16] and d["info"] == {"route": "classifier"}
    assert torch.allclose(assign(back, x), assign(net, x))
    assert torch.allclose(assign(back, x).sum(1), torch.ones(5))


def test_a_missing_or_foreign_assigner_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="holds no assigner for seed 0"):
        load_assigner(tmp_path, 0)
    save_assigner(tmp_path, 0, DomainClassifier(1, 3, width=8), (1, 8, 8), {})
    _, meta = assigner_paths(tmp_path, 0)
    meta.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError, match="not a gmgan cluster assigner"):
        load_assigner(tmp_path, 0)
