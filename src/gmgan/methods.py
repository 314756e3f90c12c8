"""Trainable systems: what one discriminator step and one generator step compute.

A method knows nothing of loops, files or devices (the Trainer owns those). All share :class:`GANMethod`'s
frame (Algorithm 1 of papers/001: b_D real and b_D fake samples for D, b_G fakes for G, the prior's
parameters trained with G) and differ in the discriminator's outputs and the losses:

* :class:`UnsupervisedGAN`: GAN, WGAN-GP and GM-GAN (static or dynamic). GM-GAN keeps the GAN's losses
  (Eq. 2-3) and changes only the prior.
* :class:`SupervisedGMGAN`: GM-GAN's supervised variant, N binary discriminators (Section 2, Algorithm 1
  lines 10-12 and 22-23); with WGAN-GP, N class-wise critics.
* :class:`KPlusOneGMGAN`: the report's discriminator, a softmax over N real classes plus a fake class
  (papers/004, 2.2.1 and 2.2.4).
* :class:`ACGAN`: the supervised baseline (Odena et al. 2017), N(0, I) noise plus a one-hot class code, an
  auxiliary classifier head beside the adversarial one.
* :class:`ResponsibilityGMGAN`: GMM responsibility learning (papers/002): a posterior consistency module C
  (a head on D's trunk, or a network of its own), K fakes per real weighted by C's responsibilities.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gmgan import losses
from gmgan.config import RunConfig
from gmgan.distributed import SINGLE, Context, local_slice
from gmgan.errors import ConfigError
from gmgan.nets import Discriminator, add_classifier_head, add_encoder_head, build_nets, generate, read_head
from gmgan.priors import Prior, build_prior
from gmgan.supervision import ClassMapping


class GANMethod(nn.Module):
    """Prior + G + D + a loss. Subclasses define :meth:`d_loss` and :meth:`g_loss`.

    Args:
        prior: the latent distribution; its parameters are trained with G when it has any.
        G: z (B, d) -> x.
        D: trunk + heads.
        loss: "ns" (non-saturating) or "wgan-gp".
        gp_weight: lambda of the gradient penalty (wgan-gp only).
    """

    uses_labels = False  # True when d_step needs the real samples' class labels
    g_uses_real = False  # True when g_step needs the last real batch (responsibility learning)
    mapping: ClassMapping | None = None  # components -> classes, for methods that tie them
    d_heads: tuple[str, ...] = ("adversarial",)  # D's heads the losses read
    encoder_weight = 0.0  # lambda of GAEL's Eq. 4 when D has an ``encoder`` head (see :meth:`with_encoder`)
    encoder_per_dimension = True  # lambda multiplies Eq. 2 divided by the latent dimension
    component_weight = 0.0  # weight of the component head's loss (ours, see :meth:`with_component_head`)
    # data-parallel training: each step's arguments hold the global batch, every random draw is made for the
    # global batch (same seeds on every rank) and this rank keeps its slice (see gmgan.distributed)
    ctx: Context = SINGLE

    def __init__(self, prior: Prior, G: nn.Module, D: Discriminator, loss: str = "ns", gp_weight: float = 10.0):
        super().__init__()
        if loss not in losses.LOSSES:
            raise ConfigError(f"loss must be one of {losses.LOSSES}. Got {loss!r} instead.")
        self.prior, self.G, self.D, self.loss, self.gp_weight = prior, G, D, loss, gp_weight

    def with_encoder(self, weight: float = 10.0, own_blocks: int = 0, learn_variance: bool = True,
                     per_dimension: bool = True) -> GANMethod:
        """Add GAEL's encoder head to D (papers/000, Section 3), trained on generated images with weight lambda.

        ``per_dimension``: lambda multiplies Eq. 2 divided by the latent dimension M. Eq. 2 is a sum over M
        terms, so with lambda = 10 and M = 100 the encoder term is about 1,000 times the adversarial loss; on
        MNIST that stopped D from discriminating (D(x) and D(G(z)) both near 0.5 within 400 steps) and the
        encoder itself barely learned. Per dimension, lambda = 10 weighs the encoder about ten times the
        adversarial loss at any M. False gives Eq. 4 literally.

        The encoder is trained with D (it is one of D's heads, in D's optimiser) on the fakes of D's step, so
        it costs one linear layer on a forward pass D makes anyway. G's step does not see it: GAEL asks that
        the encoder "interfere with GAN training as little as possible", and Eq. 4 read literally would make
        G work against its own encoder.
        """
        if "encoder" not in self.D.heads:
            add_encoder_head(self.D, self.prior.d, own_blocks, learn_variance)
        self.encoder_weight, self.encoder_per_dimension = weight, per_dimension
        return self

    def with_component_head(self, weight: float = 1.0) -> GANMethod:
        """Add a ``component`` head to D that reads the mixture component k back from G(z) (ours, InfoGAN-style).

        Not in the GM-GAN papers; InfoGAN's mutual-information term (Chen et al. 2016) with the mixture
        component as the categorical code. D's step trains the head on its fakes with ``weight`` times
        CE(Q(G(z)), k); G's step adds the same term for G (and a dynamic prior), so G keeps the component
        recoverable from its images, which is what makes the components usable as clusters. One linear
        layer on D's trunk, on forward passes D and G make anyway. Clustering reads it on real images
        (``gmgan cluster RUN --method head``).
        """
        if self.prior.K < 2:
            raise ConfigError("the component head reads the mixture component; it needs a mixture prior with K >= 2.")
        if "component" not in self.D.heads:
            add_classifier_head(self.D, "component", self.prior.K, shared=True)
        self.component_weight = weight
        return self

    def _with_component_term(self, loss: Tensor, out: dict[str, Tensor], k: Tensor) -> tuple[Tensor, Tensor]:
        """``loss`` plus weight x CE(component head, k), and that cross-entropy (for the log)."""
        ce = losses.class_cross_entropy(out["component"], k)
        return loss + self.component_weight * ce, ce

    @property
    def has_component_head(self) -> bool:
        return "component" in self.D.heads

    @property
    def has_encoder(self) -> bool:
        return "encoder" in self.D.heads

    @torch.no_grad()
    def encode(self, x: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
        """Enc(x) and log diag Sigma(x) of images x, in eval mode and in chunks: ((n, d), (n, d))."""
        if not self.has_encoder:
            raise ConfigError("this run has no encoder head (train with --encoder), so it cannot encode images; "
                              "gmgan fit-prior and reconstruct fall back to inverting G by gradient descent.")
        out = read_head(self.D, x, "encoder", batch_size)
        d = self.prior.d
        return out[:, :d], out[:, d:]

    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters the generator step updates: G's, plus mu_k and A_k of a dynamic prior."""
        return [*self.G.parameters(), *self.prior.parameters()]

    def d_step(
        self, real: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Discriminator loss on b_D real samples and b_D generated ones (Algorithm 1, lines 5-16)."""
        if self.uses_labels and labels is None:
            raise ConfigError(f"{type(self).__name__} trains on class labels, and none were given.")
        with torch.no_grad():  # the prior and G are constants here
            k = self.fake_components(labels, generator)
            z, k = self.prior.sample(real.shape[0], component=k, generator=generator)
            z, k = self._local(z), self._local(k)
            fake = self.G(z)
        real = self._local(real)
        labels = self._local(labels) if labels is not None else None
        real_out = self.D(real, heads=self.d_heads)
        extra = (("encoder",) if self.encoder_weight else ()) + (("component",) if self.component_weight else ())
        fake_out = self.D(fake, heads=self.d_heads + extra)
        loss, logs = self.d_loss(real_out, fake_out, labels, k, real, fake, generator)
        if self.component_weight:  # the component head learns k back from G(z), on fakes only
            loss, logs["component_ce_D"] = self._with_component_term(loss, fake_out, k)
        if self.encoder_weight:  # GAEL Eq. 2 and 4: the encoder learns z back from G(z), on fakes only
            nll = losses.encoder_nll(fake_out["encoder"], z)
            scale = 1 / z.shape[1] if self.encoder_per_dimension else 1.0
            loss = loss + self.encoder_weight * scale * nll
            logs["encoder_nll"] = nll
        return loss, {"loss_D": loss.detach(), **{name: v.detach() for name, v in logs.items()}}

    def fake_components(self, labels: Tensor | None, generator: torch.Generator | None) -> Tensor | None:
        """Components of the D step's fakes; None = drawn from the prior's weights (Algorithm 1, line 7)."""
        return None

    def g_step(self, b_G: int, generator: torch.Generator | None = None,
               real: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Generator loss on b_G generated samples (Algorithm 1, lines 18-26). ``real``: see g_uses_real."""
        z, k = self.prior.sample(b_G, generator=generator)  # differentiable in mu_k, A_k when learnable
        z, k = self._local(z), self._local(k)
        self.D.requires_grad_(False)  # no weight gradients for D in G's step: a third less backward work
        try:
            out = self.D(self.G(z), heads=self.d_heads + (("component",) if self.component_weight else ()))
            loss, logs = self.g_loss(out, k)
            if self.component_weight:  # G keeps the component recoverable from its images
                loss, logs["component_ce_G"] = self._with_component_term(loss, out, k)
        finally:
            self.D.requires_grad_(True)
        return loss, {"loss_G": loss.detach(), **{name: v.detach() for name, v in logs.items()}}

    def d_loss(self, real_out: dict[str, Tensor], fake_out: dict[str, Tensor], labels: Tensor | None, k: Tensor,
               real: Tensor, fake: Tensor, generator: torch.Generator | None) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss from its heads' outputs on real and fake (the images are there for a gradient penalty)."""
        raise NotImplementedError

    def g_loss(self, fake_out: dict[str, Tensor], k: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """G's loss from D's heads' outputs on G(z), z from components k."""
        raise NotImplementedError

    def _local(self, t: Tensor) -> Tensor:
        """This rank's rows of a global-batch tensor (all of it in a single process)."""
        return local_slice(t, self.ctx)

    def _wgan_d_loss(self, real_scores: Tensor, fake_scores: Tensor, real: Tensor, fake: Tensor, critic,
                     generator: torch.Generator | None) -> tuple[Tensor, dict[str, Tensor]]:
        wasserstein = losses.wgan_d_loss(real_scores, fake_scores)
        shape = (real.shape[0] * self.ctx.world_size, *([1] * (real.dim() - 1)))  # the global batch's draws
        t = self._local(torch.rand(shape, generator=generator, device=real.device))
        gp = losses.gradient_penalty(critic, real, fake, t=t)
        return wasserstein + self.gp_weight * gp, {"W_estimate": -wasserstein, "gradient_penalty": gp}


def _logit(out: dict[str, Tensor]) -> Tensor:
    """The one adversarial logit per sample, (B,)."""
    return out["adversarial"].squeeze(1)


class UnsupervisedGAN(GANMethod):
    """GAN / WGAN-GP / GM-GAN (static or dynamic): one adversarial logit per sample, labels unused."""

    def d_loss(self, real_out, fake_out, labels, k, real, fake, generator):
        r, f = _logit(real_out), _logit(fake_out)
        if self.loss == "ns":
            return losses.ns_d_loss(r, f), {"D_real": torch.sigmoid(r).mean(), "D_fake": torch.sigmoid(f).mean()}
        return self._wgan_d_loss(r, f, real, fake, self.D, generator)

    def g_loss(self, fake_out, k):
        out = _logit(fake_out)
        return (losses.ns_g_loss(out) if self.loss == "ns" else losses.wgan_g_loss(out)), {}


class SupervisedGMGAN(GANMethod):
    """Supervised GM-GAN: D outputs N logits, one binary real-vs-fake discriminator per class.

    Non-saturating: the paper's losses (:func:`losses.supervised_d_loss`, :func:`losses.supervised_g_loss`).
    WGAN-GP: N class-wise critics; D's fakes are drawn from components of the real batch's classes, critic
    m compares real and generated class m, and the penalty is taken on the paired interpolates' own class
    output. That needs f to give each component one class (K >= N).
    """

    mapping: ClassMapping
    uses_labels = True

    def __init__(self, prior, G, D, mapping: ClassMapping, loss="ns", gp_weight=10.0):
        super().__init__(prior, G, D, loss, gp_weight)
        if loss == "wgan-gp" and not mapping.is_function:
            raise ConfigError(
                "supervision.mode 'binary' with train.loss 'wgan-gp' uses one critic per class, so each component "
                "must target a single class (K >= N). With K < N use train.loss 'ns'."
            )
        self.mapping = mapping

    def fake_components(self, labels, generator):
        if self.loss == "ns":
            return None
        return self.mapping.sample_components(labels, generator)  # class-matched fakes for the class critics

    def d_loss(self, real_out, fake_out, labels, k, real, fake, generator):
        real_out, fake_out = real_out["adversarial"], fake_out["adversarial"]
        if self.loss == "ns":
            loss = losses.supervised_d_loss(real_out, labels, fake_out)
            p_real = torch.sigmoid(real_out).gather(1, labels[:, None]).mean()
            return loss, {"D_real": p_real, "D_fake": torch.sigmoid(fake_out).max(1).values.mean()}
        pick = labels[:, None]
        return self._wgan_d_loss(real_out.gather(1, pick), fake_out.gather(1, pick), real, fake,
                                 lambda x: self.D(x).gather(1, pick).squeeze(1), generator)

    def g_loss(self, fake_out, k):
        out = fake_out["adversarial"]
        if self.loss == "ns":
            return losses.supervised_g_loss(out, self.mapping.targets(k)), {}
        return losses.wgan_g_loss(out.gather(1, self.mapping.target_class(k)[:, None])), {}


class KPlusOneGMGAN(GANMethod):
    """GM-GAN with the report's (K+1)-class discriminator: softmax over N real classes and a fake class.

    Non-saturating only (the losses are cross-entropies of a softmax; see config validation).
    """

    mapping: ClassMapping
    uses_labels = True

    def __init__(self, prior, G, D, mapping: ClassMapping, loss="ns", gp_weight=10.0):
        super().__init__(prior, G, D, loss, gp_weight)
        if loss != "ns":
            raise ConfigError("the K+1-class discriminator is a softmax classifier; it trains with train.loss 'ns'.")
        self.mapping = mapping

    def d_loss(self, real_out, fake_out, labels, k, real, fake, generator):
        real_out, fake_out = real_out["adversarial"], fake_out["adversarial"]
        loss = losses.kplus1_d_loss(real_out, labels, fake_out)
        return loss, {"D_fake": torch.softmax(fake_out, 1)[:, -1].mean(),
                      "D_real": 1 - torch.softmax(real_out, 1)[:, -1].mean()}

    def g_loss(self, fake_out, k):
        return losses.kplus1_g_loss(fake_out["adversarial"], self.mapping.targets(k)), {}


class ACGAN(GANMethod):
    """AC-GAN (Odena et al. 2017): G(eps, onehot(c)); D with an adversarial head and an N-way classifier.

    D minimises the adversarial loss plus ``class_weight`` times the mean of the classifier's cross-entropy on
    real (true labels) and generated (requested classes) samples; G minimises its adversarial loss plus
    ``class_weight`` times the cross-entropy of its requested classes. With ``loss='wgan-gp'`` the adversarial
    part is WGAN-GP's (the AC-WGAN-GP of Gulrajani et al. 2017, Section 5).
    """

    mapping: ClassMapping
    uses_labels = True
    d_heads = ("adversarial", "classifier")

    def __init__(self, prior, G, D, mapping: ClassMapping, loss="ns", gp_weight=10.0, class_weight=1.0):
        super().__init__(prior, G, D, loss, gp_weight)
        self.mapping, self.class_weight = mapping, class_weight

    def d_loss(self, real_out, fake_out, labels, k, real, fake, generator):
        r_adv, f_adv = _logit(real_out), _logit(fake_out)
        if self.loss == "ns":
            adv = losses.ns_d_loss(r_adv, f_adv)
            logs = {"D_real": torch.sigmoid(r_adv).mean(), "D_fake": torch.sigmoid(f_adv).mean()}
        else:
            adv, logs = self._wgan_d_loss(r_adv, f_adv, real, fake, self.D, generator)
        cls = 0.5 * (losses.class_cross_entropy(real_out["classifier"], labels)
                     + losses.class_cross_entropy(fake_out["classifier"], k))
        return adv + self.class_weight * cls, {**logs, "class_loss_D": cls}

    def g_loss(self, fake_out, k):
        adv_out = _logit(fake_out)
        adv = losses.ns_g_loss(adv_out) if self.loss == "ns" else losses.wgan_g_loss(adv_out)
        cls = losses.class_cross_entropy(fake_out["classifier"], k)
        return adv + self.class_weight * cls, {"class_loss_G": cls}


class ResponsibilityGMGAN(GANMethod):
    """GMM responsibility learning (papers/002): a learned mixture prior and a posterior consistency module.

    C(x) = p(k | x) is a softmax head ``responsibility`` on D: a linear layer on D's trunk (``shared``) or a
    copy of D's trunk of its own (``separate``; Table I's two options, on our nets). Each step pairs every
    real x_i with one fake per component, x^k_i = G(mu_k + A_k eps) (K M fakes, one batched G call), and:

    * D minimises Eq. 6 with weights r_ik = C_k(x_i) (:func:`losses.responsibility_d_loss`);
    * C, in D's step, minimises L_xz (Eq. 4: p(k | z) of the prior, Eq. 3, against C(G(z)), pair by pair)
      and L_xx (Eq. 5: the responsibilities of the real batch against those of the generated batch, see
      :func:`losses.marginal_divergence`: a real image and a fake are independent draws, so comparing them
      pair by pair carries no information; in a first implementation that did, L_xx stayed near 0 and C sent
      almost every real digit to one component within 300 steps);
    * G and the prior's mu_k, A_k minimise G's side of Eq. 6 plus L_xz (Algorithm 1 lines 13 and 15).

    Differences from Algorithm 1, all deliberate: the weights r_ik are constants in G's step (letting G's
    loss train C would teach C to send each real image to whichever component's fakes fool D best, whatever
    it looks like); C's losses are weighted by ``weight_xz`` and ``weight_xx``. In G's step L_xz reaches the
    prior only through p(k | z), C's view of G(z) being a constant, as Algorithm 1 line 15 names C and the
    prior but not G; ``xz_to_generator=True`` lets it reach G too (InfoGAN's mutual-information term).

    Which output is which. The mutual information (``measure="mi"``, the paper's) is the same for every
    relabelling of C's outputs, so C's output k need not be component k, yet Eq. 6 weighs the fake from
    component k by C_k(x). With ``mi``, every step therefore matches C's outputs to components on that step's
    fakes, whose components are known (:func:`losses.align_outputs`), and reads C through that permutation
    in Eq. 6 and in :meth:`responsibilities`; KL and JS compare output k with component k directly and need
    no matching (their permutation is the identity).
    """

    d_heads = ("adversarial", "responsibility")
    g_uses_real = True

    def __init__(self, prior, G, D, encoding: str = "shared", measure: str = "mi", weight_xz: float = 1.0,
                 weight_xx: float = 1.0, xz_to_generator: bool = False, loss: str = "ns", gp_weight: float = 10.0):
        super().__init__(prior, G, D, loss, gp_weight)
        if loss != "ns":
            raise ConfigError("responsibility learning weighs the non-saturating loss of Eq. 6; use train.loss 'ns'.")
        if encoding not in ("shared", "separate"):
            raise ConfigError(f"responsibility.encoding must be 'shared' or 'separate'. Got {encoding!r} instead.")
        if measure not in losses.MEASURES:
            raise ConfigError(f"responsibility.measure must be one of {losses.MEASURES}. Got {measure!r} instead.")
        if "responsibility" not in D.heads:
            add_classifier_head(D, "responsibility", prior.K, shared=encoding == "shared")
        self.encoding, self.measure, self.weight_xz, self.weight_xx = encoding, measure, weight_xz, weight_xx
        self.xz_to_generator = xz_to_generator

    def per_component_latents(self, m: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """One latent per component for each of m reals: z (m K, d), row i K + k drawn from component k."""
        k = torch.arange(self.prior.K, device=self.prior.device).repeat(m)
        return self.prior.sample(m * self.prior.K, component=k, generator=generator)

    def _perm(self, w: Tensor, c_fake: Tensor) -> Tensor | None:
        """C's output standing for each component (see the class docstring); None when no matching is needed."""
        return losses.align_outputs(w, c_fake.detach()) if self.measure == "mi" else None

    @torch.no_grad()
    def output_alignment(self, n_per_component: int = 100, seed: int = 0) -> Tensor | None:
        """The permutation of C's outputs onto components, measured on generated images (no real data, no
        labels); None for the KL and JS measures, whose output k is component k by construction."""
        if self.measure != "mi":
            return None
        g = torch.Generator(device=self.prior.device).manual_seed(seed)
        z, _ = self.per_component_latents(n_per_component, g)
        q = torch.softmax(read_head(self.D, generate(self.G, z), "responsibility"), 1)
        return losses.align_outputs(self.prior.responsibilities(z), q)

    @torch.no_grad()
    def output_usage(self, n_per_component: int = 200, seed: int = 0) -> dict[str, object]:
        """Whether C tells the components apart on generated images (no real data, no labels):
        :func:`gmgan.evaluate.metrics.output_usage` of C's argmax on ``n_per_component`` fakes per component.

        The mutual information of Eq. 4 still rewards C when it merges two components into one output, it just
        does not reach log K; once an output has no mass, its gradient vanishes and the merge is permanent.
        The alignment gives a merged group's output to one of its components and the others outputs C does
        not use, so those get no responsibility on real images and their fakes no weight in Eq. 6.
        """
        from gmgan.evaluate.metrics import output_usage

        g = torch.Generator(device=self.prior.device).manual_seed(seed)
        z, k = self.per_component_latents(n_per_component, g)
        q = read_head(self.D, generate(self.G, z), "responsibility")
        return output_usage(k, q.argmax(1), self.prior.K)

    @torch.no_grad()
    def responsibilities(self, x: Tensor, batch_size: int = 500, D: nn.Module | None = None) -> Tensor:
        """C(x) = p(k | x) of images x, in eval mode and in chunks: (n, K), column k = component k.

        ``D``: a discriminator to read C from instead of this run's (e.g. one whose BatchNorm statistics were
        recalibrated on real images, :func:`gmgan.nets.recalibrate_batchnorm`).
        """
        resp = torch.softmax(read_head(D if D is not None else self.D, x, "responsibility", batch_size), 1)
        perm = self.output_alignment()
        return resp if perm is None else resp[:, perm.to(resp.device)]

    def d_step(self, real, labels=None, generator=None):
        with torch.no_grad():
            z, _ = self.per_component_latents(real.shape[0], generator)  # the global batch's latents
            real, z = self._local(real), self._local(z)
            fake = self.G(z)
            w = self.prior.responsibilities(z)  # Eq. 3, (m K, K)
        K, m = self.prior.K, real.shape[0]
        real_out, fake_out = self.D(real, heads=self.d_heads), self.D(fake, heads=self.d_heads)
        r = torch.softmax(real_out["responsibility"], 1)  # C(x_i), (m, K)
        c_fake = torch.softmax(fake_out["responsibility"], 1)  # C(x^k_i), (m K, K)
        perm = self._perm(w, c_fake)
        r_k = r.detach() if perm is None else r.detach()[:, perm]  # column k = component k
        adv = losses.responsibility_d_loss(_logit(real_out), _logit(fake_out).view(m, K), r_k)
        l_xz = losses.consistency_loss(w, c_fake, self.measure)
        l_xx = losses.marginal_divergence(r, c_fake, self.measure)
        loss = adv + self.weight_xz * l_xz + self.weight_xx * l_xx
        logs = {"D_real": torch.sigmoid(_logit(real_out)).mean(), "D_fake": torch.sigmoid(_logit(fake_out)).mean(),
                "L_xz": l_xz, "L_xx": l_xx, "resp_entropy": _entropy(r.mean(0))}
        return loss, {"loss_D": loss.detach(), **{name: v.detach() for name, v in logs.items()}}

    def g_step(self, b_G, generator=None, real=None):
        if real is None:
            raise ConfigError("responsibility learning pairs generated samples with real ones; g_step needs real.")
        z, _ = self.per_component_latents(real.shape[0], generator)  # differentiable in mu_k, A_k
        real, z = self._local(real), self._local(z)
        K, m = self.prior.K, real.shape[0]
        with torch.no_grad():
            r = torch.softmax(self.D(real, heads=("responsibility",))["responsibility"], 1)
        self.D.requires_grad_(False)
        try:
            out = self.D(self.G(z), heads=self.d_heads)
        finally:
            self.D.requires_grad_(True)
        c_fake = torch.softmax(out["responsibility"], 1)
        w = self.prior.responsibilities(z)
        perm = self._perm(w.detach(), c_fake)
        adv = losses.responsibility_g_loss(_logit(out).view(m, K), r if perm is None else r[:, perm])
        if not self.xz_to_generator:
            c_fake = c_fake.detach()  # L_xz moves mu_k, A_k through p(k | z) only
        l_xz = losses.consistency_loss(w, c_fake, self.measure)
        loss = adv + self.weight_xz * l_xz
        return loss, {"loss_G": loss.detach(), "L_xz_G": l_xz.detach()}


def _entropy(p: Tensor) -> Tensor:
    """Entropy of a distribution (natural log): log K when C spreads real data evenly, 0 when on one component."""
    return -(p * torch.log(p + 1e-8)).sum()


def build_method(
    cfg: RunConfig,
    data_shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    num_classes: int | None = None,
    class_names: list[str] | None = None,
) -> GANMethod:
    """The method a config describes, with freshly initialised networks and prior.

    ``num_classes`` (and the labels' names) is needed by supervised methods, whose D has one output per class.
    """
    sv = cfg.supervision
    if cfg.supervised and not num_classes:
        raise ConfigError(
            f"method {cfg.method!r} with supervision {sv.mode!r} trains on class labels, and the data has none. "
            "Use a labelled dataset, or an unsupervised method (gan, or gmgan without --supervised)."
        )
    method = _build(cfg, data_shape, generator, num_classes, class_names)
    e = cfg.encoder
    if e.enabled:
        method.with_encoder(e.weight, e.own_blocks, e.learn_variance, e.per_dimension)
    if cfg.info.weight > 0:
        method.with_component_head(cfg.info.weight)
    return method


def _build(cfg: RunConfig, data_shape: tuple[int, ...], generator: torch.Generator | None,
           num_classes: int | None, class_names: list[str] | None) -> GANMethod:
    p, sv, m = cfg.prior, cfg.supervision, cfg.model
    if cfg.method == "acgan":
        assert num_classes is not None
        prior = build_prior("conditional", p.latent_dim, num_classes)  # G reads noise + one-hot: d + N inputs
        G, D = build_nets(m.arch, prior.d, data_shape, m.width, m.depth, cfg.d_norm,
                          extra_heads={"classifier": num_classes})
        mapping = ClassMapping.parse(None, num_classes, num_classes, class_names)
        return ACGAN(prior, G, D, mapping, cfg.train.loss, cfg.train.gp_weight, sv.class_weight)
    kind = "normal" if cfg.method == "gan" else "mixture"
    prior = build_prior(kind, p.latent_dim, p.K, p.c, p.sigma, p.covariance, p.learnable,  # type: ignore[arg-type]
                        generator, p.sigma_is)
    if cfg.method == "responsibility":
        rc = cfg.responsibility
        G, D = build_nets(m.arch, p.latent_dim, data_shape, m.width, m.depth, cfg.d_norm)
        return ResponsibilityGMGAN(prior, G, D, rc.encoding, rc.measure, rc.weight_xz, rc.weight_xx,
                                   rc.xz_to_generator, cfg.train.loss, cfg.train.gp_weight)
    if sv.mode == "none":
        G, D = build_nets(m.arch, p.latent_dim, data_shape, m.width, m.depth, cfg.d_norm)
        return UnsupervisedGAN(prior, G, D, cfg.train.loss, cfg.train.gp_weight)
    assert num_classes is not None
    mapping = ClassMapping.parse(sv.mapping, p.K, num_classes, class_names)
    outputs = num_classes + (1 if sv.mode == "k+1" else 0)
    G, D = build_nets(m.arch, p.latent_dim, data_shape, m.width, m.depth, cfg.d_norm, adversarial_outputs=outputs)
    cls = SupervisedGMGAN if sv.mode == "binary" else KPlusOneGMGAN
    return cls(prior, G, D, mapping, cfg.train.loss, cfg.train.gp_weight)
