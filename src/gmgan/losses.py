"""Adversarial losses, each a small pure function of discriminator outputs (logits).

Non-saturating GAN: GM-GAN (papers/001) Eq. 2-3 with Algorithm 1's averaging (line 16: the discriminator
loss is the mean over real and fake, i.e. half the sum of the two means). WGAN-GP: Gulrajani et al. 2017,
the loss the report (papers/004) and GAEL (papers/000) use as their second option.
"""

from __future__ import annotations

import math
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


# ------------------------------------------------------------------------------------------ supervised
# ``targets`` below is a (B, N) boolean mask: the classes a generated sample may be. With K >= N components
# each row holds one class, f(k), and every loss reduces to the paper's formula; with K < N a component
# stands for several classes and the generator is asked for "a real sample of one of them".


def _neg_log_one_minus_exp_neg(s: Tensor) -> Tensor:
    """-log(1 - exp(-s)) for s >= 0, accurate and with finite gradients at both ends (Maechler 2012).

    Each branch gets inputs that are safe for it, so torch.where never differentiates through an inf.
    """
    small = s < 0.6931
    s_small = torch.where(small, s, torch.ones_like(s)).clamp(min=1e-35)
    s_large = torch.where(small, torch.ones_like(s), s)
    return torch.where(small, s_small - torch.log(torch.expm1(s_small)), -torch.log1p(-torch.exp(-s_large)))


def supervised_d_loss(real_logits: Tensor, labels: Tensor, fake_logits: Tensor) -> Tensor:
    """GM-GAN's supervised discriminator loss (papers/001, Algorithm 1 lines 11, 12 and 16).

    N binary discriminators D_m = sigmoid(logit_m): a real x of class y should read "real" on D_y and "not
    real" on every other D_m; a fake should read "not real" everywhere:
    L(D) = 1/(2b) sum_j [ -log D(x_j)_y - sum_{m != y} log(1 - D(x_j)_m) - sum_m log(1 - D(xhat_j)_m) ].

    Example:
        >>> float(supervised_d_loss(torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(2, 3)))  # 6 log 2 / 2
        2.0794...
    """
    one_hot = F.one_hot(labels, real_logits.shape[1]).bool()
    # -log sigmoid(l) = softplus(-l) on the true class, -log(1 - sigmoid(l)) = softplus(l) elsewhere
    real = torch.where(one_hot, F.softplus(-real_logits), F.softplus(real_logits)).sum(1)
    fake = F.softplus(fake_logits).sum(1)
    return 0.5 * (real.mean() + fake.mean())


def supervised_g_loss(fake_logits: Tensor, targets: Tensor) -> Tensor:
    """GM-GAN's supervised generator loss (Algorithm 1, line 23), L(G) = mean_j of
    -log D(xhat_j)_{f(k_j)} - sum_{m != f(k_j)} log(1 - D(xhat_j)_m).

    With several target classes S (K < N) the first term becomes -log(1 - prod_{m in S} (1 - D_m)),
    "at least one of S says real", which is the paper's term when S has one class.

    Example:
        >>> t = torch.tensor([[True, False]])
        >>> float(supervised_g_loss(torch.zeros(1, 2), t))  # -log(1/2) - log(1/2)
        1.3862...
    """
    not_real = F.softplus(fake_logits)  # -log(1 - D_m)
    # -log(1 - prod_{m in S} (1 - D_m)) = -log(1 - exp(-s)) with s = sum_{m in S} -log(1 - D_m)
    hit = _neg_log_one_minus_exp_neg(torch.where(targets, not_real, torch.zeros_like(not_real)).sum(1))
    others = torch.where(targets, torch.zeros_like(not_real), not_real).sum(1)
    return (hit + others).mean()


def kplus1_d_loss(real_logits: Tensor, labels: Tensor, fake_logits: Tensor) -> Tensor:
    """The report's K+1-class discriminator (papers/004, 2.2.4): softmax over N real classes plus a fake class
    (index N); L_D = -E log D(x)_{y(x)} - E log D(G(z))_{N+1}.

    Example:
        >>> float(kplus1_d_loss(torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(2, 3)))  # 2 log 3
        2.1972...
    """
    fake_class = torch.full((fake_logits.shape[0],), fake_logits.shape[1] - 1, device=fake_logits.device)
    return F.cross_entropy(real_logits, labels) + F.cross_entropy(fake_logits, fake_class)


def kplus1_g_loss(fake_logits: Tensor, targets: Tensor) -> Tensor:
    """L_{G+GMM} = -E log D(G(z))_{f(y(z))} (papers/004, 2.2.4); with several target classes, the log of
    their summed probability. ``targets`` is (B, N); the fake class is never a target.
    """
    log_p = torch.log_softmax(fake_logits, dim=1)[:, :-1]
    return -torch.logsumexp(log_p.masked_fill(~targets, float("-inf")), dim=1).mean()


def class_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """The auxiliary classifier's loss of AC-GAN (Odena et al. 2017): -E log P(C = c | x)."""
    return F.cross_entropy(logits, labels)


# -------------------------------------------------------------------------------------------- encoder
def encoder_nll(encoded: Tensor, z: Tensor) -> Tensor:
    """-log P(z | x) of GAEL's Eq. 1-2 with a diagonal Sigma(x), averaged over the batch:
    0.5 log((2 pi)^M |Sigma(x)|) + 0.5 (z - Enc(x))^T Sigma(x)^-1 (z - Enc(x)).

    ``encoded`` is the encoder head's (B, 2M) output: Enc(x), then log diag Sigma(x) (zeros for Sigma = I).

    Example:
        >>> z = torch.zeros(1, 2)
        >>> float(encoder_nll(torch.zeros(1, 4), z))  # M/2 log(2 pi) at the mean with Sigma = I
        1.8378...
    """
    M = z.shape[1]
    mean, log_var = encoded[:, :M], encoded[:, M:]
    sq = (z - mean).pow(2) * torch.exp(-log_var)
    return 0.5 * (M * math.log(2 * math.pi) + log_var.sum(1) + sq.sum(1)).mean()
