"""Unsupervised clustering with a trained model, its baselines, and the scores (ACC, NMI, ARI).

Routes (``gmgan cluster RUN --method ...``):

* ``classifier``: GM-GAN's Algorithm 2 (papers/001, Section 5.1): M samples from each of the K components,
  a K-way classifier trained on them with the component as label, real data assigned by its argmax (soft
  assignment = its softmax).
* ``mixture``: GAEL (papers/000, Section 4.3): codes of the real training images from the encoder head (or
  by inverting G), a K-component Gaussian mixture fitted by EM, each image assigned to its most responsible
  component.
* ``responsibility``: the posterior consistency module C(x) = p(k | x) of a responsibility run (papers/002).

Baselines on the same data: k-means and a Gaussian mixture on the pixels, and on the first 50 principal
components of the pixels (scikit-learn).

The fit uses the training split only (the classifier route sees no real image at all); both splits are then
assigned and scored separately. ACC matches clusters to classes one-to-one with the Hungarian algorithm
(scipy); NMI and ARI are scikit-learn's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmgan.errors import ConfigError

ROUTES = ("classifier", "mixture", "responsibility")
BASELINES = ("kmeans", "gmm", "pca-kmeans", "pca-gmm")
PCA_COMPONENTS = 50


def contingency(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(clusters, classes) counts."""
    table = np.zeros((int(y_pred.max()) + 1, int(y_true.max()) + 1), dtype=np.int64)
    np.add.at(table, (y_pred, y_true), 1)
    return table


def cluster_to_class(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, int]:
    """The one-to-one cluster -> class matching with the most agreements (Hungarian algorithm, scipy)."""
    from scipy.optimize import linear_sum_assignment

    table = contingency(np.asarray(y_true), np.asarray(y_pred))
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True)}


def clustering_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """ACC = max over one-to-one maps m of mean(y == m(c)) (GM-GAN Section 5.2); clusters left unmatched
    (more clusters than classes) count as errors.

    Example:
        >>> clustering_accuracy(np.array([0, 0, 1, 1, 2]), np.array([2, 2, 0, 0, 1]))
        1.0
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    mapping = cluster_to_class(y_true, y_pred)
    table = contingency(y_true, y_pred)
    return float(sum(table[r, c] for r, c in mapping.items()) / len(y_true))


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """ACC (Hungarian), NMI (arithmetic normalisation, scikit-learn's default) and ARI."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"acc": clustering_accuracy(y_true, y_pred), "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
            "ari": float(adjusted_rand_score(y_true, y_pred))}


@dataclass
class Clustering:
    """A fitted clustering: ``assign(x)`` gives (n, K) soft scores (rows sum to 1)."""

    K: int
    assign_fn: Any
    info: dict[str, Any] = field(default_factory=dict)

    def assign(self, x: Tensor) -> Tensor:
        return self.assign_fn(x)


class _MLP(nn.Module):
    def __init__(self, in_dim: int, K: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, K))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def fit_classifier_route(method: Any, samples_per_component: int = 1000, steps: int = 1500, seed: int = 0,
                         scale: float = 1.0, device: str = "cpu") -> Clustering:
    """GM-GAN Algorithm 2: M samples per component, a K-way classifier trained on them (component = label)."""
    from gmgan.data import Dataset
    from gmgan.evaluate.classifier import train_classifier
    from gmgan.nets import generate

    prior = method.prior
    K = prior.K
    if K < 2:
        raise ConfigError("the classifier route needs a mixture prior with K >= 2 components (a gmgan run).")
    g = torch.Generator(device=prior.device).manual_seed(seed)
    k = torch.arange(K, device=prior.device).repeat_interleave(samples_per_component)
    held = torch.arange(K, device=prior.device).repeat_interleave(max(1, samples_per_component // 5))
    z, _ = prior.sample(len(k), component=k, scale=scale, generator=g)
    zh, _ = prior.sample(len(held), component=held, scale=scale, generator=g)
    x, xh = generate(method.G, z).cpu(), generate(method.G, zh).cpu()
    train = Dataset("generated", x, k.cpu(), K)
    test = Dataset("generated-heldout", xh, held.cpu(), K)
    start = time.perf_counter()
    model: nn.Module
    if train.is_image:
        model, info = train_classifier(train, test, steps=steps, seed=seed, device=device)
    else:  # 2-D points: a small MLP, same optimiser and schedule
        torch.manual_seed(seed)
        model = _MLP(x.shape[1], K).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            idx = torch.randint(len(x), (128,), generator=gen)
            loss = F.cross_entropy(model(x[idx].to(device)), k.cpu()[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(xh.to(device)).argmax(1).cpu() == held.cpu()).float().mean())
        info = {"architecture": "MLP 2 x 128", "training": {"steps": steps}, "test_accuracy": acc}
    model.eval()

    @torch.no_grad()
    def assign(images: Tensor) -> Tensor:
        return torch.cat([torch.softmax(model(c.to(device)), 1).cpu() for c in images.split(1000)])

    info = {"samples_per_component": samples_per_component, "scale": scale, "classifier_steps": steps,
            "accuracy_on_held_out_generated": info["test_accuracy"],
            "train_seconds": round(time.perf_counter() - start, 1)}
    return Clustering(K, assign, info)


def fit_mixture_route(method: Any, x_fit: Tensor, K: int, seed: int = 0, covariance: str = "full",
                      inversion_steps: int = 500) -> Clustering:
    """GAEL: codes of real training images (encoder, else inversion), a K-component mixture fitted by EM."""
    from gmgan.latent import assign, fit_mixture, latent_codes
    from gmgan.priors import GaussianMixture

    z, route, route_info = latent_codes(method, x_fit, "auto", seed, inversion_steps)
    gm, summary = fit_mixture(z, K, covariance, seed)
    prior = GaussianMixture.from_sklearn(gm)

    def assign_fn(images: Tensor) -> Tensor:
        codes, _, _ = latent_codes(method, images, route, seed, inversion_steps)
        return assign(prior, codes)[0].cpu()

    return Clustering(K, assign_fn, {"route": route, "route_info": route_info, "fit_images": len(x_fit),
                                     "covariance": covariance, "mean_log_likelihood": summary["mean_log_likelihood"]})


def fit_responsibility_route(method: Any) -> Clustering:
    if not hasattr(method, "responsibilities"):
        raise ConfigError("the responsibility route needs a run trained with --method responsibility (it reads "
                          "the posterior consistency module C).")
    return Clustering(method.prior.K, lambda x: method.responsibilities(x).cpu(), {"encoding": method.encoding})


def fit_baseline(name: str, x_fit: Tensor, K: int, seed: int = 0) -> Clustering:
    """k-means / Gaussian mixture (diagonal on pixels, full on PCA) of flattened images, scikit-learn."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture as SkGMM

    if name not in BASELINES:
        raise ConfigError(f"baseline must be one of {BASELINES}. Got {name!r} instead.")
    flat = x_fit.flatten(1).numpy().astype(np.float64)
    pca = None
    if name.startswith("pca-"):
        pca = PCA(min(PCA_COMPONENTS, flat.shape[1]), random_state=seed).fit(flat)
        flat = pca.transform(flat)
    if name.endswith("kmeans"):
        model: Any = KMeans(K, n_init=10, random_state=seed).fit(flat)
    else:  # pixels: 784-d full covariances are singular (constant border pixels) and slow; diagonal there
        model = SkGMM(K, covariance_type="full" if pca is not None else "diag", reg_covar=1e-3,
                      random_state=seed, max_iter=200).fit(flat)

    def assign(images: Tensor) -> Tensor:
        f = images.flatten(1).numpy().astype(np.float64)
        if pca is not None:
            f = pca.transform(f)
        if name.endswith("kmeans"):
            hard = torch.as_tensor(model.predict(f), dtype=torch.long)
            return F.one_hot(hard, K).float()
        return torch.as_tensor(model.predict_proba(f)).float()

    info: dict[str, Any] = {"fit_images": len(x_fit)}
    if pca is not None:
        info["pca_components"] = int(pca.n_components_)
        info["pca_explained_variance"] = float(pca.explained_variance_ratio_.sum())
    return Clustering(K, assign, info)


def seed_run(run_dir: Any, seed: int, progress: bool = False) -> Any:
    """The run of ``run_dir``'s config trained with ``seed``: RUN itself, else RUN-s<seed> (trained if missing).

    A sibling that exists must hold the same config but for the seed (and paths, device); anything else is
    refused with the differences, so no table mixes settings.
    """
    from pathlib import Path

    from gmgan.config import diff_configs
    from gmgan.train import Trainer, load_run_config

    cfg = load_run_config(run_dir)
    if cfg.train.seed == seed:
        return Path(run_dir)
    sibling = Path(f"{run_dir}-s{seed}")
    want = load_run_config(run_dir)
    want.train.seed = seed
    if (sibling / "config.yaml").is_file():
        other = load_run_config(sibling)
        ignore = ("train.seed", "data.data_dir", "train.device", "train.steps")
        diffs = [d for d in diff_configs(want, other) if not d.startswith(ignore)]
        if diffs:
            raise ConfigError(f"{sibling} (seed {seed}) was trained with other settings than {run_dir}: "
                              f"{'; '.join(diffs)}. Move it away or pass other --seeds.")
        return sibling
    print(f"training {sibling} (the config of {run_dir} with seed {seed}) ...", flush=True)
    Trainer(want, sibling, progress=progress).fit()
    return sibling


def summarize(per_seed: dict[int, dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Mean, standard deviation (ddof 1 when there are 2 or more seeds), best and per-seed values."""
    out: dict[str, dict[str, dict[str, Any]]] = {}  # split -> metric -> {per_seed, mean, std, best}
    for seed, splits in per_seed.items():
        for split, metrics in splits.items():
            for name, value in metrics.items():
                out.setdefault(split, {}).setdefault(name, {"per_seed": {}})["per_seed"][str(seed)] = value
    for by_metric in out.values():
        for entry in by_metric.values():
            values = np.array(list(entry["per_seed"].values()), dtype=float)
            entry["mean"] = float(values.mean())
            entry["std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            entry["best"] = float(values.max())
    return out
