"""Latent priors: the standard normal of the baselines and the Gaussian mixture of GM-GAN.

GM-GAN (papers/001, Section 2, Algorithm 1 lines 1-3): K Gaussians with uniform weights, means
mu_k ~ U[-c, c]^d and covariance Sigma_k = sigma * I. The *static* GM-GAN keeps them fixed; the *dynamic*
GM-GAN learns them through the reparameterisation z = A_k eps + mu_k, eps ~ N(0, I), so Sigma_k = A_k A_k^T.

What sigma means (``sigma_is``). The paper writes Sigma_k = sigma * I, which read literally makes sigma a
variance (standard deviation sqrt(sigma)). Its dynamic variant draws z = A_k eps + mu_k, and its stated
defaults (d = 100, c = 0.1, sigma = 0.15) only produce the behaviour it reports, components that become
classes (Section 5, Fig. 8), when sigma is the standard deviation: at d = 100 the means lie about
c * sqrt(2 d / 3) = 0.82 apart, so with a standard deviation of 0.387 (the variance reading) the component of
z is recoverable from z only about half the time, which caps any component-to-class map near 50%, while with
0.15 it is recoverable about 97% of the time. gmgan therefore reads sigma as the standard deviation by
default (``sigma_is="std"``: A_k starts as sigma * I) and keeps the literal reading one option away
(``sigma_is="variance"``: A_k starts as sqrt(sigma) * I). Runs saved before the option existed were
trained with the variance reading and load with it.
After training, Section 4.3 trades quality for diversity by sampling z | k ~ N(mu_k, scale * Sigma_k): that
is the ``scale`` argument of :meth:`GaussianMixture.sample`.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gmgan.errors import ConfigError
from gmgan.precision import full_precision

Covariance = Literal["isotropic", "diagonal", "full"]
COVARIANCES = ("isotropic", "diagonal", "full")
SIGMA_READINGS = ("std", "variance")


def initial_std(sigma: float, sigma_is: str = "std") -> float:
    """The standard deviation of each component at initialisation for a given sigma and reading.

    Example:
        >>> initial_std(0.15, "std"), round(initial_std(0.01, "variance"), 3)
        (0.15, 0.1)
    """
    if sigma_is not in SIGMA_READINGS:
        raise ConfigError(f"sigma_is must be one of {SIGMA_READINGS}. Got {sigma_is!r} instead.")
    return sigma if sigma_is == "std" else math.sqrt(sigma)


def _in_full_precision(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with full_precision():
            return fn(*args, **kwargs)

    return wrapper


class Prior(nn.Module):
    """A distribution over latents z in R^d with K components (K = 1 for the standard normal).

    Sampling, log-densities and responsibilities always run in float32, also under autocast (bf16/fp16
    training): every subclass's ``sample``, ``log_prob`` and ``responsibilities`` are wrapped for that.
    """

    K: int
    d: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("sample", "log_prob", "responsibilities"):
            if name in cls.__dict__:
                setattr(cls, name, _in_full_precision(cls.__dict__[name]))

    def sample(
        self,
        n: int,
        component: int | Tensor | None = None,
        scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def log_prob(self, z: Tensor, scale: float = 1.0) -> Tensor:
        raise NotImplementedError

    def responsibilities(self, z: Tensor, scale: float = 1.0) -> Tensor:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(iter(self.buffers())).device


class StandardNormal(Prior):
    """z ~ N(0, scale * I_d), the prior of the GAN, WGAN-GP and AC-GAN baselines.

    Example:
        >>> z, k = StandardNormal(d=8).sample(5, generator=torch.Generator().manual_seed(0))
        >>> tuple(z.shape), k.tolist()
        ((5, 8), [0, 0, 0, 0, 0])
    """

    def __init__(self, d: int) -> None:
        super().__init__()
        if d < 1:
            raise ConfigError(f"The latent dimension d must be an int >= 1. Got {d} instead.")
        self.K, self.d = 1, d
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # carries the device

    def sample(self, n, component=None, scale=1.0, generator=None):
        eps = torch.randn(n, self.d, generator=generator, device=self.device)
        k = torch.zeros(n, dtype=torch.long, device=self.device)
        return math.sqrt(scale) * eps, k

    def log_prob(self, z: Tensor, scale: float = 1.0) -> Tensor:
        return -0.5 * (z.pow(2).sum(-1) / scale + self.d * math.log(2 * math.pi * scale))

    def responsibilities(self, z: Tensor, scale: float = 1.0) -> Tensor:
        return torch.ones(z.shape[0], 1, device=z.device, dtype=z.dtype)


class ConditionalNormal(Prior):
    """z = [sqrt(scale) * eps, onehot(k)], eps ~ N(0, I_d): the AC-GAN baseline's class-conditional input.

    AC-GAN (Odena et al. 2017) feeds the generator noise concatenated with a one-hot class code. Writing that
    as a prior with one "component" per class lets every tool built for mixtures (rows per component, the
    sigma sweep, class-conditional sampling, purity) treat AC-GAN the same way. ``scale`` scales the noise
    only; the class code is exact. ``d`` is the generator's input width, noise_dim + num_classes.

    Example:
        >>> z, k = ConditionalNormal(4, 3).sample(2, component=2, generator=torch.Generator().manual_seed(0))
        >>> z[:, 4:].tolist(), k.tolist()
        ([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], [2, 2])
    """

    def __init__(self, noise_dim: int, num_classes: int) -> None:
        super().__init__()
        if noise_dim < 1 or num_classes < 1:
            raise ConfigError(f"ConditionalNormal needs noise_dim, num_classes >= 1. Got {noise_dim}, {num_classes}.")
        self.K, self.noise_dim, self.d = num_classes, noise_dim, noise_dim + num_classes
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # carries the device

    def sample(self, n, component=None, scale=1.0, generator=None):
        if component is None:
            k = torch.randint(self.K, (n,), generator=generator, device=self.device)
        else:
            k = _component_indices(component, n, self.K, self.device)
        eps = torch.randn(n, self.noise_dim, generator=generator, device=self.device)
        code = torch.nn.functional.one_hot(k, self.K).to(eps.dtype)
        return torch.cat([math.sqrt(scale) * eps, code], dim=1), k

    def log_prob(self, z: Tensor, scale: float = 1.0) -> Tensor:
        """log density of the noise part (the class code is a point mass) minus log K."""
        eps = z[:, : self.noise_dim]
        return -0.5 * (eps.pow(2).sum(-1) / scale + self.noise_dim * math.log(2 * math.pi * scale)) - math.log(self.K)

    def responsibilities(self, z: Tensor, scale: float = 1.0) -> Tensor:
        """p(k | z): the class code itself."""
        code = z[:, self.noise_dim :]
        return code / code.sum(-1, keepdim=True).clamp_min(1e-12)


def _component_indices(component: int | Tensor, n: int, K: int, device: torch.device) -> Tensor:
    """``component`` (an int or an (n,) tensor) as an (n,) long tensor, checked against [0, K)."""
    k = torch.as_tensor(component, dtype=torch.long, device=device).expand(n).clone()
    if n and (k.min() < 0 or k.max() >= K):
        raise ConfigError(f"component must be in [0, {K - 1}]. Got {component!r} instead.")
    return k


class GaussianMixture(Prior):
    """Mixture of K Gaussians in R^d: p(z) = sum_k alpha_k N(z; mu_k, A_k A_k^T) (GM-GAN Eq. 4).

    Args:
        K: number of components.
        d: latent dimension.
        c: means are drawn from U[-c, c]^d (Algorithm 1, line 2).
        sigma: the initial spread of each component (line 3): its standard deviation (``sigma_is="std"``,
            the default, A_k = sigma * I) or its variance (``"variance"``, Sigma_k = sigma * I literally).
        covariance: "isotropic" (one scale per component), "diagonal" (one per coordinate) or "full"
            (a d x d matrix A_k per component, K * d^2 parameters).
        learnable: False is the static GM-GAN, True the dynamic one (mu_k and A_k get gradients).
        generator: draws the initial means; pass a seeded one for reproducible runs.
        sigma_is: "std" or "variance": how ``sigma`` is read (see the module docstring).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> prior = GaussianMixture(K=4, d=2, c=1.0, sigma=0.1, generator=g)
        >>> z, k = prior.sample(1000, generator=g)
        >>> bool((prior.responsibilities(z).argmax(1) == k).float().mean() > 0.9)
        True
    """

    mu: Tensor  # (K, d) means mu_k: a buffer (static) or a parameter (dynamic)
    scale_param: Tensor  # (K, d, d) A_k (full), or (K, 1) / (K, d) log standard deviations
    log_weights: Tensor  # (K,) log alpha_k

    def __init__(
        self,
        K: int,
        d: int,
        c: float = 0.1,
        sigma: float = 0.15,
        covariance: Covariance = "isotropic",
        learnable: bool = False,
        generator: torch.Generator | None = None,
        sigma_is: str = "std",
    ) -> None:
        super().__init__()
        if not isinstance(K, int) or K < 1:
            raise ConfigError(f"The number of components K must be an int >= 1. Got {K!r} instead.")
        if not isinstance(d, int) or d < 1:
            raise ConfigError(f"The latent dimension d must be an int >= 1. Got {d!r} instead.")
        if not sigma > 0:
            raise ConfigError(f"sigma (the spread of each component) must be > 0. Got {sigma!r} instead.")
        if not c >= 0:
            raise ConfigError(f"c (the range of the means) must be >= 0. Got {c!r} instead.")
        if covariance not in COVARIANCES:
            raise ConfigError(f"covariance must be one of {COVARIANCES}. Got {covariance!r} instead.")
        self.K, self.d, self.covariance, self.learnable = K, d, covariance, learnable
        mu = (torch.rand(K, d, generator=generator) * 2 - 1) * c  # mu_k ~ U[-c, c]^d
        std = initial_std(sigma, sigma_is)
        if covariance == "full":
            scale = torch.eye(d).repeat(K, 1, 1) * std  # A_k, (K, d, d)
        else:
            # log of the standard deviation: positive by construction, (K, 1) or (K, d)
            scale = torch.full((K, 1 if covariance == "isotropic" else d), math.log(std))
        self._set("mu", mu)
        self._set("scale_param", scale)
        self.register_buffer("log_weights", torch.full((K,), -math.log(K)))  # uniform alpha_k

    def _set(self, name: str, value: Tensor) -> None:
        if self.learnable:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    @classmethod
    def from_parameters(
        cls, means: Tensor, A: Tensor, weights: Tensor | None = None, learnable: bool = False
    ) -> GaussianMixture:
        """A full-covariance mixture with given means (K, d), factors A (K, d, d) and weights (K,)."""
        K, d = means.shape
        prior = cls(K, d, c=0.0, sigma=1.0, covariance="full", learnable=learnable)  # A_k overwritten below
        with torch.no_grad():
            prior.mu.copy_(means)
            prior.scale_param.copy_(A)
            if weights is not None:
                prior.log_weights.copy_(torch.log(weights / weights.sum()))
        return prior

    @classmethod
    def from_sklearn(cls, gm, learnable: bool = False) -> GaussianMixture:
        """Build from a fitted ``sklearn.mixture.GaussianMixture`` (any covariance_type)."""
        means = torch.as_tensor(gm.means_, dtype=torch.float32)
        K, d = means.shape
        cov = torch.as_tensor(gm.covariances_, dtype=torch.float64)
        if gm.covariance_type == "full":
            full = cov
        elif gm.covariance_type == "tied":
            full = cov.expand(K, d, d)
        elif gm.covariance_type == "diag":
            full = torch.diag_embed(cov)
        else:  # spherical
            full = cov[:, None, None] * torch.eye(d, dtype=torch.float64)
        A = torch.linalg.cholesky(full).float()
        return cls.from_parameters(means, A, torch.as_tensor(gm.weights_, dtype=torch.float32), learnable)

    @property
    def weights(self) -> Tensor:
        """Mixture weights alpha_k, (K,)."""
        return self.log_weights.exp()

    @property
    def A(self) -> Tensor:
        """The factors A_k with Sigma_k = A_k A_k^T, (K, d, d)."""
        if self.covariance == "full":
            return self.scale_param
        return torch.diag_embed(self.scale_param.exp().expand(self.K, self.d))

    @property
    def covariance_matrices(self) -> Tensor:
        """Sigma_k = A_k A_k^T, (K, d, d)."""
        A = self.A
        return A @ A.transpose(-1, -2)

    def _transform(self, eps: Tensor, k: Tensor) -> Tensor:
        """A_k eps + 0, batched: eps (n, d), k (n,) -> (n, d)."""
        if self.covariance != "full":
            return self.scale_param.exp()[k] * eps
        # one (n_k, d) x (d, d) product per component instead of a gathered (n, d, d) copy of the factors, which
        # at n = 640, d = 100 (a responsibility step) is 25 MB forward and a scatter of as much backward: the
        # draw alone ~25x slower on a CPU core, 3-7% of the whole step (bench/responsibility_step.py)
        order = torch.argsort(k, stable=True)
        counts = torch.bincount(k, minlength=self.K).tolist()
        parts = [chunk @ self.scale_param[j].T for j, chunk in enumerate(eps[order].split(counts)) if len(chunk)]
        if not parts:
            return eps.clone()
        return torch.cat(parts)[torch.argsort(order)]

    def sample(self, n, component=None, scale=1.0, generator=None):
        """Draw n latents: (z (n, d), k (n,)). ``component`` fixes k; ``scale`` multiplies Sigma_k."""
        device = self.mu.device
        if component is None:
            k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        else:
            k = _component_indices(component, n, self.K, device)
        eps = torch.randn(n, self.d, generator=generator, device=device)
        return self.mu[k] + math.sqrt(scale) * self._transform(eps, k), k

    def component_log_prob(self, z: Tensor, scale: float = 1.0) -> Tensor:
        """log N(z; mu_k, scale * Sigma_k) for every component: z (n, d) -> (n, K)."""
        diff = z[:, None, :] - self.mu[None]  # (n, K, d)
        if self.covariance == "full":
            A = self.scale_param
            # A_k^-1 (z - mu_k): K inverses, then a batched product (one LU per component, not per sample)
            eps = torch.einsum("kij,nkj->nki", torch.linalg.inv(A), diff)
            log_det_A = torch.linalg.slogdet(A)[1]  # log |det A_k| = 0.5 log det Sigma_k, (K,)
        else:
            log_std = self.scale_param.expand(self.K, self.d)
            eps = diff * torch.exp(-log_std)[None]
            log_det_A = log_std.sum(-1)
        maha = eps.pow(2).sum(-1) / scale  # (n, K)
        return -0.5 * (maha + self.d * math.log(2 * math.pi * scale)) - log_det_A[None]

    def log_prob(self, z: Tensor, scale: float = 1.0) -> Tensor:
        """log p(z) under the mixture, (n,)."""
        return torch.logsumexp(self.component_log_prob(z, scale) + self.log_weights, dim=-1)

    def responsibilities(self, z: Tensor, scale: float = 1.0) -> Tensor:
        """p(k | z) for every component, (n, K); rows sum to 1."""
        return torch.softmax(self.component_log_prob(z, scale) + self.log_weights, dim=-1)

    def interpolate(self, weights: Tensor, eps: Tensor) -> Tensor:
        """Latents between components: z = sum_k w_k (mu_k + A_k eps).

        Args:
            weights: (m, K) mixing weights per output, e.g. a row [1-t, t, 0, ...] for a two-way strip.
            eps: (d,) or (m, d) standard-normal noise held fixed across the strip.
        Returns:
            (m, d) latents.
        """
        weights = torch.as_tensor(weights, dtype=self.mu.dtype, device=self.mu.device)
        eps = eps.expand(weights.shape[0], self.d)
        per_k = self.mu[None] + torch.einsum("kij,mj->mki", self.A, eps)  # (m, K, d)
        return torch.einsum("mk,mkd->md", weights, per_k)


def build_prior(
    kind: str,
    d: int,
    K: int = 10,
    c: float = 0.1,
    sigma: float = 0.15,
    covariance: Covariance = "isotropic",
    learnable: bool = False,
    generator: torch.Generator | None = None,
    sigma_is: str = "std",
) -> Prior:
    """The prior named by a config: "normal", "mixture" or "conditional" (AC-GAN; K = number of classes)."""
    if kind == "normal":
        return StandardNormal(d)
    if kind == "conditional":
        return ConditionalNormal(d, K)
    if kind == "mixture":
        return GaussianMixture(K, d, c, sigma, covariance, learnable, generator, sigma_is)
    raise ConfigError(f"prior.kind must be 'normal', 'mixture' or 'conditional'. Got {kind!r} instead.")
