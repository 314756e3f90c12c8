import json

import pytest
from PIL import Image
from safetensors.torch import load_file

from gmgan.cli import main

TINY = ["--set", "data.n_samples=300", "--set", "model.width=16", "--set", "model.depth=2",
        "--set", "train.b_D=32", "--set", "train.b_G=32", "--set", "train.log_every=5", "--no-progress"]


@pytest.fixture
def toy_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "toy-grid5", "--steps", "10", "--latent-dim", "4", "--out", str(run), *TINY]) == 0
    (tmp_path / "printed.txt").write_text(capsys.readouterr().out)
    return run


def test_train_prints_where_the_outputs_are(toy_run):
    out = (toy_run.parent / "printed.txt").read_text()
    for what in ("run folder", "samples", "sigma sweep", "metrics log", "checkpoint", "toy metrics"):
        assert what in out
    assert "step-00000010" in out


def test_flags_reach_the_config(tmp_path):
    run = tmp_path / "r"
    main(["train", "--preset", "toy-grid5", "--steps", "2", "--method", "gmgan", "--dynamic", "--K", "7",
          "--sigma", "0.2", "--covariance", "diagonal", "--loss", "wgan-gp", "--seed", "3", "--out", str(run), *TINY])
    text = (run / "config.yaml").read_text()
    for fragment in ("K: 7", "sigma: 0.2", "covariance: diagonal", "learnable: true", "loss: wgan-gp", "seed: 3"):
        assert fragment in text


def test_sample_command_writes_images_and_tensors(toy_run, tmp_path, capsys):
    target = tmp_path / "s.png"
    assert main(["sample", str(toy_run), "--n", "50", "--component", "3", "--scale", "0.5", "--out", str(target)]) == 0
    Image.open(target).verify()
    saved = load_file(str(target.with_suffix(".safetensors")))
    assert saved["x"].shape == (50, 2) and (saved["component"] == 3).all()


def test_resume_extends_a_run(toy_run):
    assert main(["train", "--out", str(toy_run), "--resume", "--steps", "15", "--no-progress"]) == 0
    steps = [json.loads(line)["step"] for line in (toy_run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--preset", "mnist", "--out", "{tmp}/m"], "pass it with --data-dir"),
        (["train", "--preset", "mnist", "--data-dir", "{tmp}/nowhere", "--out", "{tmp}/m"], "does not exist"),
        (["train", "--preset", "digits", "--set", "train.lr=-1", "--out", "{tmp}/d"], "train.lr must be > 0"),
        (["train", "--preset", "digits"], "needs --out"),
        (["sample", "{tmp}"], "not a gmgan run folder"),
        (["train", "--out", "{tmp}/x", "--resume"], "holds no run"),
    ],
)
def test_user_errors_are_one_line_without_traceback(argv, fragment, tmp_path, capsys):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_old_option_names_still_work_and_name_the_new_one(toy_run, tmp_path, capsys):
    """Renamed options (docs/CHANGELOG.md): the old spelling runs and prints one note naming the new one."""
    target = tmp_path / "old.png"
    assert main(["sample", str(toy_run), "--n", "4", "--file", str(target)]) == 0
    assert target.is_file()
    assert "note: --file is now --out" in capsys.readouterr().err
    assert main(["fit-prior", str(toy_run), "--components", "2", "--covariance", "diag", "--inversion-steps", "3",
                 "--max-images", "200", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "note: --components is now --K" in err and "note: --covariance diag is now diagonal" in err
