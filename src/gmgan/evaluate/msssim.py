"""MS-SSIM (Wang et al. 2003) for small images, batched over many pairs, and GM-GAN's intra-class diversity.

The standard MS-SSIM (5 scales, 11x11 Gaussian window) needs images of at least 176 px; GAN datasets here
are 8-96 px. :func:`msssim_settings` picks a window and a number of scales that fit the image (the
smallest scale must still hold one window) and keeps the standard scale weights of those scales,
renormalised to sum to 1; at 28 px this is torchmetrics' documented small-image setting (window 7,
3 scales, betas 0.0711/0.4530/0.4760). Each scale's mean contrast-structure term (and the last scale's
SSIM) is clipped at 0 before the power, like torchmetrics' ``normalize="relu"``: without it random
pairs give NaN.

Why not torchmetrics: it costs about 0.3-0.5 ms per pair, i.e. minutes for the 499,500 pairs of 1,000
images. Here the Gaussian filter is a matrix product on both sides of the image, the per-image terms
(means, second moments, the pyramid) are computed once, and only the cross term is computed per pair,
in chunks of pairs. tests/test_msssim.py checks the result against torchmetrics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gmgan.errors import EvaluationError

STANDARD_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@dataclass(frozen=True)
class MSSSIMSettings:
    kernel_size: int
    sigma: float
    betas: tuple[float, ...]
    data_range: float = 2.0  # images in [-1, 1]

    def as_dict(self) -> dict:
        return asdict(self)


def msssim_settings(size: int, data_range: float = 2.0) -> MSSSIMSettings:
    """Window and scales for images of side ``size``: 11 px windows from 64 px, 7 from 28, 5 from 16, else 3;
    as many scales (at most 5) as keep the smallest image at least one window wide; the Gaussian's sigma
    is 1.5 * window / 11, the standard ratio (and the window torchmetrics derives from that sigma).

    Example:
        >>> s = msssim_settings(28)
        >>> s.kernel_size, [round(b, 4) for b in s.betas]
        (7, [0.0711, 0.453, 0.476])
        >>> msssim_settings(8).kernel_size, len(msssim_settings(8).betas), len(msssim_settings(256).betas)
        (3, 2, 5)
    """
    if size < 3:
        raise EvaluationError(f"MS-SSIM needs images of at least 3 px; these are {size} px.")
    kernel = 11 if size >= 64 else 7 if size >= 28 else 5 if size >= 16 else 3
    scales = min(5, 1 + math.floor(math.log2(size / kernel)))
    betas = STANDARD_BETAS[:scales]
    total = sum(betas)
    # the standard window is 11 px for sigma 1.5, i.e. +-3.5 sigma; smaller windows keep that ratio
    return MSSSIMSettings(kernel, 1.5 * kernel / 11, tuple(b / total for b in betas), data_range)


def _filter_matrix(size: int, kernel: int, sigma: float, device: torch.device) -> Tensor:
    """(size - kernel + 1, size) matrix M with M @ x = 'valid' 1-D Gaussian filtering of x's rows."""
    t = torch.arange(kernel, dtype=torch.float32, device=device) - (kernel - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    out = size - kernel + 1
    m = torch.zeros(out, size, device=device)
    for i in range(out):
        m[i, i:i + kernel] = g
    return m


class _Pyramid:
    """Per-image terms of every scale: the reflect-padded image, its filtered mean and second moment.

    As in torchmetrics, each image is reflect-padded by half a window so the filtered maps keep the image's
    size; the contrast-structure term is averaged over the interior (where the window lies inside the image)
    and the coarsest scale's SSIM over the whole map. Padding commutes with the pixel-wise product, so the
    cross term of a pair is the filtered product of the two padded images.
    """

    def __init__(self, images: Tensor, s: MSSSIMSettings) -> None:
        if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
            raise EvaluationError(f"MS-SSIM expects square images (n, C, S, S); got shape {tuple(images.shape)}.")
        self.s = s
        self.pad = (s.kernel_size - 1) // 2
        self.levels: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []  # (padded x, mu, filtered x^2, filter)
        x = images.float()
        for level in range(len(s.betas)):
            if level:
                x = F.avg_pool2d(x, 2)
            if x.shape[-1] <= self.pad:
                raise EvaluationError(f"{images.shape[-1]} px images are too small for {len(s.betas)} MS-SSIM scales.")
            xp = F.pad(x, (self.pad,) * 4, mode="reflect")
            m = _filter_matrix(xp.shape[-1], s.kernel_size, s.sigma, x.device)
            self.levels.append((xp, self._filter(xp, m), self._filter(xp * xp, m), m))

    @staticmethod
    def _filter(x: Tensor, m: Tensor) -> Tensor:
        return m @ x @ m.T

    def pairs(self, i: Tensor, j: Tensor) -> Tensor:
        """MS-SSIM of the image pairs (i[p], j[p])."""
        c1 = (0.01 * self.s.data_range) ** 2
        c2 = (0.03 * self.s.data_range) ** 2
        p = self.pad
        result = torch.ones(i.numel(), device=i.device)
        last = len(self.levels) - 1
        for level, (x, mu, sq, m) in enumerate(self.levels):
            mu_x, mu_y = mu[i], mu[j]
            mu_xy = mu_x * mu_y
            sigma_xy = self._filter(x[i] * x[j], m) - mu_xy
            sigma_x2, sigma_y2 = (sq[i] - mu_x**2).clamp_min(0), (sq[j] - mu_y**2).clamp_min(0)
            cs = (2 * sigma_xy + c2) / (sigma_x2 + sigma_y2 + c2)
            if level == last:  # the full SSIM at the coarsest scale
                value = cs * (2 * mu_xy + c1) / (mu_x**2 + mu_y**2 + c1)
            else:
                value = cs[..., p:cs.shape[-2] - p, p:cs.shape[-1] - p] if p else cs
            result = result * value.flatten(1).mean(dim=1).clamp_min(0) ** self.s.betas[level]
        return result


def ms_ssim(x: Tensor, y: Tensor, settings: MSSSIMSettings | None = None) -> Tensor:
    """MS-SSIM of each pair (x[p], y[p]); x, y (n, C, S, S) in [-1, 1] (``settings.data_range`` = 2)."""
    if x.shape != y.shape:
        raise EvaluationError(f"MS-SSIM compares images of one shape; got {tuple(x.shape)} and {tuple(y.shape)}.")
    s = settings or msssim_settings(x.shape[-1])
    n = x.shape[0]
    pyramid = _Pyramid(torch.cat([x, y]), s)
    idx = torch.arange(n, device=x.device)
    return pyramid.pairs(idx, idx + n)


def random_pairs(n: int, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` pairs (i, j), i != j, drawn uniformly with replacement from the n(n-1)/2 distinct pairs
    (the mean over them is an unbiased estimate of the all-pairs mean)."""
    i = torch.randint(n, (count,), generator=generator)
    j = (i + torch.randint(1, n, (count,), generator=generator)) % n
    return i, j


def mean_pairwise_ms_ssim(
    images: Tensor,
    pairs: int | None = 10_000,
    seed: int = 0,
    settings: MSSSIMSettings | None = None,
    chunk: int = 4096,
) -> dict:
    """Mean MS-SSIM over pairs of distinct images: every one of the n(n-1)/2 pairs when ``pairs`` is None
    (or not below that number), else an unbiased random subset of ``pairs`` pairs drawn with ``seed``.

    Returns the mean, the number of pairs, whether all were used, and the settings.
    """
    n = images.shape[0]
    if n < 2:
        raise EvaluationError(f"Pairwise MS-SSIM needs at least 2 images; got {n}. Evaluate more samples (--n).")
    s = settings or msssim_settings(images.shape[-1])
    pyramid = _Pyramid(images, s)
    total_pairs = n * (n - 1) // 2
    all_pairs = pairs is None or pairs >= total_pairs
    total = torch.zeros((), dtype=torch.float64)
    if all_pairs:
        rows = torch.arange(n)
        # pairs (i, j > i), taken a block of rows at a time so that at most about `chunk` pairs are live
        i0 = 0
        while i0 < n - 1:
            i1 = i0 + 1
            count = n - 1 - i0
            while i1 < n - 1 and count + (n - 1 - i1) <= chunk:
                count += n - 1 - i1
                i1 += 1
            ii = torch.cat([torch.full((n - 1 - r,), r) for r in range(i0, i1)])
            jj = torch.cat([rows[r + 1:] for r in range(i0, i1)])
            total += pyramid.pairs(ii, jj).double().sum()
            i0 = i1
        used = total_pairs
    else:
        g = torch.Generator().manual_seed(seed)
        i, j = random_pairs(n, int(pairs), g)  # type: ignore[arg-type]
        for a, b in zip(i.split(chunk), j.split(chunk), strict=True):
            total += pyramid.pairs(a, b).double().sum()
        used = int(pairs)  # type: ignore[arg-type]
    return {"mean": float(total / used), "pairs": used, "all_pairs": all_pairs, "seed": None if all_pairs else seed,
            "settings": s.as_dict()}


def intra_class_diversity(images: Tensor, pairs: int | None = 10_000, seed: int = 0) -> dict:
    """d_intra = 1 - mean MS-SSIM over pairs of distinct generated images (GM-GAN Eq. 8).

    Eq. 8 averages over all |X|^2 ordered pairs, self-pairs included (each scores 1); we average over the
    n(n-1)/2 distinct pairs, which removes that 1/n bias towards 0 and is what "all pairs" means here.
    """
    result = mean_pairwise_ms_ssim(images, pairs=pairs, seed=seed)
    return {"d_intra": 1.0 - result["mean"], "ms_ssim": result}


def within_class_diversity(images: Tensor, classes: Tensor, pairs: int | None = 10_000, seed: int = 0) -> dict:
    """1 - mean MS-SSIM over pairs of images *of the same predicted class*, averaged over classes.

    Not a metric of the papers: Eq. 8 pairs every image with every other, so on a set that spans several
    classes it is dominated by cross-class pairs and barely moves when each class collapses to one image
    (on MNIST, a supervised GM-GAN whose classes had collapsed scored 0.76 against AC-GAN's 0.78). This
    variant looks only inside classes, where that collapse shows. ``pairs`` is the budget over all classes,
    split evenly; classes with fewer than two images are skipped.

    Returns ``mean`` (over the classes scored) and ``per_class`` (None where skipped).
    """
    present = [int(c) for c in torch.unique(classes) if int((classes == c).sum()) >= 2]
    if not present:
        raise EvaluationError("within-class diversity needs two images of some class. Evaluate more samples (--n).")
    budget = None if pairs is None else max(1, pairs // len(present))
    per_class: dict[int, float] = {}
    for c in present:
        per_class[c] = 1.0 - mean_pairwise_ms_ssim(images[classes == c], pairs=budget, seed=seed + c)["mean"]
    K = int(classes.max()) + 1
    return {"mean": sum(per_class.values()) / len(per_class), "per_class": [per_class.get(c) for c in range(K)]}
