"""GMM responsibility learning (papers/002): analytic responsibilities, C's losses, Eq. 6, the method, the CLI."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from torch import nn

from gmgan import interpolation, losses
from gmgan.cli import main
from gmgan.config import make_config
from gmgan.errors import ConfigError, DataError
from gmgan.methods import ResponsibilityGMGAN, build_method
from gmgan.nets import count_parameters
from gmgan.priors import GaussianMixture


def _sklearn_twin(prior: GaussianMixture) -> SkGaussianMixture:
    """A scikit-learn mixture with exactly the prior's weights, means and covariances."""
    cov = prior.covariance_matrices.detach().double().numpy()
    sk = SkGaussianMixture(prior.K, covariance_type="full")
    sk.weights_ = prior.weights.detach().double().numpy()
    sk.means_ = prior.mu.detach().double().numpy()
    sk.covariances_ = cov
    sk.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(cov))
    return sk


@pytest.mark.parametrize("covariance", ["isotropic", "diagonal", "full"])
def test_analytic_responsibilities_equal_sklearn_predict_proba(covariance):
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixture(K=4, d=3, c=1.0, sigma=0.3, covariance=covariance, learnable=True, generator=g)
    with torch.no_grad():  # make the components unequal: other scales, other weights
        if covariance == "full":
            prior.scale_param.add_(0.2 * torch.randn(4, 3, 3, generator=g))
        else:
            prior.scale_param.add_(0.3 * torch.randn(prior.scale_param.shape, generator=g))
        prior.log_weights.copy_(torch.log_softmax(torch.randn(4, generator=g), 0))
    z = prior.sample(500, generator=g)[0].detach()
    ours = prior.responsibilities(z).detach().double().numpy()
    theirs = _sklearn_twin(prior).predict_proba(z.double().numpy())
    assert np.abs(ours - theirs).max() < 1e-4


def test_mutual_information_on_hand_made_distributions():
    a, b = torch.tensor([0.2, 0.3, 0.5]), torch.tensor([0.6, 0.4, 0.0])
    # independent: every pair is the same (a, b), so the joint is a b^T and I = 0
    assert float(losses.mutual_information(a.expand(7, 3), b.expand(7, 3))) == pytest.approx(0.0, abs=1e-6)
    # identical one-hot codes spread evenly over K values: I = log K
    eye = torch.eye(4)
    assert float(losses.mutual_information(eye, eye)) == pytest.approx(math.log(4), abs=1e-5)
    # a hand-computed joint: pairs ([1,0],[0.5,0.5]) and ([0,1],[0,1]) -> P = [[.25,.25],[0,.5]]
    p, q = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    joint = torch.tensor([[0.25, 0.25], [0.0, 0.5]])
    pa, pb = joint.sum(1), joint.sum(0)
    expected = sum(float(joint[i, j] * math.log(joint[i, j] / (pa[i] * pb[j])))
                   for i in range(2) for j in range(2) if joint[i, j] > 0)
    assert float(losses.mutual_information(p, q)) == pytest.approx(expected, abs=1e-5)
    # weights: a pair of weight 0 is left out of the joint
    assert float(losses.mutual_information(torch.cat([eye, a[None].expand(1, 3).new_zeros(1, 4)]),
                                           torch.cat([eye, torch.full((1, 4), 0.25)]),
                                           torch.tensor([1.0, 1, 1, 1, 0]))) == pytest.approx(math.log(4), abs=1e-5)
    assert float(losses.consistency_loss(eye, eye, "mi")) == pytest.approx(-math.log(4), abs=1e-5)


def test_kl_and_js_on_hand_made_distributions():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    q = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    assert float(losses.kl_divergence(p, p).abs().max()) < 1e-6  # KL of equal distributions is 0
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert losses.kl_divergence(p, q).tolist() == pytest.approx([0.0, kl], abs=1e-5)
    # the midpoint is m = [0.7, 0.3]
    js = 0.5 * (0.9 * math.log(0.9 / 0.7) + 0.1 * math.log(0.1 / 0.3)) + 0.5 * (
        0.5 * math.log(0.5 / 0.7) + 0.5 * math.log(0.5 / 0.3))
    assert float(losses.js_divergence(p, q)[1]) == pytest.approx(js, abs=1e-5)
    assert torch.allclose(losses.js_divergence(p, q), losses.js_divergence(q, p))  # symmetric
    one_hot = torch.eye(2)
    assert float(losses.js_divergence(one_hot, one_hot.flip(1)).max()) == pytest.approx(math.log(2), abs=1e-5)
    assert float(losses.consistency_loss(p, q, "kl")) == pytest.approx(kl / 2, abs=1e-5)
    assert float(losses.consistency_loss(p, q, "kl", torch.tensor([0.0, 1.0]))) == pytest.approx(kl, abs=1e-5)
    with pytest.raises(ValueError, match="measure must be one of"):
        losses.consistency_loss(p, q, "wasserstein")


def test_eq_6_on_hand_made_numbers():
    real = torch.tensor([0.0, 2.0])  # D logits of two reals
    fake = torch.tensor([[1.0, -1.0], [0.0, 3.0]])  # their fakes from components 0 and 1
    r = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    sig = torch.sigmoid
    expected = 0.5 * (-(math.log(sig(real[0])) + math.log(sig(real[1]))) / 2
                      - (math.log(1 - sig(fake[0, 0]))
                         + 0.25 * math.log(1 - sig(fake[1, 0])) + 0.75 * math.log(1 - sig(fake[1, 1]))) / 2)
    assert float(losses.responsibility_d_loss(real, fake, r)) == pytest.approx(expected, rel=1e-5)
    g_expected = -(math.log(sig(fake[0, 0])) + 0.25 * math.log(sig(fake[1, 0])) + 0.75 * math.log(sig(fake[1, 1]))) / 2
    assert float(losses.responsibility_g_loss(fake, r)) == pytest.approx(g_expected, rel=1e-5)
    # with K = 1 it is the GAN's loss
    assert float(losses.responsibility_d_loss(real, fake[:, :1], torch.ones(2, 1))) == pytest.approx(
        float(losses.ns_d_loss(real, fake[:, 0])))


def _method(encoding="shared", measure="mi", preset="digits", **prior):
    cfg = make_config(preset, {"method": "responsibility", "prior": {"learnable": True, **prior},
                               "responsibility": {"encoding": encoding, "measure": measure},
                               "model": {"width": 8}})
    shape = (2,) if preset.startswith("toy") else (1, 8, 8)
    return build_method(cfg, shape, torch.Generator().manual_seed(0))


class CountingG(nn.Module):
    def __init__(self, G):
        super().__init__()
        self.G, self.batches = G, []

    def forward(self, z):
        self.batches.append(z.shape[0])
        return self.G(z)


@pytest.mark.parametrize("encoding", ["shared", "separate"])
def test_gradients_reach_c_the_mixture_and_k_fakes_per_real_come_from_one_call(encoding):
    m = _method(encoding)
    assert isinstance(m, ResponsibilityGMGAN) and m.prior.learnable
    m.G = CountingG(m.G)
    real = torch.rand(6, 1, 8, 8) * 2 - 1
    loss, logs = m.d_step(real, generator=torch.Generator().manual_seed(1))
    assert m.G.batches == [6 * 10]  # one batched call: K = 10 fakes per real
    loss.backward()
    head = m.D.heads["responsibility"]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    assert {"L_xz", "L_xx", "D_real", "D_fake"} <= set(logs)
    m.zero_grad(set_to_none=True)
    loss, _ = m.g_step(64, torch.Generator().manual_seed(2), real=real)
    assert m.G.batches == [60, 60]
    loss.backward()
    assert m.prior.mu.grad is not None and m.prior.mu.grad.abs().sum() > 0
    assert m.prior.scale_param.grad is not None and m.prior.scale_param.grad.abs().sum() > 0
    assert all(p.grad is None for p in m.D.parameters())  # G's step leaves D (and C) alone


def test_shared_c_is_a_linear_head_and_separate_c_a_network_of_its_own():
    shared, separate = _method("shared"), _method("separate")
    feature_dim = shared.D.feature_dim
    assert count_parameters(shared.D.heads["responsibility"]) == feature_dim * 10 + 10
    own = count_parameters(separate.D.heads["responsibility"])
    assert own == count_parameters(separate.D.trunk) + feature_dim * 10 + 10
    trunk = set(map(id, separate.D.trunk.parameters()))
    assert not trunk & set(map(id, separate.D.heads["responsibility"].parameters()))
    x = torch.rand(3, 1, 8, 8)
    assert separate.responsibilities(x).sum(1).allclose(torch.ones(3))


def test_config_refuses_what_the_method_cannot_do():
    with pytest.raises(ConfigError, match="prior.learnable true"):
        make_config("digits", {"method": "responsibility"})
    with pytest.raises(ConfigError, match="train.loss 'ns'"):
        make_config("toy-grid5", {"method": "responsibility", "prior": {"learnable": True},
                                  "train": {"loss": "wgan-gp"}})
    with pytest.raises(ConfigError, match="responsibility.measure"):
        make_config("digits", {"method": "responsibility", "prior": {"learnable": True},
                               "responsibility": {"measure": "cosine"}})
    with pytest.raises(ConfigError, match="K >= 2"):
        make_config("digits", {"method": "responsibility", "prior": {"learnable": True, "K": 1}})


def test_interpolation_weights_and_endpoints():
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixture(K=5, d=4, c=1.0, sigma=0.1, generator=g)
    w = interpolation.strip_weights(1, 3, 5, steps=5)
    assert w.sum(1).allclose(torch.ones(5)) and w[0, 1] == 1 and w[-1, 3] == 1
    eps = torch.randn(4, generator=g)
    z = prior.interpolate(w, eps)
    assert z[0].allclose(prior.mu[1] + prior.A[1] @ eps) and z[-1].allclose(prior.mu[3] + prior.A[3] @ eps)
    tw, where = interpolation.triangle_weights(0, 2, 4, 5, n=4)
    assert tw.shape == (10, 5) and tw.sum(1).allclose(torch.ones(10)) and len(where) == 10
    assert tw[0, 0] == 1 and tw[where.index((3, 0)), 2] == 1 and tw[where.index((3, 3)), 4] == 1
    with pytest.raises(ConfigError, match="distinct"):
        interpolation.strip_weights(2, 2, 5)
    with pytest.raises(ConfigError, match=r"in \[0, 4\]"):
        interpolation.triangle_weights(0, 1, 7, 5)


def test_responsibility_run_end_to_end_cli(tmp_path):
    run = tmp_path / "resp"
    assert main(["train", "--preset", "digits", "--method", "responsibility", "--steps", "30", "--out", str(run),
                 "--set", "model.width=8", "--set", "train.b_D=16", "--no-progress"]) == 0
    assert main(["interpolate", str(run), "--components", "2,7", "--length", "5", "--rows", "2"]) == 0
    assert (run / "samples" / "interpolate-2-7-seed0.png").is_file()
    assert main(["interpolate", str(run), "--components", "1,4,7", "--length", "4"]) == 0
    assert main(["assign", str(run), "--split", "test"]) == 0
    out = run / "assign" / "assignments-responsibility-digits-test.csv"
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 360
    probs = np.array([[float(r[f"p{k}"]) for k in range(10)] for r in rows])
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    assert [int(r["component"]) for r in rows] == probs.argmax(1).tolist()
    summary = json.loads(out.with_suffix(".json").read_text())
    assert sum(summary["counts"]) == 360 and 0 < summary["purity"] <= 1
    assert 1 <= summary["posterior_outputs"]["outputs_used"] <= 10  # whether C tells the components apart
    # images from a folder, as a user would give them
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((np.random.RandomState(i).rand(20, 20) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    assert main(["assign", str(run), str(folder), "--out", str(tmp_path / "a.csv")]) == 0
    assert len(list(csv.DictReader((tmp_path / "a.csv").open()))) == 3
    # a GAN has no mixture to interpolate: one clear message
    gan = tmp_path / "gan"
    assert main(["train", "--preset", "digits", "--method", "gan", "--steps", "2", "--out", str(gan),
                 "--set", "model.width=8", "--no-progress"]) == 0
    assert main(["interpolate", str(gan), "--components", "0,1"]) == 2


def test_load_images_errors(tmp_path):
    from gmgan.data import load_images

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_images(tmp_path / "empty", 1, 8)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="not a readable image"):
        load_images(tmp_path / "bad", 1, 8)
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 8, 8)))
    with pytest.raises(DataError, match=r"needs \(N, 1, H, W\)"):
        load_images(tmp_path / "a.npy", 1, 8)
    x, names = load_images(tmp_path / "a.npy", 3, 8)
    assert x.shape == (2, 3, 8, 8) and float(x.min()) == -1.0 and names == ["0", "1"]


def test_l_xx_is_the_mutual_information_of_source_and_component():
    """I(S; C) with S = real or generated (1/2 each) equals JS(p_real, p_fake); 0 when C cannot tell them apart."""
    real = torch.tensor([[0.9, 0.1, 0.0], [0.7, 0.2, 0.1]])
    fake = torch.tensor([[0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]])
    p_r, p_f = real.mean(0), fake.mean(0)
    joint = torch.stack([0.5 * p_r, 0.5 * p_f])  # P(S, k)
    p_s, p_k = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    mi = float((joint * (joint / (p_s * p_k)).log()).sum())
    assert float(losses.marginal_divergence(real, fake, "mi")) == pytest.approx(mi, abs=1e-5)
    assert float(losses.marginal_divergence(real, fake, "js")) == pytest.approx(mi, abs=1e-5)
    kl = float((p_f * (p_f / p_r).log()).sum())
    assert float(losses.marginal_divergence(real, fake, "kl")) == pytest.approx(kl, abs=1e-4)
    same = torch.softmax(torch.randn(5, 3), 1)
    assert float(losses.marginal_divergence(same, same)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("to_generator", [False, True])
def test_l_xz_reaches_the_prior_and_reaches_g_only_when_asked(to_generator):
    m = _method()
    m.xz_to_generator = to_generator
    m.weight_xz = 1.0
    real = torch.rand(4, 1, 8, 8) * 2 - 1
    with torch.no_grad():  # silence the adversarial part: D's logit head outputs 0 whatever the input
        m.D.heads["adversarial"].weight.zero_()
    loss, _ = m.g_step(64, torch.Generator().manual_seed(0), real=real)
    loss.backward()
    assert m.prior.mu.grad is not None and m.prior.mu.grad.abs().sum() > 0
    g_grad = sum(float(p.grad.abs().sum()) for p in m.G.parameters() if p.grad is not None)
    assert (g_grad > 0) == to_generator


def test_output_usage_reports_a_c_that_merges_components():
    m = _method("shared")
    head = m.D.heads["responsibility"]
    with torch.no_grad():  # a C that answers output 3 whatever the image: all components merged
        for p in head.parameters():
            p.zero_()
        list(head.parameters())[-1][3] = 5.0
    usage = m.output_usage(n_per_component=4)
    assert usage["outputs_used"] == 1 and usage["merged"] == [list(range(10))]
    assert usage["mutual_information"] == pytest.approx(0.0)
