"""Each metric against a reference implementation or a hand-computed case."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gmgan.errors import EvaluationError
from gmgan.evaluate import metrics as M


def _features(n, f, seed, shift=0.0):
    a = torch.randn(f, f, generator=torch.Generator().manual_seed(123)) / math.sqrt(f)  # one distribution
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, f, generator=g) @ a + shift).double()


def _scipy_fid(x, y):
    x, y = x.numpy(), y.numpy()
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_equals_scipy_formula():
    x, y = _features(500, 16, 0), _features(400, 16, 1, shift=0.3)
    assert M.fid(x, y) == pytest.approx(_scipy_fid(x, y), rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_finite_when_singular():
    x = _features(300, 16, 0)
    assert abs(M.fid(x, x)) < 1e-6
    few = _features(10, 64, 2)  # 10 samples of 64-d features: singular covariances; scipy's sqrtm goes complex
    value = M.fid(few, _features(10, 64, 3))
    assert math.isfinite(value) and value > 0


def test_fid_needs_two_samples():
    with pytest.raises(EvaluationError, match="at least 2 samples"):
        M.fid(_features(1, 4, 0), _features(5, 4, 1))


def test_kid_matches_torchmetrics():
    from torchmetrics.image.kid import KernelInceptionDistance

    class Identity(torch.nn.Module):
        num_features = 8

        def forward(self, x):
            return x

    x, y = _features(60, 8, 0).float(), _features(60, 8, 1, shift=0.5).float()
    ref = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=60)
    ref.update(x, real=True)
    ref.update(y, real=False)
    ref_mean, _ = ref.compute()
    ours = M.kid(x, y, subsets=1, subset_size=60)  # the whole set: no sampling, both sides deterministic
    assert ours["mean"] == pytest.approx(float(ref_mean), rel=1e-4)


def test_kid_lowers_the_subset_size_to_the_sample_count():
    out = M.kid(_features(50, 8, 0), _features(30, 8, 1), subsets=5, subset_size=1000)
    assert out["subset_size"] == 30
    assert abs(M.kid(_features(400, 8, 0), _features(400, 8, 1), subset_size=200)["mean"]) < 0.05


def test_inception_score_matches_torchmetrics_and_hand_cases():
    from torchmetrics.image.inception import InceptionScore

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    logits = torch.randn(200, 10, generator=torch.Generator().manual_seed(0)) * 3
    ref = InceptionScore(feature=Identity(), splits=1, normalize=False)
    ref.update(logits)
    assert M.inception_score(logits.softmax(1), splits=1)["mean"] == pytest.approx(float(ref.compute()[0]), rel=1e-5)
    one_class = np.tile(np.eye(10)[0], (100, 1))
    assert M.inception_score(one_class, splits=2)["mean"] == pytest.approx(1.0)
    with pytest.raises(EvaluationError, match="at least 20 samples"):
        M.inception_score(one_class[:10], splits=10)


def test_nearest_distances_in_chunks_equal_brute_force():
    x, r = _features(37, 5, 0).float(), _features(53, 5, 1).float()
    brute = torch.cdist(x.double(), r.double())
    assert torch.allclose(M.nearest_distances(x, r, k=1, chunk=8).double(), brute.min(1).values, atol=1e-5)
    self_brute = torch.cdist(r.double(), r.double()).sort(1).values[:, 3]  # 3rd neighbour, self excluded
    assert torch.allclose(M.nearest_distances(r, r, k=3, exclude_self=True, chunk=7).double(), self_brute,
                          atol=1e-5)


def test_prdc_of_identical_sets():
    x = _features(200, 8, 0).float()
    out = M.prdc(x, x.clone())
    assert out["precision"] == 1.0 and out["recall"] == 1.0 and out["coverage"] == 1.0


def test_prdc_matches_the_prdc_package():
    prdc = pytest.importorskip("prdc")
    real, fake = _features(300, 6, 0).float(), _features(250, 6, 1, shift=0.4).float()
    ours = M.prdc(real, fake, k=5, k_dc=5, chunk=64)
    ref = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(ref[key]), abs=1e-9), key


def test_prdc_drops_for_shifted_samples_and_needs_k_plus_one():
    real = _features(300, 4, 0).float()
    far = M.prdc(real, _features(300, 4, 1).float() + 10)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    with pytest.raises(EvaluationError, match="at least 4 samples"):
        M.prdc(real, real[:3])


def test_quality_score_is_eq6():
    d = torch.tensor([0.0, 0.5, 3.0])
    a = 2.5
    expected = 1 - torch.exp(d) / (torch.exp(d) + a)
    assert torch.allclose(M.quality_scores(d, math.log(a)), expected.float(), atol=1e-6)


def test_inter_class_diversity_and_histogram():
    assert M.inter_class_diversity(torch.arange(1000) % 10, 10) == pytest.approx(1.0)
    assert M.inter_class_diversity(torch.full((50,), 3), 10) == 0.0
    two = M.inter_class_diversity(torch.arange(100) % 2, 4)  # two of four classes, evenly: log 2 / log 4
    assert two == pytest.approx(0.5)
    assert M.class_histogram(torch.tensor([0, 2, 2]), 4).tolist() == [1, 0, 2, 0]


def test_component_purity():
    comp = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    cls = torch.tensor([5, 5, 5, 1, 2, 3, 7])
    out = M.component_purity(comp, cls, K=4, num_classes=10)
    assert out["purity"][:3] == [0.75, 0.5, 1.0] and out["purity"][3] is None
    assert out["majority_class"][:3] == [5, 2, 7]
    assert out["mean"] == pytest.approx(5 / 7)


def test_diversity_and_combined_are_geometric_means():
    assert M.diversity(0.64, 0.25) == pytest.approx(0.4)
    assert M.combined_score(0.9, 0.4) == pytest.approx(0.6)


def test_prior_spread_reads_how_many_directions_each_component_keeps():
    from gmgan.priors import GaussianMixture

    prior = GaussianMixture(K=3, d=10, c=1.0, sigma=0.15, covariance="full", learnable=True)
    at_start = M.prior_spread(prior)
    # A_k = sigma I: every direction carries the same variance
    assert at_start["rms_std"] == pytest.approx(0.15)
    assert at_start["largest_std"] == pytest.approx(0.15)
    assert at_start["effective_rank"] == pytest.approx(10.0)
    assert at_start["dims_90"] == 9.0  # 9 of 10 equal directions hold exactly 90%
    with torch.no_grad():
        prior.scale_param.zero_()
        prior.scale_param[:, 0, 0] = 2.0  # all the variance along one direction...
        prior.scale_param[0, 1, 1] = 2.0  # ...except component 0: two equal ones
        prior.mu.copy_(torch.tensor([[0.0] * 10, [3.0] + [0.0] * 9, [0.0, 4.0] + [0.0] * 8]))
    spread = M.prior_spread(prior)
    assert spread["effective_rank"] == pytest.approx((2 + 1 + 1) / 3)
    assert spread["dims_90"] == pytest.approx((2 + 1 + 1) / 3)
    assert spread["largest_std"] == pytest.approx(2.0)
    assert spread["rms_std"] == pytest.approx((8**0.5 + 2 + 2) / 3 / 10**0.5)
    assert spread["min_mean_distance"] == pytest.approx(3.0)
    assert spread["mean_mean_distance"] == pytest.approx((3 + 4 + 5) / 3)
    # a diagonal prior reads the same way
    diagonal = GaussianMixture(K=2, d=4, sigma=0.5, covariance="diagonal")
    assert M.prior_spread(diagonal)["effective_rank"] == pytest.approx(4.0)


def test_class_accuracy_ceiling_is_the_bayes_accuracy_of_the_prior():
    from scipy.stats import norm

    from gmgan.priors import ConditionalNormal, GaussianMixture

    prior = GaussianMixture(K=2, d=1, c=1.0, sigma=1.0)
    with torch.no_grad():
        prior.mu.copy_(torch.tensor([[-1.0], [1.0]]))
    one_each = torch.eye(2, dtype=torch.bool)
    # two unit Gaussians 2 apart: the best rule errs when z crosses the midpoint, Phi(-1) of the time
    assert M.class_accuracy_ceiling(prior, one_each, n=200_000) == pytest.approx(norm.cdf(1.0), abs=0.005)
    # scale multiplies the covariance: a quarter of it halves the std
    assert M.class_accuracy_ceiling(prior, one_each, 0.25, n=200_000) == pytest.approx(norm.cdf(2.0), abs=0.005)
    # components that ask for the same class cannot be confused at a cost
    assert M.class_accuracy_ceiling(prior, torch.ones(2, 1, dtype=torch.bool)) == 1.0
    # AC-GAN's class code is exact
    assert M.class_accuracy_ceiling(ConditionalNormal(4, 3), torch.eye(3, dtype=torch.bool)) == 1.0


def test_output_usage_finds_merged_components_and_its_mutual_information():
    K = 4
    comp = torch.arange(K).repeat_interleave(5)
    apart = M.output_usage(comp, (comp + 1) % K, K)  # every component its own output (relabelled)
    assert apart["outputs_used"] == 4 and apart["merged"] == [] and apart["agreement"] == 1.0
    assert apart["mutual_information"] == pytest.approx(math.log(4))
    # components 1 and 3 share output 0, component 0 and 2 keep their own: MI of 3 groups sized 1/4, 1/2, 1/4
    merged = M.output_usage(comp, torch.tensor([2, 0, 1, 0])[comp], K)
    assert merged["outputs_used"] == 3 and merged["merged"] == [[1, 3]]
    assert merged["mutual_information"] == pytest.approx(1.5 * math.log(2))
    # one stray sample: still one output per component by majority, agreement below 1
    noisy = (comp + 1) % K
    noisy[0] = 3
    usage = M.output_usage(comp, noisy, K)
    assert usage["merged"] == [] and usage["agreement"] == pytest.approx(19 / 20)
    everything = M.output_usage(comp, torch.zeros_like(comp), K)
    assert everything["merged"] == [[0, 1, 2, 3]] and everything["mutual_information"] == pytest.approx(0.0)
