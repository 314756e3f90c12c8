import json
import os
import pickle

import pytest
import torch

from gmgan import checkpoint as ckpt
from gmgan.errors import CheckpointError


def _save(run, step, value):
    return ckpt.save_checkpoint(run, step, {"w": torch.full((3,), float(value))}, {"r": torch.zeros(1)},
                                {"note": value}, keep=2)


def test_roundtrip_and_pruning(tmp_path):
    for step in (1, 2, 3):
        _save(tmp_path, step, step)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]
    model, _, state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))
    torch.testing.assert_close(model["w"], torch.full((3,), 3.0))
    assert state["step"] == 3 and state["note"] == 3


def test_every_nth_checkpoint_and_always_the_newest(tmp_path):
    for step in (1000, 2000, 3000, 4000, 4500):
        ckpt.save_checkpoint(tmp_path, step, {"w": torch.zeros(1)}, {}, {}, keep=10)
    assert [ckpt.checkpoint_step(p) for p in ckpt.list_checkpoints(tmp_path, every=2000)] == [2000, 4000, 4500]
    assert len(ckpt.list_checkpoints(tmp_path)) == 5 and ckpt.list_checkpoints(tmp_path / "none", 2) == []


def test_a_write_interrupted_midway_leaves_the_previous_checkpoint_in_charge(tmp_path):
    _save(tmp_path, 1, 1)
    # what a process killed during save_checkpoint leaves behind: a partial temporary folder
    partial = tmp_path / "checkpoints" / ".tmp-step-00000002-1234"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"\x00" * 10)
    latest = ckpt.latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == "step-00000001"
    assert ckpt.load_checkpoint(latest)[2]["note"] == 1
    _save(tmp_path, 2, 2)  # the next save is unaffected by the debris
    assert ckpt.latest_checkpoint(tmp_path).name == "step-00000002"


def test_stale_pointer_falls_back_to_newest_complete(tmp_path):
    _save(tmp_path, 1, 1)
    _save(tmp_path, 2, 2)
    (tmp_path / "checkpoints" / "latest").write_text("step-00000009\n")
    assert ckpt.latest_checkpoint(tmp_path).name == "step-00000002"


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_a_crafted_pickle_is_rejected_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _save(tmp_path, 1, 1)
    evil = pickle.dumps({"w": _Exploit()})
    (path / "model.safetensors").write_bytes(evil)
    with pytest.raises(CheckpointError, match="not a valid safetensors file.*never unpickles"):
        ckpt.load_checkpoint(path)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_corrupt_state_json(tmp_path):
    path = _save(tmp_path, 1, 1)
    (path / "state.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON.*corrupt"):
        ckpt.load_checkpoint(path)


def test_optimizer_state_roundtrip():
    p = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.Adam([p], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        p.pow(2).sum().backward()
        opt.step()
    tensors, info = ckpt.optimizer_state(opt)
    tensors = {k: v.clone() for k, v in tensors.items()}  # as read back from the file: no shared storage
    info = json.loads(json.dumps(info))  # and through JSON
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = torch.optim.Adam([q], lr=0.5)
    ckpt.load_optimizer_state(opt2, tensors, info)
    for o, param in ((opt, p), (opt2, q)):
        o.zero_grad()
        param.pow(2).sum().backward()
        o.step()
    torch.testing.assert_close(p, q)


def test_a_run_shared_without_optimiser_state_still_samples(tmp_path):
    """config.yaml + model.safetensors + state.json are enough for sampling and evaluation."""
    from gmgan.cli import main

    run = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--steps", "2", "--out", str(run), "--set", "model.width=8",
                 "--no-progress"]) == 0
    for f in (run / "checkpoints").glob("step-*/trainer.safetensors"):
        f.unlink()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--no-progress"]) == 2  # resuming needs it
