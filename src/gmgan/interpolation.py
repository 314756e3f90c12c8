"""Interpolation between mixture components (papers/002, Section III-B, Fig. 3-4).

A latent between components is z = sum_k w_k (mu_k + A_k eps) with eps held fixed
(:meth:`GaussianMixture.interpolate`); this module builds the weights of a two-way strip and of a three-way
triangle and turns them into images.

Example:
    >>> strip_weights(0, 2, K=3, steps=3).tolist()
    [[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmgan.errors import ConfigError
from gmgan.nets import generate
from gmgan.priors import GaussianMixture


def _check(components: tuple[int, ...], K: int) -> None:
    if len(set(components)) != len(components):
        raise ConfigError(f"interpolation needs distinct components. Got {list(components)}.")
    bad = [k for k in components if not 0 <= k < K]
    if bad:
        raise ConfigError(f"components must be in [0, {K - 1}] for this K = {K} mixture. Got {bad}.")


def strip_weights(a: int, b: int, K: int, steps: int = 10) -> Tensor:
    """(steps, K) weights going from component a (first row) to component b (last row) in equal steps."""
    _check((a, b), K)
    if steps < 2:
        raise ConfigError(f"a strip needs at least 2 steps. Got {steps}.")
    t = torch.linspace(0, 1, steps)
    w = torch.zeros(steps, K)
    w[:, a], w[:, b] = 1 - t, t
    return w


def triangle_weights(a: int, b: int, c: int, K: int, n: int = 8) -> tuple[Tensor, list[tuple[int, int]]]:
    """Three-way mixtures on a triangular lattice of side n (Fig. 3): a at the top, b bottom left, c bottom right.

    Returns the (n (n + 1) / 2, K) weights, each row summing to 1, and the (row, column) of each in the
    triangle (row r holds r + 1 mixtures).
    """
    _check((a, b, c), K)
    if n < 2:
        raise ConfigError(f"a triangle needs a side of at least 2. Got {n}.")
    rows, where = [], []
    for r in range(n):
        for j in range(r + 1):
            w = torch.zeros(K)
            w[a], w[b], w[c] = (n - 1 - r) / (n - 1), (r - j) / (n - 1), j / (n - 1)
            rows.append(w)
            where.append((r, j))
    return torch.stack(rows), where


def interpolate(G: torch.nn.Module, prior: GaussianMixture, weights: Tensor, eps: Tensor) -> Tensor:
    """G(sum_k w_k (mu_k + A_k eps)) for each row of ``weights`` (m, K); eps (d,) or (m, d)."""
    z = prior.interpolate(weights.to(prior.mu.device), eps.to(prior.mu.device))
    return generate(G, z)


def strips(G: torch.nn.Module, prior: GaussianMixture, components: list[int], steps: int, rows: int,
           generator: torch.Generator) -> Tensor:
    """``rows`` strips a -> b (one fixed eps per row): images (rows * steps, ...), row-major."""
    w = strip_weights(components[0], components[1], prior.K, steps)
    eps = torch.randn(rows, prior.d, generator=generator, device=generator.device).to(prior.mu.device)
    return torch.cat([interpolate(G, prior, w, e) for e in eps])


def triangle(G: torch.nn.Module, prior: GaussianMixture, components: list[int], n: int,
             generator: torch.Generator) -> Tensor:
    """An n x n grid whose lower-left triangle holds the three-way mixtures (blank cells are white)."""
    a, b, c = components[:3]
    w, where = triangle_weights(a, b, c, prior.K, n)
    eps = torch.randn(prior.d, generator=generator, device=generator.device)
    x = interpolate(G, prior, w, eps).cpu()
    grid = torch.ones(n * n, *x.shape[1:], dtype=x.dtype)  # +1 is white in [-1, 1]
    for img, (r, j) in zip(x, where, strict=True):
        grid[r * n + j] = img
    return grid
