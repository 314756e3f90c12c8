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

from gmgan.precision import full_precision


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
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
    t: Tensor | None = None,
) -> Tensor:
    """E (||grad_xhat D(xhat)||_2 - 1)^2 at xhat = t x + (1 - t) G(z), t ~ U[0, 1] per sample (or the given t).

    Example:
        >>> w = torch.tensor([3.0, 4.0])  # a linear critic with gradient norm 5 everywhere
        >>> float(gradient_penalty(lambda x: x @ w, torch.zeros(8, 2), torch.ones(8, 2)))
        16.0
    """
    if t is None:
        t = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator, device=real.device)
    xhat = (t * real + (1 - t) * fake.detach()).requires_grad_(True)
    # float32 also under bf16/fp16 training: the critic pass, and the gradient, whose create_graph=True backward
    # is itself a recorded forward that autocast would otherwise run in low precision
    with full_precision():
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


# --- Responsibility learning (papers/002): the posterior consistency module's losses -------------------------

MEASURES = ("mi", "kl", "js")
_EPS = 1e-8


def mutual_information(p: Tensor, q: Tensor, weights: Tensor | None = None) -> Tensor:
    """I(A; B) of two categorical variables whose joint is the (weighted) mean of the pairs' outer products.

    Row i of ``p`` (n, K) and of ``q`` (n, K) are two distributions over components for the same pair; the
    joint P(a, b) = sum_i w_i p_i(a) q_i(b) / sum_i w_i (the estimator of Ji et al.'s IIC, which papers/002
    Eq. 5 leaves unstated). I = sum P log(P / (P_a P_b)): 0 when the pairs carry no information about each
    other, log K when both are the same one-hot code spread evenly over the K values.

    Example:
        >>> p = torch.eye(3)
        >>> round(float(mutual_information(p, p)), 4) == round(math.log(3), 4)
        True
    """
    w = torch.ones(p.shape[0], device=p.device, dtype=p.dtype) if weights is None else weights
    joint = torch.einsum("n,na,nb->ab", w, p, q) / w.sum().clamp_min(_EPS)
    pa, pb = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    return (joint * (torch.log(joint + _EPS) - torch.log(pa * pb + _EPS))).sum()


@torch.no_grad()
def align_outputs(p: Tensor, q: Tensor) -> Tensor:
    """The permutation of q's outputs that best matches p's: ``perm[k]`` is the output of q standing for value k.

    A loss that only asks the pairs to be informative (the mutual information of Eq. 4) is maximal for any
    relabelling of C's outputs, so C's output k need not be component k, while Eq. 6 weighs the fake from
    component k by C_k(x). The joint table P(k, j) = mean_i p_i(k) q_i(j) of a batch of generated samples,
    whose components are known, tells which output j stands for component k; the one-to-one matching with the
    most mass (Hungarian algorithm, scipy) is the permutation; ``q[:, perm]`` then has output k = value k.

    Example:
        >>> p = torch.eye(3)
        >>> align_outputs(p, p[:, [2, 0, 1]]).tolist()  # q's output 1 stands for value 0, 2 for 1, 0 for 2
        [1, 2, 0]
    """
    from scipy.optimize import linear_sum_assignment

    joint = torch.einsum("na,nb->ab", p.double(), q.double()).cpu().numpy()
    rows, cols = linear_sum_assignment(joint, maximize=True)
    perm = torch.empty(p.shape[1], dtype=torch.long)
    perm[torch.as_tensor(rows)] = torch.as_tensor(cols)
    return perm.to(q.device)


def kl_divergence(p: Tensor, q: Tensor) -> Tensor:
    """KL(p_i || q_i) per row: (n, K), (n, K) -> (n,)."""
    return (p * (torch.log(p + _EPS) - torch.log(q + _EPS))).sum(-1)


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence per row (natural log, at most log 2): (n, K), (n, K) -> (n,)."""
    m = 0.5 * (p + q)
    return 0.5 * (kl_divergence(p, m) + kl_divergence(q, m))


def consistency_loss(p: Tensor, q: Tensor, measure: str = "mi", weights: Tensor | None = None) -> Tensor:
    """A loss that is small when the distributions q agree with p, pair by pair (papers/002 Eq. 4-5).

    ``mi``: minus the mutual information of the pairs (the paper's choice; its minimum does not fix which
    output of C stands for which component, only that the pairing is informative). ``kl``: mean KL(p_i ||
    q_i). ``js``: mean Jensen-Shannon divergence. ``weights`` (n,) weight the pairs (default equal).
    """
    if measure == "mi":
        return -mutual_information(p, q, weights)
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}. Got {measure!r} instead.")
    per_pair = kl_divergence(p, q) if measure == "kl" else js_divergence(p, q)
    if weights is None:
        return per_pair.mean()
    return (weights * per_pair).sum() / weights.sum().clamp_min(_EPS)


def marginal_divergence(real_resp: Tensor, fake_resp: Tensor, measure: str = "mi") -> Tensor:
    """L_xx (papers/002 Eq. 5): how far the responsibilities C gives real data are from those of generated data.

    Real and generated samples are not paired, so (unlike L_xz) the comparison is between the two batches'
    distributions over components, p_real = mean_i C(x_i) and p_fake = mean_j C(x^_j). ``mi``: the mutual
    information between C's output and whether its input was real or generated (each half the time), which
    is exactly JS(p_real, p_fake); it is 0 when C cannot tell the sources apart. ``js``: the same number.
    ``kl``: KL(p_fake || p_real), large when real data leave out a component that generated data use.

    Example:
        >>> even, one = torch.full((4, 2), 0.5), torch.tensor([[1.0, 0.0]]).expand(4, 2)
        >>> float(marginal_divergence(even, even))
        0.0
        >>> round(float(marginal_divergence(one, even, "kl")), 3)  # 0.5 log(0.5 / 1) + 0.5 log(0.5 / 1e-8)
        8.517
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}. Got {measure!r} instead.")
    p_real, p_fake = real_resp.mean(0, keepdim=True), fake_resp.mean(0, keepdim=True)
    if measure == "kl":
        return kl_divergence(p_fake, p_real)[0]
    return js_divergence(p_real, p_fake)[0]


def responsibility_d_loss(real_logits: Tensor, fake_logits: Tensor, resp: Tensor) -> Tensor:
    """papers/002 Eq. 6 for D, non-saturating: each real x_i is paired with one fake per component.

    ``real_logits`` (M,), ``fake_logits`` (M, K) (fake k of real i from component k), ``resp`` (M, K) the
    weights p(k | x_i). Eq. 6 is -1/K sum_k r_ik [log D(x_i) + log(1 - D(x^k_i))]; since sum_k r_ik = 1 its
    real part is -log D(x_i) / K. We drop the constant 1/K and halve, so that with K = 1 this is exactly
    :func:`ns_d_loss` and the learning rate means the same for every method.
    """
    fake = (resp * F.softplus(fake_logits)).sum(1)
    return 0.5 * (F.softplus(-real_logits).mean() + fake.mean())


def responsibility_g_loss(fake_logits: Tensor, resp: Tensor) -> Tensor:
    """G's non-saturating counterpart of Eq. 6: -sum_k r_ik log D(x^k_i), averaged over the reals i."""
    return (resp * F.softplus(-fake_logits)).sum(1).mean()
