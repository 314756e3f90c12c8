"""Generator and discriminator builders.

One builder per family, size as a parameter (no per-resolution copies):

* MLPs for vectors (the 2-D toy grids);
* DCGAN-style convolutions for square images of 8, 16, 28, 32, 48, 64 or 96 pixels with any channel count.

The discriminator is a shared *trunk* (x -> feature vector) plus a dictionary of named *heads*
(feature vector -> outputs). The GANs of this issue use the ``adversarial`` head; later variants add
``encoder`` (GAEL), ``responsibility`` (the posterior consistency module) or wider adversarial heads
(N or N+1 outputs) without touching the trunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import torch
from torch import Tensor, nn

from gmgan.errors import ConfigError

IMAGE_SIZES = (8, 16, 28, 32, 48, 64, 96)


def _base_size(size: int) -> tuple[int, int]:
    """Smallest feature map s0 and number of 2x up/down-samplings n with s0 * 2^n = size, 4 <= s0 <= 7."""
    if size not in IMAGE_SIZES:
        raise ConfigError(f"image size must be one of {IMAGE_SIZES}. Got {size!r} instead.")
    n = 0
    while size % 2 ** (n + 1) == 0 and size // 2 ** (n + 1) >= 4:
        n += 1
    return size // 2**n, n  # 8 -> (4, 1), 28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4), 96 -> (6, 4)


def _init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al.): N(0, 0.02) weights, BN scale N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


_M = TypeVar("_M", bound=nn.Module)


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # per-sample normalisation: valid under the WGAN-GP gradient penalty
        return nn.GroupNorm(1, channels)
    if kind in ("none", "spectral"):  # spectral: the layers' weights are normalised instead (spectral_norm)
        return nn.Identity()
    raise ConfigError(f"d_norm must be 'batch', 'layer', 'spectral' or 'none'. Got {kind!r} instead.")


def spectral_norm(D: _M) -> _M:
    """Spectral normalisation (Miyato et al. 2018) of every convolution and linear layer of D, trunk and
    heads: each weight is divided by its largest singular value, estimated by one power iteration per
    forward pass in training mode (torch.nn.utils.parametrizations.spectral_norm)."""
    from torch.nn.utils.parametrizations import spectral_norm as sn

    for module in list(D.modules()):
        if isinstance(module, nn.Conv2d | nn.Linear):
            sn(module)
    return D


class Discriminator(nn.Module):
    """A trunk shared by named heads: ``D(x)`` returns the adversarial logits, ``D(x, heads=...)`` a dict.

    Args:
        trunk: x -> features, (B, ...) -> (B, feature_dim).
        feature_dim: width of the trunk's output.
        heads: name -> module on the features. ``adversarial`` is created as a linear layer when absent.
        adversarial_outputs: outputs of the default adversarial head (1, N or N + 1).
    """

    def __init__(
        self,
        trunk: nn.Module,
        feature_dim: int,
        heads: dict[str, nn.Module] | None = None,
        adversarial_outputs: int = 1,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.feature_dim = feature_dim
        self.heads = nn.ModuleDict(heads or {})
        self.taps: dict[str, int] = {}  # head -> trunk layer whose input it reads (absent = the trunk's output)
        if "adversarial" not in self.heads:
            self.heads["adversarial"] = nn.Linear(feature_dim, adversarial_outputs)

    def add_head(self, name: str, head: nn.Module, tap: int | None = None) -> None:
        """Attach a new head reading the trunk's features, or with ``tap=i`` the input of trunk layer i (the
        head then holds its own copy of the layers after that point: a branch sharing only the first layers).
        """
        if name in self.heads:
            raise ConfigError(f"the discriminator already has a head named {name!r}.")
        self.heads[name] = head
        if tap is not None:
            self.taps[name] = tap

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor, heads: Iterable[str] | None = None) -> Tensor | dict[str, Tensor]:
        # outputs are float32 under autocast too: the losses, softmaxes and log-densities downstream need it
        if heads is None:
            out = self.heads["adversarial"](self.trunk(x)).float()
            return out.squeeze(-1) if out.shape[-1] == 1 else out
        heads = tuple(heads)
        wanted = {self.taps[name] for name in heads if name in self.taps}
        if not wanted:
            h = self.trunk(x)
            return {name: self.heads[name](h).float() for name in heads}
        # one pass through the trunk, keeping the activations the tapped heads branch from
        branch: dict[int, Tensor] = {}
        h = x
        for i, layer in enumerate(self.trunk.children()):
            if i in wanted:
                branch[i] = h
            h = layer(h)
        return {name: self.heads[name](branch[self.taps[name]] if name in self.taps else h).float() for name in heads}


class EncoderHead(nn.Module):
    """GAEL's encoder (papers/000, Section 3): x -> (Enc(x), log-variance of Sigma(x)), as a (B, 2d) tensor.

    Reads D's trunk features (or, when it has its own copy of the trunk's last blocks, an earlier
    activation) and ends in one linear layer. With ``learn_variance=False`` Sigma(x) = I and the second half
    of the output is zeros (GAEL Section 4: learning Sigma "lead to similar results as using Sigma(x) = I").
    """

    def __init__(self, own_layers: nn.Module, feature_dim: int, latent_dim: int, learn_variance: bool = True):
        super().__init__()
        self.own = own_layers
        self.out = nn.Linear(feature_dim, 2 * latent_dim if learn_variance else latent_dim)
        self.latent_dim, self.learn_variance = latent_dim, learn_variance

    def forward(self, h: Tensor) -> Tensor:
        out = self.out(self.own(h))
        if self.learn_variance:
            return out
        return torch.cat([out, torch.zeros_like(out)], dim=1)


def conv_blocks(trunk: nn.Sequential) -> list[int]:
    """Indices of the trunk layers that start a block (each convolution or linear layer)."""
    return [i for i, layer in enumerate(trunk) if isinstance(layer, nn.Conv2d | nn.Linear)]


def _branch(D: Discriminator, own_blocks: int, option: str) -> tuple[nn.Module, int | None]:
    """Layers a new head gets its own (freshly initialised) copy of, and the trunk layer it taps.

    ``own_blocks`` counts the trunk's last blocks to copy: 0 shares the whole trunk (the head reads D's
    features; returns Identity and no tap); all of them gives the head a network of its own beside D's.
    """
    import copy

    trunk = D.trunk
    if not isinstance(trunk, nn.Sequential):
        raise ConfigError(f"{option} needs a sequential trunk.")
    starts = conv_blocks(trunk)
    if not 0 <= own_blocks <= len(starts):
        raise ConfigError(
            f"{option} must be between 0 and {len(starts)} (the trunk's blocks). Got {own_blocks} instead."
        )
    if own_blocks == 0:
        return nn.Identity(), None
    tap = starts[len(starts) - own_blocks]
    own = copy.deepcopy(nn.Sequential(*list(trunk)[tap:]))
    for m in own.modules():
        if hasattr(m, "reset_parameters") and m is not own:
            m.reset_parameters()  # type: ignore[operator]
    if any(isinstance(m, nn.Conv2d) for m in own.modules()):
        _init_dcgan(own)
    return own, tap


def add_encoder_head(D: Discriminator, latent_dim: int, own_blocks: int = 0, learn_variance: bool = True) -> None:
    """Give D an ``encoder`` head. ``own_blocks`` = how many of the trunk's last blocks the encoder gets its
    own (freshly initialised) copy of; 0 shares the whole trunk, so the encoder adds one linear layer.
    """
    own, tap = _branch(D, own_blocks, "encoder.own_blocks")
    D.add_head("encoder", EncoderHead(own, D.feature_dim, latent_dim, learn_variance), tap=tap)


def add_classifier_head(D: Discriminator, name: str, outputs: int, shared: bool = True) -> None:
    """Give D a head ``name`` of ``outputs`` logits: a linear layer on the trunk's features (``shared``), or
    on a freshly initialised copy of the whole trunk (a separate network of the same shape as D's).
    """
    own, tap = _branch(D, 0 if shared else len(conv_blocks(D.trunk)), "the classifier's encoding")  # type: ignore[arg-type]
    D.add_head(name, nn.Sequential(own, nn.Linear(D.feature_dim, outputs)), tap=tap)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


@torch.no_grad()
def recalibrate_batchnorm(module: ModuleT, batches: Iterable[Tensor], call=None) -> ModuleT:
    """A copy of ``module`` whose BatchNorm running statistics are those of ``batches`` alone, in eval mode.

    D's running statistics average over the real *and* generated batches it was trained on; a head applied
    to real images in eval mode (GAEL's encoder, the responsibility module C, the component head) then
    normalises them with statistics it never trained under. Re-estimating them on real data (a cumulative
    average over the batches, ``momentum=None``) gives each layer the statistics of the data it is applied
    to. ``call(copy, batch)`` runs a forward pass (default ``copy(batch)``). The original is untouched; a
    module without BatchNorm comes back as an eval-mode copy.
    """
    import copy

    out = copy.deepcopy(module)
    norms = [m for m in out.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: every batch counts equally
        out.train()
        for batch in batches:
            call(out, batch) if call is not None else out(batch)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
    return out.eval()


class MLPGenerator(nn.Module):
    """z (B, d) -> x (B, out_dim) through ``depth`` hidden ReLU layers of width ``hidden``."""

    def __init__(self, latent_dim: int, out_dim: int = 2, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.latent_dim, self.out_shape = latent_dim, (out_dim,)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).float()  # float32 under autocast too


def _linear_heads(feature_dim: int, extra_heads: dict[str, int] | None) -> dict[str, nn.Module]:
    return {name: nn.Linear(feature_dim, n) for name, n in (extra_heads or {}).items()}


def mlp_discriminator(
    in_dim: int = 2, hidden: int = 128, depth: int = 3, outputs: int = 1, extra_heads: dict[str, int] | None = None
) -> Discriminator:
    """MLP trunk of ``depth`` LeakyReLU layers plus the adversarial head (and linear ``extra_heads``)."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    return Discriminator(nn.Sequential(*layers), hidden, _linear_heads(hidden, extra_heads), outputs)


class DCGANGenerator(nn.Module):
    """z (B, d) -> image (B, C, S, S) in [-1, 1].

    A linear layer to a (width * 2^(n-1), s0, s0) map, then n stride-2 transposed convolutions, each
    halving the channels and doubling the size, BatchNorm + ReLU between, tanh at the end. For 28 px and
    width 64: 100 -> 128x7x7 -> 64x14x14 -> 1x28x28, the usual DCGAN for MNIST.
    """

    def __init__(self, latent_dim: int, size: int = 28, channels: int = 1, width: int = 64) -> None:
        super().__init__()
        s0, n = _base_size(size)
        c0 = width * 2 ** (n - 1)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, c0 * s0 * s0, bias=False), nn.BatchNorm1d(c0 * s0 * s0), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        c = c0
        for i in range(n):
            last = i == n - 1
            out = channels if last else c // 2
            blocks.append(nn.ConvTranspose2d(c, out, 4, 2, 1, bias=last))
            blocks += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
            c = out
        self.body = nn.Sequential(*blocks)
        self.latent_dim, self.out_shape, self._c0s0 = latent_dim, (channels, size, size), (c0, s0)
        _init_dcgan(self)

    def forward(self, z: Tensor) -> Tensor:
        c0, s0 = self._c0s0
        return self.body(self.project(z).view(-1, c0, s0, s0)).float()  # float32 under autocast too


def dcgan_discriminator(
    size: int = 28, channels: int = 1, width: int = 64, norm: str = "batch", outputs: int = 1,
    extra_heads: dict[str, int] | None = None,
) -> Discriminator:
    """Image trunk mirroring :class:`DCGANGenerator`: n stride-2 convolutions with LeakyReLU(0.2).

    The first convolution has no normalisation (as in DCGAN); ``norm`` applies to the others: "batch"
    for the non-saturating loss, "layer" or "none" for WGAN-GP, whose per-sample gradient penalty
    BatchNorm would invalidate.
    """
    s0, n = _base_size(size)
    layers: list[nn.Module] = []
    c_in, c = channels, width
    for i in range(n):
        layers.append(nn.Conv2d(c_in, c, 4, 2, 1, bias=i == 0 or norm in ("none", "spectral")))
        if i > 0:
            layers.append(_norm2d(norm, c))
        layers.append(nn.LeakyReLU(0.2))
        c_in, c = c, c * 2
    layers.append(nn.Flatten())
    feature_dim = c_in * s0 * s0
    D = Discriminator(nn.Sequential(*layers), feature_dim, _linear_heads(feature_dim, extra_heads), outputs)
    _init_dcgan(D)
    return spectral_norm(D) if norm == "spectral" else D


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_nets(
    arch: str,
    latent_dim: int,
    data_shape: tuple[int, ...],
    width: int,
    depth: int = 3,
    d_norm: str = "batch",
    adversarial_outputs: int = 1,
    extra_heads: dict[str, int] | None = None,
) -> tuple[nn.Module, Discriminator]:
    """Generator and discriminator for data of ``data_shape`` ((2,) for points, (C, S, S) for images).

    ``extra_heads`` adds linear heads on D's trunk by name and width, e.g. {"classifier": 10} for AC-GAN.
    """
    if arch == "mlp":
        if len(data_shape) != 1:
            raise ConfigError(f"model.arch 'mlp' is for vectors; the data has shape {data_shape}. Use 'dcgan'.")
        G: nn.Module = MLPGenerator(latent_dim, data_shape[0], width, depth)
        D = mlp_discriminator(data_shape[0], width, depth, adversarial_outputs, extra_heads)
        return G, spectral_norm(D) if d_norm == "spectral" else D
    if arch == "dcgan":
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ConfigError(
                f"model.arch 'dcgan' needs square images (C, S, S); the data has shape {data_shape}. "
                "Use 'mlp' for vectors."
            )
        C, S, _ = data_shape
        G = DCGANGenerator(latent_dim, S, C, width)
        return G, dcgan_discriminator(S, C, width, d_norm, adversarial_outputs, extra_heads)
    raise ConfigError(f"model.arch must be 'mlp' or 'dcgan'. Got {arch!r} instead.")


@torch.no_grad()
def generate(G: nn.Module, z: Tensor, batch_size: int = 1000, precision: str = "fp32") -> Tensor:
    """G(z) in eval mode and in chunks, restoring G's train/eval mode afterwards; float32 images, computed in
    ``precision`` (see :mod:`gmgan.precision`)."""
    from gmgan.precision import autocast

    was_training = G.training
    G.eval()
    try:
        with autocast(precision, z.device):
            return torch.cat([G(chunk) for chunk in z.split(batch_size)])
    finally:
        G.train(was_training)


@torch.no_grad()
def read_head(D: nn.Module, x: Tensor, head: str, batch_size: int = 500) -> Tensor:
    """One head's outputs on images x: D in eval mode (its mode restored after), in chunks on D's device."""
    was_training = D.training
    D.eval()
    try:
        device = next(D.parameters()).device
        return torch.cat([D(c.to(device), heads=(head,))[head] for c in x.split(batch_size)])
    finally:
        D.train(was_training)
