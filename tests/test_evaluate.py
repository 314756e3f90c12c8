"""gmgan evaluate / sweep / train-classifier on tiny runs: outputs, protocol, cache, and error messages."""

import csv
import json

import pytest
import torch
from PIL import Image

from gmgan.cli import main
from gmgan.data import load_dataset
from gmgan.errors import CheckpointError
from gmgan.evaluate import classifier as C
from gmgan.evaluate.run import EvalOptions, Evaluator, evaluate_run, parse_scales
from gmgan.train import Trainer


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("GMGAN_CACHE", str(path))
    return path


@pytest.fixture
def digits_run(tmp_path, image_cfg, cache):
    run = tmp_path / "digits"
    Trainer(image_cfg(steps=6), run, progress=False).fit()
    return run


def _opts(**kw):
    return EvalOptions(n=60, pairs=100, kid_subsets=3, is_splits=2, classifier_steps=40, **kw)


def test_evaluate_writes_every_metric_with_its_protocol(digits_run):
    result = evaluate_run(digits_run, _opts(), progress=False)
    saved = json.loads((digits_run / "evaluation.json").read_text())
    assert saved["generated"]["fid"] == pytest.approx(result["generated"]["fid"])
    gen = saved["generated"]
    for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "q", "d_intra", "d_inter", "d",
                "s"):
        assert isinstance(gen[key], float), key
    assert 0 <= gen["q"] <= 1 and 0 <= gen["d"] <= 1 and 0 <= gen["s"] <= 1
    assert sum(gen["class_histogram"]) == 60
    assert len(gen["component_purity"]["purity"]) == 3  # K of the fixture
    p = saved["protocol"]
    assert p["generated"] == {"n": 60, "seed": 0, "scale": 1.0}
    assert p["extractor"]["architecture"]["class"] == "DomainClassifier"
    assert p["reference"]["split"] == "test" and p["kid"]["subsets"] == 3
    assert p["d_intra"]["ms_ssim"]["kernel_size"] == 3  # 8 px digits
    real = saved["real_train_images"]
    assert real["fid"] < gen["fid"]  # real images are closer to real images than a 6-step GAN's


def test_same_seed_same_numbers(digits_run):
    a = evaluate_run(digits_run, _opts(real_baseline=False), progress=False)["generated"]
    b = evaluate_run(digits_run, _opts(real_baseline=False), progress=False)["generated"]
    assert a == b


def test_classifier_is_cached_per_dataset(cache, monkeypatch):
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    first = C.get_classifier(train, test, steps=30)
    assert first.path.parent == cache / "classifiers" and first.path.name.startswith("digits-1x8-v")
    assert first.train_features.shape == (len(train), 128)

    def no_training(*a, **k):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(C, "train_classifier", no_training)
    again = C.get_classifier(train, test)
    for a, b in zip(first.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    (first.path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="Delete that folder"):
        C.get_classifier(train, test)


def test_a_shipped_reference_classifier_is_used_instead_of_training(cache, tmp_path, monkeypatch):
    """Scores are comparable across machines only in one ruler: a reference's weights are taken as they are."""
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    made = C.get_classifier(train, test, cache=tmp_path / "elsewhere", steps=30)
    ref_dir = tmp_path / "reference"
    (ref_dir / made.path.name).mkdir(parents=True)
    for name in ("model.safetensors", "classifier.json"):  # what gmgan ships: no training-set features
        (ref_dir / made.path.name / name).write_bytes((made.path / name).read_bytes())
    monkeypatch.setattr(C, "REFERENCE_DIR", ref_dir)
    trained = []
    real_train = C.train_classifier
    monkeypatch.setattr(C, "train_classifier", lambda *a, **k: trained.append(1) or real_train(*a, **k))

    clf = C.get_classifier(train, test, steps=30)
    assert not trained and clf.path.parent == cache / "classifiers"
    assert clf.weights_sha256 == made.weights_sha256
    assert torch.equal(clf.train_features, made.train_features)
    assert clf.log_a == pytest.approx(made.log_a)
    assert clf.protocol()["source"].startswith("reference ") and made.protocol()["source"] == "trained here"
    C.get_classifier(train, test, steps=30, retrain=True)  # --retrain: one's own classifier after all
    assert trained


def test_the_shipped_mnist_reference_loads():
    ref = C.REFERENCE_DIR / "mnist-1x28-v2-4079491dcfc4"
    clf = C.load_classifier(ref, features=False)
    assert clf.info["fingerprint"] == ref.name.rsplit("-", 1)[1] and clf.info["test_accuracy"] > 0.99
    assert clf.model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_classifier_learns_digits(cache):
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    _, info = C.train_classifier(train, test, steps=500)
    assert info["test_accuracy"] > 0.9


def test_toy_run_is_scored_in_coordinates(tmp_path, toy_cfg, cache):
    run = tmp_path / "toy"
    Trainer(toy_cfg(), run, progress=False).fit()
    result = Evaluator(run, _opts(), progress=False).evaluate()
    gen = result["generated"]
    assert "toy" in gen and "d_intra" not in gen and 0 <= gen["d_inter"] <= 1
    assert result["protocol"]["extractor"]["architecture"] == "identity (2-D coordinates)"
    spread = result["protocol"]["prior_spread"]  # what the (here static) mixture's components look like
    assert spread["effective_rank"] == pytest.approx(4.0) and spread["rms_std"] == pytest.approx(spread["largest_std"])


def test_cli_evaluate_and_sweep(digits_run, tmp_path, capsys):
    common = ["--n", "40", "--pairs", "50", "--classifier-steps", "30", "--no-progress"]
    assert main(["evaluate", str(digits_run), *common]) == 0
    out = capsys.readouterr().out
    assert "features: domain classifier" in out and "FID " in out and "component purity" in out
    sweep_dir = tmp_path / "sweep"
    assert main(["sweep", str(digits_run), str(digits_run), "--scales", "0.5:1.0:0.5", "--out", str(sweep_dir),
                 *common]) == 0
    rows = list(csv.DictReader(open(sweep_dir / "sweep.csv")))
    assert [float(r["scale"]) for r in rows] == [0.5, 1.0, 0.5, 1.0]
    assert all(0 <= float(r["q"]) <= 1 and 0 <= float(r["d"]) <= 1 for r in rows)
    Image.open(sweep_dir / "sweep.png").verify()
    # the ruler is named, portably: one classifier (both runs are on digits), by its weights' hash and cache key
    (extractor,) = json.loads((sweep_dir / "sweep.json").read_text())["protocol"]["extractors"]
    assert len(extractor["weights_sha256"]) == 64 and extractor["path"].startswith("$GMGAN_CACHE/classifiers/digits-")


def test_sweep_groups_seeds_into_mean_and_standard_error(tmp_path, image_cfg, cache, capsys):
    runs = []
    for seed in (0, 1):
        run = tmp_path / f"seed{seed}"
        Trainer(image_cfg(steps=4, seed=seed, checkpoint_every=2, keep_checkpoints=5), run, progress=False).fit()
        runs.append(str(run))
    common = ["--n", "40", "--pairs", "50", "--classifier-steps", "30", "--no-progress"]
    out = tmp_path / "sweep"
    assert main(["sweep", "--group", "GM=" + ",".join(runs), "--scales", "0.5,1", "--step", "2", "--out", str(out),
                 *common]) == 0
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert {r["model"] for r in rows} == {"GM"} and {r["step"] for r in rows} == {"2"} and len(rows) == 4
    summary = list(csv.DictReader(open(out / "sweep-summary.csv")))
    assert [(s["model"], float(s["scale"]), int(s["runs"])) for s in summary] == [("GM", 0.5, 2), ("GM", 1.0, 2)]
    for s in summary:
        qs = [float(r["q"]) for r in rows if float(r["scale"]) == float(s["scale"])]
        assert float(s["q_mean"]) == pytest.approx(sum(qs) / 2)
        assert float(s["q_se"]) == pytest.approx(abs(qs[0] - qs[1]) / 2)  # std / sqrt(2) of two values
        assert float(s["is_mean"]) >= 1.0  # the Inception Score over sigma (GM-GAN Fig. 2)
    Image.open(out / "sweep.png").verify()
    # a step that was not kept names the kept ones; a group without runs is refused
    assert main(["sweep", "--group", "GM=" + runs[0], "--step", "3", "--out", str(out), *common]) == 2
    assert "kept steps: 2, 4" in capsys.readouterr().err
    assert main(["sweep", "--group", "GM=", "--out", str(out)]) == 2
    assert "LABEL=RUN" in capsys.readouterr().err
    assert main(["sweep", "--group", "GM=" + runs[0]]) == 2
    assert "--out" in capsys.readouterr().err


def test_evaluate_at_a_kept_step_writes_its_own_file(tmp_path, image_cfg, cache, capsys):
    run = tmp_path / "run"
    Trainer(image_cfg(steps=4, checkpoint_every=2, keep_checkpoints=5), run, progress=False).fit()
    early = evaluate_run(run, _opts(step=2), progress=False)
    assert early["protocol"]["step"] == 2 and (run / "evaluation-step2.json").is_file()
    assert not (run / "evaluation.json").exists()
    assert evaluate_run(run, _opts(), progress=False)["protocol"]["step"] == 4
    # --out FILE: written there (folders created), the run's own evaluation.json untouched
    before = (run / "evaluation.json").read_text()
    target = tmp_path / "tables" / "early.json"
    assert main(["evaluate", str(run), "--step", "2", "--out", str(target), "--n", "40", "--pairs", "50",
                 "--classifier-steps", "30", "--no-progress"]) == 0
    assert json.loads(target.read_text())["protocol"]["step"] == 2
    assert (run / "evaluation.json").read_text() == before
    assert main(["evaluate", str(run), "--out", str(tmp_path), "--n", "40", "--no-progress"]) == 2


def test_cli_errors_are_one_line(digits_run, tmp_path, capsys):
    assert main(["sweep", str(digits_run), "--scales", "2:1:0.1"]) == 2
    assert "START:STOP:STEP" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "not a gmgan run folder" in capsys.readouterr().err
    assert main(["evaluate", str(digits_run), "--n", "1"]) == 2
    assert main(["evaluate", str(digits_run), "--inception-weights", str(tmp_path / "missing.safetensors"),
                 "--n", "10", "--classifier-steps", "5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "missing.safetensors" in err and "Traceback" not in err


def test_parse_scales():
    assert parse_scales("0.5:2.0:0.1")[-1] == 2.0 and len(parse_scales("0.5:2.0:0.1")) == 16
    assert parse_scales("1,2") == [1.0, 2.0]
