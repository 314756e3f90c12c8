"""train.precision: bf16 autocast trains, resumes exactly, records what ran; the prior and the gradient
penalty stay float32 under autocast."""

import pytest
import torch
from safetensors.torch import load_file

from gmgan import precision
from gmgan.cli import main
from gmgan.config import make_config
from gmgan.errors import ConfigError
from gmgan.losses import gradient_penalty
from gmgan.priors import GaussianMixture

DIGITS = ["--preset", "digits", "--latent-dim", "8", "--K", "3", "--set", "model.width=8", "--set", "train.b_D=16",
          "--set", "train.b_G=16", "--set", "train.log_every=2", "--set", "train.sample_every=0",
          "--set", "train.checkpoint_every=3", "--no-progress"]


def _weights(run, step):
    return load_file(str(run / "checkpoints" / f"step-{step:08d}" / "model.safetensors"))


def test_bf16_trains_resumes_exactly_and_is_recorded(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *DIGITS, "--precision", "bf16", "--steps", "6", "--out", str(straight)]) == 0
    assert "precision: bf16" in (straight / "config.yaml").read_text()
    assert main(["train", *DIGITS, "--precision", "bf16", "--steps", "3", "--out", str(resumed)]) == 0
    assert main(["train", "--out", str(resumed), "--resume", "--steps", "6", "--no-progress"]) == 0
    a, b = _weights(straight, 6), _weights(resumed, 6)
    assert all(bool(torch.isfinite(a[k]).all()) and bool((a[k] == b[k]).all()) for k in a)
    assert all(v.dtype == torch.float32 for k, v in a.items() if v.is_floating_point())  # master weights


def test_bf16_is_not_fp32(tmp_path):
    """The option changes the arithmetic (else the speed-up would be imaginary)."""
    for p in ("fp32", "bf16"):
        assert main(["train", *DIGITS, "--precision", p, "--steps", "3", "--out", str(tmp_path / p)]) == 0
    a, b = _weights(tmp_path / "fp32", 3), _weights(tmp_path / "bf16", 3)
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_changing_precision_on_resume_is_refused(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", *DIGITS, "--precision", "fp32", "--steps", "3", "--out", str(run)]) == 0
    assert main(["train", "--out", str(run), "--resume", "--steps", "6", "--precision", "bf16"]) == 2
    assert "train.precision" in capsys.readouterr().err


def test_auto_resolves_to_what_the_hardware_runs():
    cpu = torch.device("cpu")
    assert precision.resolve("auto", cpu) == ("bf16" if precision.bf16_native(cpu) else "fp32")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        precision.resolve("fp16", cpu)
    with pytest.raises(ConfigError):
        make_config("digits", {"train": {"precision": "fp8"}})


def test_prior_and_gradient_penalty_stay_float32_under_autocast():
    prior = GaussianMixture(K=3, d=4, c=1.0, sigma=0.1, generator=torch.Generator().manual_seed(0),
                            learnable=True, covariance="full")
    critic = torch.nn.Linear(4, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z, _ = prior.sample(8, generator=torch.Generator().manual_seed(0))
        assert z.dtype == torch.float32 and prior.log_prob(z).dtype == torch.float32
        assert prior.responsibilities(z).dtype == torch.float32
        assert critic(z).dtype == torch.bfloat16  # autocast is on ...
        gp = gradient_penalty(lambda x: critic(x).squeeze(1), z, z.flip(0))
    w = critic.weight.detach().squeeze(0)
    assert gp.dtype == torch.float32  # ... but the penalty ran in float32: exact for a linear critic
    torch.testing.assert_close(gp, (w.norm() - 1) ** 2, rtol=1e-6, atol=1e-6)


def test_the_clustering_classifier_trains_in_bf16():
    from gmgan.data import load_dataset
    from gmgan.evaluate.classifier import train_classifier

    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    model, info = train_classifier(train, test, steps=150, precision="bf16")
    assert info["test_accuracy"] > 0.8
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_runs_saved_before_the_option_read_as_fp32():
    from gmgan.config import config_from_dict, upgrade_saved

    old = make_config("digits").to_dict()
    del old["train"]["precision"]
    assert config_from_dict(upgrade_saved(old)).train.precision == "fp32"
