"""What a new user trips over (one test per repro command): failed starts, relative paths, --resume on the
wrong folder, Ctrl-C, tracebacks instead of messages, silent surprises, help text."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.torch import load_file

from gmgan.cli import main

SMALL = ["--steps", "2", "--set", "model.width=8", "--set", "train.b_D=8", "--set", "train.b_G=8",
         "--set", "train.log_every=1", "--set", "train.sample_every=0", "--no-progress"]
TOY = ["--preset", "toy-grid5", "--latent-dim", "4", "--set", "data.n_samples=200", "--set", "model.width=16",
       "--set", "model.depth=2", "--set", "train.b_D=16", "--set", "train.b_G=16", "--set", "train.log_every=5",
       "--no-progress"]


def _write_idx(path, array):
    array = np.asarray(array)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_dir(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.randint(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return folder


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------------------- runs and folders
@pytest.mark.parametrize("bad", [["--data-dir", "{tmp}/nope"], ["--data-dir", "{mnist}", "--classes", "3,5,11"],
                                 ["--data-dir", "{mnist}", "--supervised", "--K", "5"]])
def test_a_failed_start_leaves_the_folder_reusable(bad, mnist_dir, tmp_path, capsys):
    run = tmp_path / "b"
    bad = [a.replace("{tmp}", str(tmp_path)).replace("{mnist}", str(mnist_dir)) for a in bad]
    code, _, err = _run(["train", "--preset", "mnist", "--out", run, *SMALL, *bad], capsys)
    assert code == 2 and "Traceback" not in err
    assert not (run / "config.yaml").exists()
    code, _, err = _run(["train", "--preset", "mnist", "--data-dir", mnist_dir, "--out", run, *SMALL], capsys)
    assert code == 0, err


def test_a_config_left_by_an_older_failed_start_does_not_block_the_folder(mnist_dir, tmp_path, capsys):
    run = tmp_path / "b"
    run.mkdir()
    (run / "config.yaml").write_text("method: gmgan\n")  # what a failed start used to leave
    code, _, err = _run(["train", "--preset", "mnist", "--data-dir", mnist_dir, "--out", run, *SMALL], capsys)
    assert code == 0, err


def test_a_trained_run_is_still_protected(mnist_dir, tmp_path, capsys):
    run = tmp_path / "b"
    assert _run(["train", "--preset", "mnist", "--data-dir", mnist_dir, "--out", run, *SMALL], capsys)[0] == 0
    code, _, err = _run(["train", "--preset", "mnist", "--data-dir", mnist_dir, "--out", run, *SMALL], capsys)
    assert code == 2 and "already holds a run" in err


def test_relative_data_dir_is_stored_resolved_and_resume_works_elsewhere(mnist_dir, tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _run(["train", "--preset", "mnist", "--data-dir", "mnist", "--out", "b", *SMALL], capsys)[0] == 0
    saved = (tmp_path / "b" / "config.yaml").read_text()
    assert f"data_dir: {mnist_dir}" in saved
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = _run(["train", "--out", tmp_path / "b", "--resume", "--steps", "3", "--no-progress"], capsys)
    assert code == 0, err
    assert "resumed" in out and "from step 2" in out


def test_resume_accepts_the_same_data_moved_and_refuses_other_data(mnist_dir, tmp_path, capsys):
    run = tmp_path / "b"
    assert _run(["train", "--preset", "mnist", "--data-dir", mnist_dir, "--out", run, *SMALL], capsys)[0] == 0
    moved = tmp_path / "moved"
    mnist_dir.rename(moved)
    code, _, err = _run(["train", "--out", run, "--resume", "--steps", "3", "--data-dir", moved, "--no-progress"],
                        capsys)
    assert code == 0, err
    assert f"data_dir: {moved}" in (run / "config.yaml").read_text()
    other = tmp_path / "other"
    other.mkdir()
    for f in moved.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    _write_idx(other / "train-labels-idx1-ubyte", (np.arange(40) + 1) % 10)
    code, _, err = _run(["train", "--out", run, "--resume", "--steps", "4", "--data-dir", other, "--no-progress"],
                        capsys)
    assert code == 2 and "differ from those the run was trained on" in err


def test_resume_on_a_missing_folder_creates_nothing(tmp_path, capsys):
    code, _, err = _run(["train", "--out", tmp_path / "typo", "--resume"], capsys)
    assert code == 2 and "holds no run" in err
    assert not (tmp_path / "typo").exists()


def test_resume_past_the_requested_steps_says_so(tmp_path, capsys):
    run = tmp_path / "t"
    assert _run(["train", *TOY, "--steps", "10", "--out", run], capsys)[0] == 0
    code, out, _ = _run(["train", "--out", run, "--resume", "--steps", "5", "--no-progress"], capsys)
    assert code == 0
    assert "already at step 10" in out and "nothing to train" in out
    assert "steps: 10" in (run / "config.yaml").read_text()  # the run keeps its own length


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_writes_a_checkpoint_at_the_current_step_then_resume_is_exact(signum, code, tmp_path):
    args = [*TOY, "--steps", "400", "--set", "train.checkpoint_every=1000", "--set", "train.sample_every=0"]
    run = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "gmgan", "train", *args, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # stop it once it has logged a few steps
        log = run / "metrics.jsonl"
        if log.exists() and log.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "--resume" in err and "Traceback" not in err
    stopped_at = int((run / "checkpoints" / "latest").read_text().strip().split("-")[1])
    assert 0 < stopped_at < 400  # not lost: a checkpoint of the step it was at, not of step 0 or 1000
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "straight")]) == 0
    a = load_file(str(run / "checkpoints" / "step-00000400" / "model.safetensors"))
    b = load_file(str(tmp_path / "straight" / "checkpoints" / "step-00000400" / "model.safetensors"))
    assert all(bool((a[k] == b[k]).all()) for k in a)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == len(set(steps))
