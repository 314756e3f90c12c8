"""MS-SSIM at small sizes against torchmetrics, and the pairwise means behind d_intra."""

import pytest
import torch

from gmgan.errors import EvaluationError
from gmgan.evaluate.msssim import (
    intra_class_diversity,
    mean_pairwise_ms_ssim,
    ms_ssim,
    msssim_settings,
    within_class_diversity,
)


def _images(n, size, channels=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth random images (upsampled noise), closer to real images than white noise
    low = torch.rand(n, channels, max(2, size // 4), max(2, size // 4), generator=g) * 2 - 1
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 3), (28, 1), (32, 3), (64, 1)])
def test_matches_torchmetrics(size, channels):
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_msssim

    s = msssim_settings(size)
    x = _images(4, size, channels, 0)
    y = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    ref = torch.cat([tm_msssim(x[i:i + 1], y[i:i + 1], kernel_size=s.kernel_size, sigma=s.sigma, betas=s.betas,
                               data_range=2.0, normalize="relu").reshape(1) for i in range(4)])
    assert torch.allclose(ms_ssim(x, y, s), ref, atol=1e-5)


def test_identity_is_one_and_noise_lowers_it():
    x = _images(6, 28)
    assert torch.allclose(ms_ssim(x, x), torch.ones(6), atol=1e-5)
    g = torch.Generator().manual_seed(0)
    scores = [ms_ssim(x, (x + sd * torch.randn(x.shape, generator=g)).clamp(-1, 1)).mean().item()
              for sd in (0.05, 0.2, 0.8)]
    assert 1 > scores[0] > scores[1] > scores[2]


def test_settings_fit_every_supported_size():
    for size in (8, 16, 28, 32, 48, 64, 96):
        s = msssim_settings(size)
        assert size / 2 ** (len(s.betas) - 1) >= s.kernel_size
        assert sum(s.betas) == pytest.approx(1.0)
    with pytest.raises(EvaluationError, match="at least 3 px"):
        msssim_settings(2)


def test_all_pairs_mean_equals_explicit_pairs():
    x = _images(9, 16, seed=3)
    i, j = torch.triu_indices(9, 9, offset=1)
    explicit = ms_ssim(x[i], x[j]).double().mean().item()
    out = mean_pairwise_ms_ssim(x, pairs=None, chunk=5)
    assert out["pairs"] == 36 and out["all_pairs"]
    assert out["mean"] == pytest.approx(explicit, abs=1e-6)


def test_random_pairs_estimate_the_all_pairs_mean():
    x = _images(40, 16, seed=4)
    exact = mean_pairwise_ms_ssim(x, pairs=None)["mean"]
    estimates = [mean_pairwise_ms_ssim(x, pairs=300, seed=s)["mean"] for s in range(8)]
    assert sum(estimates) / len(estimates) == pytest.approx(exact, abs=0.01)


def test_d_intra_is_zero_for_copies_and_needs_two_images():
    x = _images(1, 28).repeat(5, 1, 1, 1)
    assert intra_class_diversity(x, pairs=None)["d_intra"] == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(EvaluationError, match="at least 2 images"):
        intra_class_diversity(x[:1])


def test_within_class_diversity_sees_collapse_that_eq8_misses():
    g = torch.Generator().manual_seed(0)
    prototypes = torch.rand(4, 1, 16, 16, generator=g) * 2 - 1
    classes = torch.arange(4).repeat_interleave(10)
    collapsed = prototypes[classes]  # every class is one image
    diverse = collapsed + 0.5 * torch.randn(collapsed.shape, generator=g)
    assert within_class_diversity(collapsed, classes, pairs=None)["mean"] == pytest.approx(0.0, abs=1e-5)
    assert within_class_diversity(diverse, classes, pairs=None)["mean"] > 0.2
    assert intra_class_diversity(collapsed, pairs=None)["d_intra"] > 0.5  # Eq. 8 still calls the set diverse
    one = within_class_diversity(collapsed, torch.tensor([0] * 39 + [5]), pairs=None)
    assert one["per_class"][5] is None and len(one["per_class"]) == 6
