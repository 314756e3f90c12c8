"""Adversarial losses, each a small pure function of discriminator outputs (logits).

Non-saturating GAN: GM-GAN (papers/001) Eq. 2-3 with Algorithm 1's averaging (line 16: the discriminator
loss is the mean over real and fake, i.e. half the sum of the two means). WGAN-GP: Gulrajani et al. 2017,
the loss the report (papers/004) and GAEL (papers/000) use as their second option.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def ns_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """L(D) = 1/2 [ -E log D(x) - E log(1 - D(G(z))) ] with D = sigmoid(logits) (Eq. 3, Alg. 1 l. 16).

    Example:
        >>> float(ns_d_loss(torch.zeros(4), torch.zeros(4)))  # D = 1/2 everywhere: log 2
        0.6931...
    """
    # softplus(-l) = -log sigmoid(l) and softplus(l) = -log(1 - sigmoid(l)), without overflow
    return 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())


def ns_g_loss(fake_logits: Tensor) -> Tensor:
    """L(G) = -E log D(G(z)), the non-saturating generator loss (Eq. 2)."""
    return F.softplus(-fake_logits).mean()


def wgan_d_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Critic loss without the penalty: E D(G(z)) - E D(x)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_g_loss(fake_scores: Tensor) -> Tensor:
    """Generator loss of WGAN: -E D(G(z))."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """E (||grad_xhat D(xhat)||_2 - 1)^2 at xhat = t x + (1 - t) G(z), t ~ U[0, 1] per sample.

    Example:
        >>> w = torch.tensor([3.0, 4.0])  # a linear critic with gradient norm 5 everywhere
        >>> float(gradient_penalty(lambda x: x @ w, torch.zeros(8, 2), torch.ones(8, 2)))
        16.0
    """
    t = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator, device=real.device)
    xhat = (t * real + (1 - t) * fake.detach()).requires_grad_(True)
    scores = critic(xhat)
    (grad,) = torch.autograd.grad(scores.sum(), xhat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


LOSSES = ("ns", "wgan-gp")
