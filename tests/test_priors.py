import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGM

from gmgan.errors import ConfigError
from gmgan.priors import GaussianMixture, StandardNormal


def _prior(covariance="isotropic", learnable=False, K=3, d=4, sigma=0.3, seed=0):
    prior = GaussianMixture(K, d, c=2.0, sigma=sigma, covariance=covariance, learnable=learnable,
                            generator=torch.Generator().manual_seed(seed), sigma_is="variance")
    if covariance == "full":  # a non-trivial A_k: lower-triangular mixing on top of sqrt(sigma) I
        with torch.no_grad():
            prior.scale_param.add_(0.2 * torch.randn(K, d, d, generator=torch.Generator().manual_seed(1)).tril())
    elif covariance == "diagonal":
        with torch.no_grad():
            prior.scale_param.add_(0.3 * torch.randn(K, d, generator=torch.Generator().manual_seed(1)))
    return prior


@pytest.mark.parametrize(("sigma_is", "variance"), [("std", 0.15**2), ("variance", 0.15)])
@pytest.mark.parametrize("covariance", ["isotropic", "diagonal", "full"])
def test_static_means_in_range_and_covariance_follows_the_sigma_reading(sigma_is, variance, covariance):
    prior = GaussianMixture(K=10, d=100, c=0.1, sigma=0.15, covariance=covariance, sigma_is=sigma_is,
                            generator=torch.Generator().manual_seed(0))
    assert prior.mu.abs().max() <= 0.1
    assert prior.mu.abs().max() > 0.09  # drawn over the whole range, not a corner of it
    torch.testing.assert_close(prior.covariance_matrices, variance * torch.eye(100).expand(10, 100, 100))
    z, _ = prior.sample(20_000, component=0, generator=torch.Generator().manual_seed(1))
    assert abs(float((z - prior.mu[0]).std()) - math.sqrt(variance)) < 0.01  # what is drawn, not only stored
    assert list(prior.parameters()) == []  # static: nothing to learn


def test_the_papers_c_and_sigma_make_components_recoverable_only_as_a_standard_deviation():
    """At d = 100, c = 0.1, sigma = 0.15 the component of z is recoverable ~97% of the time when sigma is the
    standard deviation and about half the time when it is the variance (the ceiling on any component-to-class
    map); the default is the reading under which the papers' components can become classes."""
    def bayes_accuracy(sigma_is):
        accs = []
        for seed in range(3):
            prior = GaussianMixture(K=10, d=100, c=0.1, sigma=0.15, sigma_is=sigma_is,
                                    generator=torch.Generator().manual_seed(seed))
            z, k = prior.sample(20_000, generator=torch.Generator().manual_seed(10 + seed))
            accs.append(float((prior.responsibilities(z).argmax(1) == k).float().mean()))
        return sum(accs) / len(accs)

    assert bayes_accuracy("std") > 0.95
    assert 0.35 < bayes_accuracy("variance") < 0.65
    assert GaussianMixture(K=2, d=3).A[0, 0, 0] == pytest.approx(0.15)  # std is the default reading


def test_runs_saved_before_sigma_is_keep_the_variance_reading(tmp_path):
    import yaml

    from gmgan.config import make_config, save_yaml
    from gmgan.train import load_run_config

    save_yaml(make_config("mnist"), tmp_path / "config.yaml")
    assert load_run_config(tmp_path).prior.sigma_is == "std"
    old = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del old["prior"]["sigma_is"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert load_run_config(tmp_path).prior.sigma_is == "variance"


@pytest.mark.parametrize(("flags", "expected"), [({}, "isotropic"), ({"learnable": True}, "full"),
                                                 ({"learnable": True, "covariance": "diagonal"}, "diagonal")])
def test_dynamic_priors_learn_a_full_covariance_unless_told_otherwise(flags, expected):
    from gmgan.config import make_config
    from gmgan.methods import build_method

    cfg = make_config("digits", {"prior": flags})
    assert cfg.prior.covariance == expected  # resolved in the config, so config.yaml records what ran
    prior = build_method(cfg, (1, 8, 8), torch.Generator().manual_seed(0)).prior
    assert prior.covariance == expected
    if expected == "full":  # K d x d matrices A_k, every entry trained (papers/001 Section 2)
        assert prior.scale_param.shape == (10, 100, 100) and prior.scale_param.requires_grad


@pytest.mark.parametrize("covariance", ["isotropic", "diagonal", "full"])
def test_sample_moments_per_component(covariance):
    prior = _prior(covariance)
    g = torch.Generator().manual_seed(3)
    for k in range(prior.K):
        z, comp = prior.sample(40_000, component=k, generator=g)
        assert (comp == k).all()
        torch.testing.assert_close(z.mean(0), prior.mu[k], atol=0.02, rtol=0)
        torch.testing.assert_close(torch.cov(z.T), prior.covariance_matrices[k], atol=0.02, rtol=0.03)


def test_scale_multiplies_the_covariance():
    prior = _prior("full")
    z, _ = prior.sample(40_000, component=1, scale=2.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.cov(z.T), 2.5 * prior.covariance_matrices[1], atol=0.05, rtol=0.03)


def test_components_are_drawn_uniformly():
    _, k = _prior(K=5).sample(50_000, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(torch.bincount(k, minlength=5).numpy() / 50_000, 0.2, atol=0.01)


@pytest.mark.parametrize("covariance", ["isotropic", "diagonal", "full"])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_log_prob_matches_scipy(covariance, scale):
    prior = _prior(covariance)
    z = torch.randn(50, prior.d, generator=torch.Generator().manual_seed(5)) * 1.5
    cov = (scale * prior.covariance_matrices).double().numpy()
    dens = sum(
        multivariate_normal(prior.mu[k].double().numpy(), cov[k]).pdf(z.double().numpy()) / prior.K
        for k in range(prior.K)
    )
    np.testing.assert_allclose(prior.log_prob(z, scale=scale).numpy(), np.log(dens), rtol=1e-4)


@pytest.mark.parametrize("covariance", ["isotropic", "diagonal", "full"])
def test_responsibilities_match_sklearn_predict_proba(covariance):
    prior = _prior(covariance)
    sk = SkGM(prior.K, covariance_type="full")
    sk.weights_ = prior.weights.double().numpy()
    sk.means_ = prior.mu.double().numpy()
    sk.covariances_ = prior.covariance_matrices.double().numpy()
    sk.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(sk.covariances_))
    z, _ = prior.sample(200, generator=torch.Generator().manual_seed(2))
    r = prior.responsibilities(z)
    np.testing.assert_allclose(r.double().numpy(), sk.predict_proba(z.double().numpy()), atol=1e-5)
    torch.testing.assert_close(r.sum(1), torch.ones(200))


@pytest.mark.parametrize("covariance", ["isotropic", "diagonal", "full"])
def test_dynamic_prior_gradients_reach_means_and_factors(covariance):
    prior = _prior(covariance, learnable=True)
    names = {name for name, _ in prior.named_parameters()}
    assert names == {"mu", "scale_param"}
    z, _ = prior.sample(64, generator=torch.Generator().manual_seed(0))
    z.pow(2).sum().backward()
    assert prior.mu.grad is not None and prior.mu.grad.abs().sum() > 0
    assert prior.scale_param.grad is not None and prior.scale_param.grad.abs().sum() > 0


def test_from_sklearn_keeps_the_fitted_distribution():
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.randn(300, 2) * 0.3 + [3, 0], rng.randn(200, 2) * [0.5, 0.1] - [3, 1]])
    for cov_type in ("full", "diag", "spherical", "tied"):
        sk = SkGM(2, covariance_type=cov_type, random_state=0).fit(X)
        prior = GaussianMixture.from_sklearn(sk)
        Xt = torch.as_tensor(X[:50], dtype=torch.float32)
        np.testing.assert_allclose(prior.log_prob(Xt).numpy(), sk.score_samples(X[:50]), rtol=1e-4, atol=1e-4)


def test_interpolate_endpoints_are_the_components_and_midpoint_is_linear():
    prior = _prior("full")
    eps = torch.randn(prior.d, generator=torch.Generator().manual_seed(0))
    w = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0.5, 0.5, 0]])
    z = prior.interpolate(w, eps)
    ends = [prior.mu[k] + prior.A[k] @ eps for k in range(2)]
    torch.testing.assert_close(z[0], ends[0])
    torch.testing.assert_close(z[1], ends[1])
    torch.testing.assert_close(z[2], (ends[0] + ends[1]) / 2)


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ConfigError, match="number of components K"):
        GaussianMixture(0, 4)
    with pytest.raises(ConfigError, match="sigma"):
        GaussianMixture(2, 4, sigma=0.0)
    with pytest.raises(ConfigError, match="covariance must be one of"):
        GaussianMixture(2, 4, covariance="banana")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"component must be in \[0, 2\]"):
        GaussianMixture(3, 4).sample(5, component=3)


def test_standard_normal():
    prior = StandardNormal(6)
    z, k = prior.sample(40_000, scale=0.5, generator=torch.Generator().manual_seed(0))
    assert (k == 0).all()
    torch.testing.assert_close(torch.cov(z.T), 0.5 * torch.eye(6), atol=0.02, rtol=0)
    x = torch.randn(10, 6)
    expected = multivariate_normal(np.zeros(6), np.eye(6)).logpdf(x.numpy())
    np.testing.assert_allclose(prior.log_prob(x).numpy(), expected, rtol=1e-5)
    assert math.isclose(float(prior.responsibilities(x).sum()), 10.0)
