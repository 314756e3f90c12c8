"""Toy-grid metrics: the first honest check that a GAN trains.

For generated points against a known grid of isotropic Gaussians (the 2-D benchmark of Metz et al. /
VEEGAN / PacGAN, and GM-GAN Section 4.1):

* ``high_quality``: fraction of samples within ``3 * std`` (Euclidean) of their nearest mode;
* ``modes_covered``: modes that receive at least ``min_share`` of the high-quality samples a uniform
  generator would give them (PacGAN counts a mode as covered with 20 of 2,500 samples over 25 modes,
  i.e. 20% of the uniform share; that is the default);
* ``log_likelihood``: mean log-density of the samples under the true mixture (GM-GAN Fig. 5).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmgan.data import ToyGrid


def toy_metrics(points: Tensor, grid: ToyGrid, min_share: float = 0.2) -> dict[str, float]:
    """Mode coverage, high-quality fraction and log-likelihood of ``points`` (n, 2) under ``grid``.

    Example:
        >>> grid = ToyGrid(size=3, spacing=1.0, std=0.05)
        >>> x, _ = grid.sample(900, torch.Generator().manual_seed(0))
        >>> m = toy_metrics(x, grid)
        >>> m["modes_covered"], round(m["high_quality"], 2)  # P(chi2_2 <= 9) = 0.989
        (9, 0.99)
    """
    points = points.detach().float().cpu()
    dist = torch.cdist(points, grid.means)  # (n, M)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * grid.std
    M = grid.means.shape[0]
    counts = torch.bincount(nearest[good], minlength=M)
    threshold = min_share * points.shape[0] / M
    ll = grid.log_prob(points)
    return {
        "modes_covered": int((counts >= threshold).sum()),
        "modes_total": M,
        "high_quality": float(good.float().mean()),
        # a diverged generator's points can have log-likelihood -inf; JSON has no infinities: null
        "log_likelihood": float(ll.mean()) if bool(torch.isfinite(ll.mean())) else None,  # type: ignore[dict-item]
        "n_samples": int(points.shape[0]),
    }
