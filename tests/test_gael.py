"""GAEL's encoder head, inversion of a frozen generator, mixtures fitted to latent codes, reconstruction."""

import itertools
import json
import math

import pytest
import torch
from torch import nn

from gmgan import losses
from gmgan.cli import main
from gmgan.config import make_config
from gmgan.errors import CheckpointError, ConfigError
from gmgan.latent import assign, fit_mixture, invert, load_fitted_prior, save_fitted_prior
from gmgan.methods import build_method
from gmgan.nets import add_encoder_head, dcgan_discriminator, mlp_discriminator
from gmgan.priors import GaussianMixture
from gmgan.train import Trainer


def test_encoder_loss_is_eq_2():
    g = torch.Generator().manual_seed(0)
    mean, log_var, z = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = 0.0
    for j in range(5):  # -log N(z; mean, diag(exp(log_var))), written out as Eq. 2
        var = log_var[j].exp()
        expected += 0.5 * math.log((2 * math.pi) ** 3 * float(var.prod()))
        expected += 0.5 * float(((z[j] - mean[j]) ** 2 / var).sum())
    got = losses.encoder_nll(torch.cat([mean, log_var], 1), z)
    assert float(got) == pytest.approx(expected / 5, rel=1e-5)
    mvn = torch.distributions.Normal(mean, log_var.mul(0.5).exp())
    assert float(got) == pytest.approx(float(-mvn.log_prob(z).sum(1).mean()), rel=1e-5)


def test_encoder_head_shares_the_trunk_or_branches_from_it():
    D = dcgan_discriminator(28, 1, 8)
    add_encoder_head(D, latent_dim=5)
    out = D(torch.randn(3, 1, 28, 28), heads=("adversarial", "encoder"))
    assert out["encoder"].shape == (3, 10) and out["adversarial"].shape == (3, 1)
    D2 = dcgan_discriminator(28, 1, 8)
    add_encoder_head(D2, latent_dim=5, own_blocks=1, learn_variance=False)
    x = torch.randn(3, 1, 28, 28)
    D2.eval()
    out = D2(x, heads=("adversarial", "encoder"))
    assert torch.allclose(out["adversarial"], D2.heads["adversarial"](D2.trunk(x)))  # one pass, same answer
    assert torch.equal(out["encoder"][:, 5:], torch.zeros(3, 5))  # Sigma(x) = I
    own = sum(p.numel() for p in D2.heads["encoder"].own.parameters())
    assert own > 0 and not any(p is q for p in D2.heads["encoder"].own.parameters() for q in D2.trunk.parameters())
    with pytest.raises(ConfigError, match="own_blocks must be between 0 and 2"):
        add_encoder_head(dcgan_discriminator(28, 1, 8), 5, own_blocks=3)


def test_encoder_learns_to_invert_a_frozen_generator():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 8))  # injective: tanh of a rank-4 map
    G.requires_grad_(False)
    D = mlp_discriminator(8, 64, 2)
    add_encoder_head(D, latent_dim=4)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(1500):
        z = torch.randn(128, 4, generator=g)
        loss = losses.encoder_nll(D(G(z), heads=("encoder",))["encoder"], z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = torch.randn(1000, 4, generator=g)
    err = (D(G(z), heads=("encoder",))["encoder"][:, :4] - z).pow(2).mean().sqrt()
    assert err < 0.2  # the prior's spread is 1


def test_inversion_recovers_the_latent_of_a_generator():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 16))
    z_true = torch.randn(50, 4)
    x = G(z_true).detach()
    result = invert(G, x, torch.zeros(50, 4), steps=2000, lr=0.05, batch_size=20, tol=1e-6, patience=200)
    assert (result.z - z_true).abs().max() < 0.05
    assert result.error.max() < 1e-4
    assert all(p.requires_grad for p in G.parameters())  # G is handed back as it came


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 1-2 EM steps on purpose
def test_fitted_mixture_matches_scikit_learn_and_em_raises_the_likelihood():
    g = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(200, 3, generator=g) * 0.3 + c for c in (-2.0, 0.0, 2.0)])
    scores = []
    for iters in (1, 2, 5, 50):
        gm, summary = fit_mixture(z, 3, "full", seed=0, max_iter=iters)
        scores.append(summary["mean_log_likelihood"])
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(scores))
    prior = GaussianMixture.from_sklearn(gm)
    ours = float(prior.log_prob(z).double().mean())
    assert ours == pytest.approx(gm.score(z.double().numpy()), rel=1e-4)
    soft, hard = assign(prior, z)
    assert torch.allclose(soft.sum(1), torch.ones(600)) and torch.equal(hard, soft.argmax(1))
    assert torch.allclose(soft.double(), torch.from_numpy(gm.predict_proba(z.double().numpy())), atol=1e-4)


def test_auto_picks_the_number_of_components_by_bic():
    g = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(150, 2, generator=g) * 0.2 + torch.tensor(c) for c in ((0, 4), (4, 0), (0, 0),
                                                                                     (4, 4), (-4, 0))])
    _, summary = fit_mixture(z, "auto", "full", seed=0, candidates=(1, 2, 5, 10))
    assert summary["components"] == 5 and "5" in summary["bic_by_components"]


def test_more_components_than_points_is_refused():
    with pytest.raises(ConfigError, match="Cannot fit 10 components to 4 latent codes"):
        fit_mixture(torch.randn(4, 2), 10)


def test_fitted_prior_round_trip_and_corruption(tmp_path):
    prior = GaussianMixture(3, 2, c=1.0, sigma=0.1, covariance="full", generator=torch.Generator().manual_seed(0))
    save_fitted_prior(tmp_path, prior, {"components": 3})
    loaded, summary = load_fitted_prior(tmp_path)
    assert torch.allclose(loaded.mu, prior.mu) and torch.allclose(loaded.covariance_matrices,
                                                                  prior.covariance_matrices, atol=1e-6)
    a = loaded.sample(5, generator=torch.Generator().manual_seed(3))[0]
    b = loaded.sample(5, generator=torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b) and summary["components"] == 3
    (tmp_path / "fitted_prior" / "prior.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="is corrupt"):
        load_fitted_prior(tmp_path)
    with pytest.raises(CheckpointError, match="no fitted prior"):
        load_fitted_prior(tmp_path / "elsewhere")


def test_encoder_trains_with_either_loss_and_prior():
    for updates in ({"method": "gan"}, {"train": {"loss": "wgan-gp"}}, {"prior": {"learnable": True}}):
        cfg = make_config("digits", {"encoder": {"enabled": True}, "prior": {"latent_dim": 6}, "model": {"width": 8}},
                          updates)
        m = build_method(cfg, (1, 8, 8), num_classes=10)
        loss, logs = m.d_step(torch.randn(16, 1, 8, 8), None, torch.Generator().manual_seed(0))
        loss.backward()
        assert "encoder_nll" in logs and m.D.heads["encoder"].out.weight.grad is not None
        loss, _ = m.g_step(8, torch.Generator().manual_seed(0))
        assert m.encode(torch.randn(4, 1, 8, 8))[0].shape == (4, 6)


def test_fit_prior_sample_evaluate_and_reconstruct_from_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GMGAN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "enc"
    cfg = make_config("digits", {"encoder": {"enabled": True}, "prior": {"latent_dim": 6, "K": 3},
                                 "model": {"width": 8}, "train": {"steps": 4, "b_D": 16, "b_G": 16, "log_every": 2,
                                                                  "sample_every": 0, "checkpoint_every": 0}})
    Trainer(cfg, run, progress=False).fit()
    assert main(["fit-prior", str(run), "--components", "4", "--no-progress"]) == 0
    summary = json.loads((run / "fitted_prior" / "prior.json").read_text())
    assert summary["components"] == 4 and summary["route"] == "encoder" and summary["images"] == 1437
    assert main(["sample", str(run), "--prior", "fitted", "--n", "8"]) == 0
    assert (run / "samples" / "sample-n8-all-s1-seed0-fitted.png").is_file()
    eval_args = ["--n", "40", "--pairs", "20", "--classifier-steps", "20", "--no-real", "--no-progress"]
    assert main(["evaluate", str(run), *eval_args]) == 0
    assert main(["evaluate", str(run), "--prior", "fitted", *eval_args]) == 0
    fitted = json.loads((run / "evaluation-fitted.json").read_text())
    assert fitted["protocol"]["prior_source"] == "fitted" and fitted["protocol"]["K"] == 4
    assert json.loads((run / "evaluation.json").read_text())["protocol"]["prior_source"] == "trained"
    assert main(["reconstruct", str(run), "--n", "30", "--no-progress"]) == 0
    rec = json.loads((run / "reconstruction" / "reconstruction-encoder.json").read_text())
    assert rec["n"] == 30 and rec["mse_per_pixel"] > 0
    assert main(["fit-prior", str(run), "--K", "5000"]) == 2
    assert "Cannot fit 5000 components" in capsys.readouterr().err


def test_inversion_of_a_run_with_a_learned_prior(tmp_path):
    """A dynamic prior's draws carry gradients of mu_k; inversion must start from a detached copy."""
    run = tmp_path / "dyn"
    assert main(["train", "--preset", "digits", "--dynamic", "--steps", "3", "--out", str(run),
                 "--set", "model.width=8", "--no-progress"]) == 0
    assert main(["reconstruct", str(run), "--n", "5", "--inversion-steps", "3", "--no-progress"]) == 0
