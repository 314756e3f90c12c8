import json

import pytest
import torch
from PIL import Image

from gmgan import checkpoint as ckpt
from gmgan.errors import CheckpointError, ConfigError, DivergenceError, GmganError
from gmgan.train import Trainer, load_trained


def _weights(run):
    model, _, _ = ckpt.load_checkpoint(ckpt.latest_checkpoint(run))
    return model


def test_toy_run_writes_every_output(tmp_path, toy_cfg):
    result = Trainer(toy_cfg(), tmp_path / "run", progress=False).fit()
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [5, 10, 15, 20]
    assert {"loss_D", "loss_G", "D_real", "D_fake", "images_per_s"} <= set(lines[0])
    for key in ("samples", "sigma_sweep"):
        Image.open(result[key]).verify()
    assert result["toy_metrics"]["modes_total"] == 25
    assert json.loads((run / "toy_metrics.json").read_text()) == result["toy_metrics"]
    assert list((run / "tensorboard").iterdir())
    assert ckpt.latest_checkpoint(run).name == "step-00000020"


def test_image_run_grid_has_one_row_per_component(tmp_path, image_cfg):
    cfg = image_cfg()
    result = Trainer(cfg, tmp_path / "run", progress=False).fit()
    grid = Image.open(result["samples"])
    cell = 8 * 3 + 1  # 8 px images enlarged 3x, 1 px padding
    assert grid.size == (10 * cell + 1, cfg.prior.K * cell + 1)
    sweep = Image.open(result["sigma_sweep"])
    assert sweep.size[1] == 6 * cell + 1  # one row per scale


@pytest.mark.parametrize("dynamic", [False, True])
def test_resume_after_interruption_gives_the_same_weights(tmp_path, toy_cfg, dynamic):
    cfg = toy_cfg(steps=20)
    cfg.prior.learnable = dynamic
    Trainer(cfg, tmp_path / "straight", progress=False).fit()
    half = toy_cfg(steps=10)
    half.prior.learnable = dynamic
    Trainer(half, tmp_path / "resumed", progress=False).fit()
    Trainer(cfg, tmp_path / "resumed", resume=True, progress=False).fit()  # steps may grow on resume
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    if dynamic:  # the learnable mixture moved between steps 10 and 20 (so its restore was tested)
        at_10, _, _ = ckpt.load_checkpoint(ckpt.list_checkpoints(tmp_path / "resumed")[0])
        assert not torch.equal(at_10["prior.mu"], b["prior.mu"])
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]


def test_resume_from_a_kill_between_checkpoints_drops_the_orphan_log_lines(tmp_path, toy_cfg):
    run = tmp_path / "run"
    Trainer(toy_cfg(steps=10), run, progress=False).fit()
    with open(run / "metrics.jsonl", "a") as f:  # logged after the checkpoint, then killed
        f.write(json.dumps({"step": 15, "loss_D": 1.0}) + "\n")
    Trainer(toy_cfg(steps=20), run, resume=True, progress=False).fit()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]


def test_resume_with_another_config_lists_the_differences(tmp_path, toy_cfg):
    Trainer(toy_cfg(), tmp_path / "run", progress=False).fit()
    other = toy_cfg(lr=1e-3)
    other.prior.K = 9
    with pytest.raises(ConfigError, match=r"(?s)differs.*prior.K: 25 -> 9.*train.lr: 0.0005 -> 0.001"):
        Trainer(other, tmp_path / "run", resume=True, progress=False)


def test_an_existing_run_is_never_overwritten(tmp_path, toy_cfg):
    Trainer(toy_cfg(), tmp_path / "run", progress=False).fit()
    before = _weights(tmp_path / "run")
    with pytest.raises(GmganError, match="already holds a run. Pass --resume"):
        Trainer(toy_cfg(), tmp_path / "run", progress=False)
    torch.testing.assert_close(_weights(tmp_path / "run"), before)


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path, toy_cfg):
    trainer = Trainer(toy_cfg(steps=20, checkpoint_every=5, log_every=5), tmp_path / "run", progress=False)
    g_step, calls = trainer.method.g_step, [0]

    def poisoned(b_G, generator=None):  # the loss goes non-finite at the 8th generator step
        calls[0] += 1
        loss, logs = g_step(b_G, generator)
        return (loss * float("nan"), logs) if calls[0] >= 8 else (loss, logs)

    trainer.method.g_step = poisoned
    with pytest.raises(DivergenceError, match=r"non-finite before step 10; the last good checkpoint \(step-00000005\)"):
        trainer.fit()
    model = _weights(tmp_path / "run")
    assert ckpt.latest_checkpoint(tmp_path / "run").name == "step-00000005"
    assert all(torch.isfinite(v).all() for v in model.values() if v.is_floating_point())


def test_load_trained_refuses_a_checkpoint_of_another_model(tmp_path, toy_cfg):
    Trainer(toy_cfg(), tmp_path / "a", progress=False).fit()
    cfg_b = toy_cfg()
    cfg_b.model.width = 8
    Trainer(cfg_b, tmp_path / "b", progress=False).fit()
    (tmp_path / "a" / "config.yaml").write_bytes((tmp_path / "b" / "config.yaml").read_bytes())
    with pytest.raises(CheckpointError, match="do not fit this model"):
        load_trained(tmp_path / "a")


def test_unwritable_run_folder_fails_before_training(tmp_path, toy_cfg):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GmganError, match="Cannot write to the run folder"):
        Trainer(toy_cfg(), blocker / "run", progress=False)


def test_a_full_disk_fails_before_training(tmp_path, toy_cfg, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))  # 1 MB free
    with pytest.raises(GmganError, match=r"Not enough disk space .* 1 MB free"):
        Trainer(toy_cfg(), tmp_path / "run", progress=False)
    assert not list((tmp_path / "run").glob("checkpoints/*"))


def test_same_seed_same_numbers(tmp_path, toy_cfg):
    Trainer(toy_cfg(), tmp_path / "a", progress=False).fit()
    Trainer(toy_cfg(), tmp_path / "b", progress=False).fit()
    assert (tmp_path / "a" / "toy_metrics.json").read_text() == (tmp_path / "b" / "toy_metrics.json").read_text()
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_optional_mlflow_logger(tmp_path, toy_cfg, monkeypatch):
    """train.mlflow logs the config as parameters and every metrics record, through MLflow's own API."""
    import sys
    import types

    calls: list = []
    fake = types.ModuleType("mlflow")
    for name in ("set_tracking_uri", "start_run", "log_params", "set_tag", "log_metrics", "end_run"):
        setattr(fake, name, lambda *a, _n=name, **k: calls.append((_n, a, k)))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    cfg = toy_cfg()
    cfg.train.mlflow = "file:./mlruns"
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    names = [c[0] for c in calls]
    assert names[:2] == ["set_tracking_uri", "start_run"] and names[-1] == "end_run"
    params = next(c[1][0] for c in calls if c[0] == "log_params")
    assert params["train.steps"] == cfg.train.steps and params["method"] == cfg.method
    steps = [c[2]["step"] for c in calls if c[0] == "log_metrics"]
    assert steps == list(range(cfg.train.log_every, cfg.train.steps + 1, cfg.train.log_every))
    monkeypatch.setitem(sys.modules, "mlflow", None)  # not installed: one clear message before training
    with pytest.raises(ConfigError, match="pip install 'gmgan\\[mlflow\\]'"):
        Trainer(cfg, tmp_path / "run2", progress=False)
    assert not (tmp_path / "run2").exists()  # nothing half-written
