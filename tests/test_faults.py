"""Surviving faults: a training process killed with SIGKILL resumes to exactly the uninterrupted weights."""

import os
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from gmgan.cli import main

ARGS = ["--preset", "toy-grid5", "--steps", "300", "--no-progress", "--set", "model.width=32",
        "--set", "train.checkpoint_every=40", "--set", "train.sample_every=0", "--set", "train.log_every=20"]


def _final(run):
    name = (run / "checkpoints" / "latest").read_text().strip()
    return name, load_file(str(run / "checkpoints" / name / "model.safetensors"))


def test_kill_9_then_resume_ends_with_the_uninterrupted_weights(tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "gmgan", "train", *ARGS, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for two checkpoints, then kill without warning
        if len(list((killed / "checkpoints").glob("step-*"))) >= 2 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed: raise --steps"
    assert main(["train", "--out", str(killed), "--resume", "--no-progress"]) == 0
    assert main(["train", *ARGS, "--out", str(tmp_path / "straight")]) == 0
    (name_a, a), (name_b, b) = _final(killed), _final(tmp_path / "straight")
    assert name_a == name_b == "step-00000300"
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    steps = [line.split(",")[0] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == len(set(steps)) == 15  # no log line twice, none missing


def test_stopping_a_batch_stops_its_runs_with_a_checkpoint_where_they_were(tmp_path):
    """bench/run_batch.py, stopped (a session's end, a scheduler's SIGTERM): the training in flight gets SIGTERM,
    checkpoints the step it is at, nothing more starts, and the batch leaves no orphan behind."""
    jobs = tmp_path / "jobs.txt"
    jobs.write_text("toy: --preset toy-grid5 --latent-dim 4 --set data.n_samples=200 --set model.width=16 "
                    "--set train.checkpoint_every=100000 --set train.sample_every=0 --set train.log_every=5\n"
                    "never: --preset toy-grid5 --steps 10\n")
    out = tmp_path / "out"
    script = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "run_batch.py")
    proc = subprocess.Popen([sys.executable, script, str(jobs), "--out", str(out), "--steps", "100000",
                             "--parallel", "1", "--eval-n", "100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # stop it once its run has logged a few steps
        log = out / "toy" / "metrics.jsonl"
        if log.exists() and log.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    stopped_at = int((out / "toy" / "checkpoints" / "latest").read_text().strip().split("-")[1])
    assert 0 < stopped_at < 100_000  # written by the stop, not by the schedule
    assert not (out / "never").exists() and not (out / "batch.json").exists()
    assert not (out / "toy" / "evaluation.json").exists()
    size = (out / "toy" / "metrics.jsonl").stat().st_size
    time.sleep(1.0)
    assert (out / "toy" / "metrics.jsonl").stat().st_size == size  # the training process is gone too
