import math

import pytest
import torch

from gmgan.data import TOY_GRIDS, ToyGrid
from gmgan.evaluate.toy import toy_metrics


def test_true_samples_cover_every_mode_with_the_chi2_share_of_high_quality():
    grid = TOY_GRIDS["toy-grid5"]
    x, _ = grid.sample(50_000, torch.Generator().manual_seed(0))
    m = toy_metrics(x, grid)
    assert m["modes_covered"] == 25
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)  # P(chi2_2 <= 9)
    # the mean log-likelihood of true samples is minus the entropy: log 25 + log(2 pi e std^2) for separated modes
    expected = -math.log(2 * math.pi * math.e * grid.std**2) - math.log(25)
    assert m["log_likelihood"] == pytest.approx(expected, abs=0.02)


def test_mode_collapse_is_seen():
    grid = ToyGrid(size=3, spacing=1.0, std=0.05)
    collapsed = grid.means[4] + 0.01 * torch.randn(1000, 2)
    m = toy_metrics(collapsed, grid)
    assert m["modes_covered"] == 1 and m["high_quality"] == 1.0


def test_a_mode_with_too_few_samples_is_not_covered():
    grid = ToyGrid(size=2, spacing=1.0, std=0.05)
    counts = [250, 250, 250, 30]  # uniform share 250; 30 < 20% of it
    x = torch.cat([grid.means[i].expand(c, 2) for i, c in enumerate(counts)])
    assert toy_metrics(x, grid)["modes_covered"] == 3


def test_off_grid_points_are_low_quality_and_unlikely():
    grid = TOY_GRIDS["toy-grid5"]
    x = torch.full((100, 2), 1.0)  # between modes
    m = toy_metrics(x, grid)
    assert m["high_quality"] == 0.0 and m["modes_covered"] == 0
    assert m["log_likelihood"] < -100
