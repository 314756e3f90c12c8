"""The stabilisers users expect: a moving average of G's weights (train.ema) and spectral normalisation of D
(model.d_norm spectral)."""

import torch

from gmgan.cli import main
from gmgan.config import make_config
from gmgan.methods import build_method
from gmgan.train import Trainer, load_trained

TINY = {"prior": {"latent_dim": 8, "K": 3}, "model": {"width": 8},
        "train": {"steps": 6, "b_D": 16, "b_G": 16, "log_every": 2, "sample_every": 0, "checkpoint_every": 3}}


def test_ema_is_the_moving_average_and_what_sampling_reads(tmp_path):
    decay = 0.9
    cfg = make_config("digits", TINY, {"train": {"ema": decay}})
    trainer = Trainer(cfg, tmp_path / "r", progress=False)
    expected = [p.detach().clone() for p in trainer.method.G.parameters()]
    for _ in range(3):
        trainer.train_step()
        for e, p in zip(expected, trainer.method.G.parameters(), strict=True):
            e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, p in zip(expected, trainer.G_ema.parameters(), strict=True):
        torch.testing.assert_close(p, e)
    trainer.cfg.train.steps = 3
    trainer.start_step = 0
    trainer.save(3)
    _, method, _ = load_trained(tmp_path / "r")
    for p, e in zip(method.G.parameters(), trainer.G_ema.parameters(), strict=True):
        assert torch.equal(p, e)  # sampling and evaluation see the average ...
    _, raw, _ = load_trained(tmp_path / "r", use_ema=False)
    assert any(not torch.equal(a, b) for a, b in zip(raw.G.parameters(), method.G.parameters(), strict=True))


def test_ema_resumes_exactly(tmp_path):
    args = ["--preset", "digits", "--latent-dim", "8", "--K", "3", "--set", "model.width=8", "--set", "train.b_D=16",
            "--set", "train.b_G=16", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=3",
            "--set", "train.ema=0.99", "--no-progress"]
    assert main(["train", *args, "--steps", "6", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *args, "--steps", "3", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--out", str(tmp_path / "b"), "--resume", "--steps", "6", "--no-progress"]) == 0
    from safetensors.torch import load_file

    a, b = (load_file(str(tmp_path / r / "checkpoints" / "step-00000006" / "model.safetensors")) for r in "ab")
    assert any(k.startswith("G_ema.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_spectral_norm_bounds_every_layer_of_D():
    cfg = make_config("digits", TINY, {"model": {"d_norm": "spectral"}})
    method = build_method(cfg, (1, 8, 8), torch.Generator().manual_seed(0), 10)
    D = method.D.train()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    layers = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    for _ in range(30):  # power iterations run in training-mode forward passes
        D(torch.randn(4, 1, 8, 8))
    for m in layers:
        w = m.weight.detach().flatten(1)  # a convolution's kernel as (out, in * k * k), as spectral_norm reads it
        assert float(torch.linalg.matrix_norm(w, ord=2)) < 1.05
