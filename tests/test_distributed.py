"""Data-parallel training with torchrun on the CPU (gloo): 2 processes train one model on the global batch."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from gmgan.cli import main
from gmgan.config import make_config
from gmgan.distributed import Context, check_divisible, local_slice
from gmgan.errors import ConfigError


def _torchrun(args, nproc=2, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "gmgan", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def _weights(run):
    folder = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    return load_file(str(folder / "model.safetensors")), json.loads((folder / "state.json").read_text())


@pytest.mark.parametrize("loss", ["ns", "wgan-gp"])
def test_two_processes_train_the_one_process_model_on_the_same_global_batch(tmp_path, loss):
    common = ["train", "--preset", "toy-grid5", "--loss", loss, "--steps", "12", "--no-progress",
              "--set", "train.checkpoint_every=6", "--set", "train.log_every=4", "--set", "model.width=32",
              "--set", "train.sample_every=0"]
    two = _torchrun([*common, "--out", str(tmp_path / "two")])
    assert two.returncode == 0, two.stderr[-3000:]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    w2, state2 = _weights(tmp_path / "two")
    w1, state1 = _weights(tmp_path / "one")
    assert state2["world_size"] == 2 and state1["world_size"] == 1
    # MLPs have no batch statistics, so averaging the two halves' gradients is the global batch's gradient
    for key in w1:
        assert torch.allclose(w1[key], w2[key], atol=1e-5), key
    # rank 0 alone wrote the log: one line per log step, not two
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [4, 8, 12]


def test_two_processes_with_batchnorm_stay_identical_and_resume(tmp_path):
    """DCGAN with BatchNorm: ranks keep their own batch statistics; the checkpoint holds averaged buffers and
    the built-in check (weights of every rank equal to rank 0's) would fail the run otherwise."""
    run = tmp_path / "dcgan"
    args = ["train", "--preset", "digits", "--steps", "6", "--out", str(run), "--no-progress",
            "--set", "model.width=8", "--set", "train.checkpoint_every=3", "--set", "train.sample_every=0"]
    done = _torchrun(args)
    assert done.returncode == 0, done.stderr[-3000:]
    again = _torchrun(["train", "--out", str(run), "--resume", "--steps", "9", "--no-progress"])
    assert again.returncode == 0, again.stderr[-3000:]
    _, state = _weights(run)
    assert state["step"] == 9 and state["world_size"] == 2


def test_global_batch_must_divide_across_processes():
    check_divisible(Context(0, 2), b_D=64, b_G=128)
    with pytest.raises(ConfigError, match="train.b_D = 63 .* across the 2 processes"):
        check_divisible(Context(0, 2), b_D=63)
    t = torch.arange(8)
    assert local_slice(t, Context(1, 4)).tolist() == [2, 3] and local_slice(t, Context()).tolist() == list(range(8))
    assert make_config("digits").train.b_D % 2 == 0
