"""Trainable systems: what one discriminator step and one generator step compute.

A method knows nothing of loops, files or devices (the Trainer owns those). The unsupervised GAN here is
both baselines and GM-GAN: GM-GAN (papers/001, Section 2) keeps the GAN's losses (Eq. 2-3) and changes only
the prior, static (fixed mixture) or dynamic (learnable mu_k, A_k, trained with G's optimiser through the
reparameterisation z = A_k eps + mu_k). With a standard-normal prior and ``loss='wgan-gp'`` it is the
WGAN-GP baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gmgan import losses
from gmgan.config import RunConfig
from gmgan.errors import ConfigError
from gmgan.nets import Discriminator, build_nets
from gmgan.priors import Prior, build_prior


class UnsupervisedGAN(nn.Module):
    """GAN / WGAN-GP / GM-GAN (static or dynamic): prior + G + D + adversarial loss.

    Args:
        prior: the latent distribution; its parameters are trained with G when it has any.
        G: z (B, d) -> x.
        D: trunk + heads; the ``adversarial`` head gives one logit per sample.
        loss: "ns" (non-saturating) or "wgan-gp".
        gp_weight: lambda of the gradient penalty (wgan-gp only).
    """

    def __init__(self, prior: Prior, G: nn.Module, D: Discriminator, loss: str = "ns", gp_weight: float = 10.0):
        super().__init__()
        if loss not in losses.LOSSES:
            raise ConfigError(f"loss must be one of {losses.LOSSES}. Got {loss!r} instead.")
        self.prior, self.G, self.D, self.loss, self.gp_weight = prior, G, D, loss, gp_weight

    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters the generator step updates: G's, plus mu_k and A_k of a dynamic prior."""
        return [*self.G.parameters(), *self.prior.parameters()]

    def d_step(self, real: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Discriminator loss on b_D real samples and b_D generated ones (Algorithm 1, lines 5-16)."""
        with torch.no_grad():  # the prior and G are constants here
            z, _ = self.prior.sample(real.shape[0], generator=generator)
            fake = self.G(z)
        real_out, fake_out = self.D(real), self.D(fake)
        if self.loss == "ns":
            loss = losses.ns_d_loss(real_out, fake_out)
            logs = {"D_real": torch.sigmoid(real_out).mean(), "D_fake": torch.sigmoid(fake_out).mean()}
        else:
            wasserstein = losses.wgan_d_loss(real_out, fake_out)
            gp = losses.gradient_penalty(self.D, real, fake, generator)
            loss = wasserstein + self.gp_weight * gp
            logs = {"W_estimate": -wasserstein.detach(), "gradient_penalty": gp.detach()}
        return loss, {"loss_D": loss.detach(), **{k: v.detach() for k, v in logs.items()}}

    def g_step(self, b_G: int, generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Generator loss on b_G generated samples (Algorithm 1, lines 18-26)."""
        z, _ = self.prior.sample(b_G, generator=generator)  # differentiable in mu_k, A_k when learnable
        self.D.requires_grad_(False)  # no weight gradients for D in G's step: a third less backward work
        try:
            out = self.D(self.G(z))
        finally:
            self.D.requires_grad_(True)
        loss = losses.ns_g_loss(out) if self.loss == "ns" else losses.wgan_g_loss(out)
        return loss, {"loss_G": loss.detach()}


def build_method(
    cfg: RunConfig, data_shape: tuple[int, ...], generator: torch.Generator | None = None
) -> UnsupervisedGAN:
    """The method a config describes, with freshly initialised networks and prior."""
    p = cfg.prior
    kind = "normal" if cfg.method == "gan" else "mixture"
    prior = build_prior(kind, p.latent_dim, p.K, p.c, p.sigma, p.covariance, p.learnable, generator)  # type: ignore[arg-type]
    G, D = build_nets(cfg.model.arch, p.latent_dim, data_shape, cfg.model.width, cfg.model.depth, cfg.d_norm)
    return UnsupervisedGAN(prior, G, D, cfg.train.loss, cfg.train.gp_weight)
