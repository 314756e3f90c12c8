"""Sample-quality metrics on feature vectors: FID, KID, Inception Score, precision/recall, density/coverage,
and GM-GAN's quality, diversity and combined scores (GM-GAN Section 3.2, Eq. 6-11).

Every function takes features (or class probabilities) already extracted, so the same code serves a
domain classifier, Inception-v3 or raw 2-D coordinates. Nothing builds an n-by-n matrix: distances are
computed in row chunks of ``chunk`` rows (memory ``chunk * n``).

Why these are written here rather than taken from a library: torchmetrics' FID/KID/IS need a feature
module and keep every feature in the metric object, and it has no precision/recall, density/coverage or
GM-GAN scores; ``prdc`` builds full distance matrices (hours and tens of GB at 50k). The formulas below are
checked against scipy, torchmetrics and ``prdc`` in tests/test_metrics.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gmgan.errors import EvaluationError
from gmgan.losses import mutual_information

CHUNK = 1024


def _need(n: int, minimum: int, what: str) -> None:
    if n < minimum:
        raise EvaluationError(f"{what} needs at least {minimum} samples; got {n}. Evaluate more samples (--n).")


def _as_float64(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------- FID ---------------------------------------


def gaussian_stats(features: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``features`` (n, f), in float64."""
    f = _as_float64(features)
    _need(f.shape[0], 2, "A covariance")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) (Heusel et al. 2017).

    tr((S1 S2)^1/2) is computed as the sum of square roots of the eigenvalues of S1^1/2 S2 S1^1/2, a
    symmetric positive semi-definite matrix: real and finite even when n < f makes S1, S2 singular, where
    ``scipy.linalg.sqrtm`` returns complex values or NaN.

    Example:
        >>> m, s = np.zeros(3), np.eye(3)
        >>> round(frechet_distance(m, s, m + 1, 4 * s), 6)  # 3 + (3 + 12 - 2 * 6)
        6.0
    """
    root1 = _psd_sqrt(sigma1)
    eig = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean, 0.0))


def fid(real: Tensor | np.ndarray, fake: Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (n, f)."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


# ---------------------------------------------------------------- KID ---------------------------------------


def kid(
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    coef: float = 1.0,
    seed: int = 0,
) -> dict[str, float | int]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with the kernel
    (x.y / f + coef)^degree, averaged over ``subsets`` random subsets of each set.

    ``subset_size`` is lowered to the smaller sample count (torchmetrics raises instead); the size used is
    returned. Same estimator as torchmetrics' KernelInceptionDistance.
    """
    r, f = _as_float64(real), _as_float64(fake)
    m = min(subset_size, r.shape[0], f.shape[0])
    _need(m, 2, "KID")
    rng = np.random.default_rng(seed)
    dim = r.shape[1]
    scores = np.empty(subsets)
    for i in range(subsets):
        x = r[rng.choice(r.shape[0], m, replace=False)]
        y = f[rng.choice(f.shape[0], m, replace=False)]
        k_xx = (x @ x.T / dim + coef) ** degree
        k_yy = (y @ y.T / dim + coef) ** degree
        k_xy = (x @ y.T / dim + coef) ** degree
        scores[i] = ((k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
                     - 2 * k_xy.sum() / m**2)
    return {"mean": float(scores.mean()), "std": float(scores.std()), "subsets": subsets, "subset_size": m}


# ---------------------------------------------------------------- Inception Score ---------------------------


def inception_score(probs: Tensor | np.ndarray, splits: int = 10) -> dict[str, float | int]:
    """exp(E_x KL(p(y|x) || p(y))) over ``splits`` consecutive splits (Salimans et al. 2016), with class
    probabilities from any classifier (GM-GAN Section 3.1 argues for one trained on the same data).

    Example:
        >>> p = np.eye(4)[np.arange(400) % 4]  # confident and uniform over 4 classes
        >>> round(inception_score(p, splits=2)["mean"], 6)
        4.0
    """
    p = _as_float64(probs)
    _need(p.shape[0], 2 * splits, f"The Inception Score over {splits} splits")
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0).sum(axis=1)
        scores.append(math.exp(kl.mean()))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "splits": splits}


# ---------------------------------------------------------------- nearest neighbours ------------------------


def _dist(a: Tensor, b: Tensor) -> Tensor:
    # float64 so that an exact duplicate lies at distance 0, not at the 1e-3 error of float32 matmul distances
    return torch.cdist(a.double(), b.double())


def nearest_distances(query: Tensor, reference: Tensor, k: int = 1, exclude_self: bool = False,
                      chunk: int = CHUNK) -> Tensor:
    """Distance from each query row to its k-th nearest reference row, in row chunks.

    ``exclude_self`` (query is reference): the zero distance of each row to itself is skipped, as in the
    k-NN radii of improved precision/recall.
    """
    query, reference = query.float(), reference.float()
    kk = k + 1 if exclude_self else k
    _need(reference.shape[0], kk, f"The {k}-nearest-neighbour distance")
    out = []
    for chunk_q in query.split(chunk):
        out.append(_dist(chunk_q, reference).topk(kk, dim=1, largest=False).values[:, kk - 1])
    return torch.cat(out)


def _knn_radii(x: Tensor, ks: tuple[int, ...], chunk: int) -> dict[int, Tensor]:
    """k-th-nearest-neighbour distance of each row of x within x (itself excluded), for each k in ks."""
    top = max(ks) + 1
    _need(x.shape[0], top, f"A {max(ks)}-nearest-neighbour radius")
    values = torch.cat([_dist(c, x).topk(top, dim=1, largest=False).values for c in x.split(chunk)])
    return {k: values[:, k] for k in ks}


def prdc(real: Tensor, fake: Tensor, k: int = 3, k_dc: int = 5, chunk: int = CHUNK) -> dict[str, float | int]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k neighbours, density and coverage
    (Naeem et al. 2020) with k_dc neighbours, from one pass over the fake-by-real distances.

    * precision: share of fake samples inside the k-NN ball of some real sample;
    * recall: share of real samples inside the k-NN ball of some fake sample;
    * density: number of real k_dc-NN balls holding each fake sample, divided by k_dc (about 1 when the
      distributions match; it can exceed 1);
    * coverage: share of real k_dc-NN balls that hold at least one fake sample.
    """
    real, fake = real.float(), fake.float()
    real_r = _knn_radii(real, (k, k_dc), chunk)
    fake_r = _knn_radii(fake, (k,), chunk)[k].double()
    r_pr, r_dc = real_r[k].double(), real_r[k_dc].double()
    precise = torch.zeros(fake.shape[0], dtype=torch.bool)
    density = torch.zeros((), dtype=torch.float64)
    recalled = torch.zeros(real.shape[0], dtype=torch.bool)
    nearest_fake = torch.full((real.shape[0],), math.inf, dtype=torch.float64)
    start = 0
    for c in fake.split(chunk):
        d = _dist(c, real)  # (chunk, n_real)
        rows = slice(start, start + c.shape[0])
        precise[rows] = (d <= r_pr[None, :]).any(dim=1)
        density += (d <= r_dc[None, :]).sum()
        recalled |= (d <= fake_r[rows, None]).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
        start += c.shape[0]
    return {
        "precision": float(precise.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(density / (k_dc * fake.shape[0])),
        "coverage": float((nearest_fake <= r_dc).double().mean()),
        "k": k,
        "k_dc": k_dc,
    }


# ---------------------------------------------------------------- GM-GAN scores -----------------------------


def quality_scores(nn_dist: Tensor, log_a: float) -> Tensor:
    """Per-sample quality q(x) = 1 - e^d / (e^d + a) = sigmoid(log a - d) (GM-GAN Eq. 6), where d is the
    distance from x to its nearest training image in the classifier's layer. Written as a sigmoid so that
    large distances give 0, not NaN from inf / inf.

    Example:
        >>> [round(v, 4) for v in quality_scores(torch.tensor([0.0, 2.0, 1e4]), log_a=2.0).tolist()]
        [0.8808, 0.5, 0.0]
    """
    return torch.sigmoid(log_a - nn_dist.double()).float()


def inter_class_diversity(classes: Tensor, num_classes: int) -> float:
    """d_inter = H(mean one-hot prediction) / log N (GM-GAN Eq. 9): 1 for a uniform class histogram, 0 when
    every sample falls in one class.

    Example:
        >>> round(inter_class_diversity(torch.arange(100) % 10, 10), 6)
        1.0
        >>> inter_class_diversity(torch.zeros(5).long(), 10)
        0.0
    """
    if num_classes < 2:
        raise EvaluationError("Inter-class diversity needs a classifier with at least 2 classes.")
    p = class_histogram(classes, num_classes) / max(classes.numel(), 1)
    p = p[p > 0]
    return float(-(p * p.log()).sum() / math.log(num_classes)) + 0.0  # + 0.0 turns -0.0 into 0.0


def class_histogram(classes: Tensor, num_classes: int) -> Tensor:
    """Number of samples predicted in each class, (N,) float64."""
    return torch.bincount(classes.long().flatten(), minlength=num_classes).double()


def component_purity(components: Tensor, classes: Tensor, K: int, num_classes: int) -> dict[str, list | float]:
    """For each mixture component: its majority class and the share of its samples in that class.

    ``mean`` weights components by their sample counts (= share of all samples in their component's
    majority class). A component with no samples gets purity NaN, stored as None in JSON.
    """
    table = torch.zeros(K, num_classes, dtype=torch.float64)
    table.index_put_((components.long(), classes.long()), torch.ones(components.numel(), dtype=torch.float64),
                     accumulate=True)
    sizes = table.sum(dim=1)
    best, majority = table.max(dim=1)
    purity = [float(b / s) if s > 0 else None for b, s in zip(best, sizes, strict=True)]
    return {
        "purity": purity,
        "majority_class": majority.tolist(),
        "samples": sizes.long().tolist(),
        "mean": float(best.sum() / sizes.sum()),
    }


def output_usage(components: Tensor, outputs: Tensor, K: int) -> dict[str, object]:
    """How a classifier's outputs cover the components its inputs came from (no labels needed).

    ``components`` (n,) the component each generated sample was drawn from, ``outputs`` (n,) the classifier's
    chosen output for it (e.g. the argmax of papers/002's C, before any relabelling). Returns:

    * ``outputs_used``: how many distinct outputs are chosen at all (K when C tells every component apart);
    * ``merged``: groups of two or more components whose samples mostly get the same output, i.e. that C
      does not tell apart (sorted lists, smallest component first);
    * ``agreement``: the share of samples whose output is their component's majority output (1.0 when C
      reads every component consistently, merged or not);
    * ``mutual_information``: I(component; output) in nats, at most log K (reached only with no merges).

    Example:
        >>> comp = torch.tensor([0, 0, 1, 1, 2, 2])
        >>> output_usage(comp, torch.tensor([2, 2, 2, 2, 0, 0]), 3)["merged"]
        [[0, 1]]
    """
    n = components.numel()
    table = torch.zeros(K, K, dtype=torch.float64)
    table.index_put_((components.long().cpu(), outputs.long().cpu()), torch.ones(n, dtype=torch.float64),
                     accumulate=True)
    best, majority = table.max(dim=1)
    present = table.sum(1) > 0
    groups: dict[int, list[int]] = {}
    for k in range(K):
        if present[k]:
            groups.setdefault(int(majority[k]), []).append(k)
    codes = [torch.nn.functional.one_hot(v.long().cpu(), K).double() for v in (components, outputs)]
    return {"outputs_used": int((table.sum(0) > 0).sum()),
            "merged": sorted(g for g in groups.values() if len(g) > 1),
            "agreement": float(best.sum() / n),
            "mutual_information": float(mutual_information(*codes))}


def requested_class_accuracy(components: Tensor, classes: Tensor, targets: Tensor) -> dict[str, object]:
    """How often a class-conditional generator makes what was asked: the share of samples whose predicted
    class is one its component targets (``targets`` (K, N) boolean, the run's component -> class map).

    Returns ``accuracy`` over all samples and ``per_component`` (None for components with no samples).

    Example:
        >>> t = torch.eye(2, dtype=torch.bool)
        >>> requested_class_accuracy(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), t)["accuracy"]
        0.75
    """
    hit = targets[components.long(), classes.long()].double()
    K = targets.shape[0]
    counts = torch.bincount(components.long(), minlength=K).double()
    hits = torch.bincount(components.long(), weights=hit, minlength=K)
    per = [float(h / c) if c > 0 else None for h, c in zip(hits, counts, strict=True)]
    return {"accuracy": float(hit.mean()), "per_component": per}


@torch.no_grad()
def class_accuracy_ceiling(prior, targets: Tensor, scale: float = 1.0, n: int = 20_000, seed: int = 0) -> float:
    """The highest requested-class accuracy any generator can reach from ``prior`` sampled at ``scale``.

    G sees only z, and mixture components overlap: a z drawn from component k may be likelier under another.
    The best G can do is make, for each z, the class its components most probably ask for (the Bayes rule
    argmax_m sum_k p(k | z) targets[k, m]); this is that rule's accuracy on n latents drawn from the prior.
    1.0 for AC-GAN's exact class code; for GM-GAN's c = 0.1, sigma = 0.15, K = 10, d = 100 about 0.975 at
    scale 1, which is why a supervised GM-GAN at the papers' settings stays under 97.5% (docs/RESULTS.md).
    ``targets``: the (K, N) component -> class table, as in :func:`requested_class_accuracy`.
    """
    g = torch.Generator(device=prior.device).manual_seed(seed)
    z, k = prior.sample(n, scale=scale, generator=g)
    table = targets.to(z.device)
    best = (prior.responsibilities(z, scale).double() @ table.double()).argmax(1)
    return float(table[k.long(), best].double().mean())


@torch.no_grad()
def prior_spread(prior) -> dict[str, float]:
    """How a mixture prior's components spread, as means over its K components (no sampling, no labels).

    A dynamic GM-GAN learns z = A_k eps + mu_k; this says what its A_k and mu_k became:

    * ``rms_std``: sqrt(trace(Sigma_k) / d), the standard deviation per latent dimension (sigma at the start);
    * ``effective_rank``: exp of the entropy of Sigma_k's normalised eigenvalues: how many directions carry
      the component's variance (d for an isotropic component, 1 when it all lies along one direction);
    * ``dims_90``: the fewest directions holding 90% of trace(Sigma_k);
    * ``largest_std``: the largest singular value of A_k, the std along the component's main direction;
    * ``min_mean_distance`` / ``mean_mean_distance``: the closest and the average distance between two means.
    """
    var = torch.linalg.svdvals(prior.A.double()) ** 2  # eigenvalues of Sigma_k, (K, d), descending
    share = var / var.sum(1, keepdim=True)
    effective_rank = torch.exp(-(share * torch.log(share.clamp_min(1e-300))).sum(1))
    dims_90 = (share.cumsum(1) < 0.9 - 1e-9).sum(1) + 1
    mu = prior.mu.double()
    distance = torch.cdist(mu, mu)[~torch.eye(prior.K, dtype=torch.bool, device=mu.device)]
    return {"rms_std": float((var.sum(1) / prior.d).sqrt().mean()),
            "effective_rank": float(effective_rank.mean()),
            "dims_90": float(dims_90.double().mean()),
            "largest_std": float(var[:, 0].sqrt().mean()),
            "min_mean_distance": float(distance.min()) if prior.K > 1 else math.nan,
            "mean_mean_distance": float(distance.mean()) if prior.K > 1 else math.nan}


def diversity(d_intra: float, d_inter: float) -> float:
    """d = sqrt(d_intra * d_inter) (GM-GAN Eq. 10)."""
    return math.sqrt(max(d_intra, 0.0) * max(d_inter, 0.0))


def combined_score(q: float, d: float) -> float:
    """s = sqrt(q * d) (GM-GAN Eq. 11)."""
    return math.sqrt(max(q, 0.0) * max(d, 0.0))
