"""Unsupervised clustering with a trained model, its baselines, and the scores (ACC, NMI, ARI).

Routes (``gmgan cluster RUN --method ...``):

* ``classifier``: GM-GAN's Algorithm 2 (papers/001, Section 5.1): M samples from each of the K components,
  a K-way classifier trained on them with the component as label, real data assigned by its argmax (soft
  assignment = its softmax).
* ``mixture``: GAEL (papers/000, Section 4.3): codes of the real training images from the encoder head (or
  by inverting G), a K-component Gaussian mixture fitted by EM, each image assigned to its most responsible
  component.
* ``responsibility``: the posterior consistency module C(x) = p(k | x) of a responsibility run (papers/002).
* ``head`` (ours): the component head of a run trained with ``info.weight`` > 0 (InfoGAN-style; see
  :meth:`gmgan.methods.GANMethod.with_component_head`), read on real images.

Heads on D's trunk (the encoder, C, the component head) are read on real images with D's BatchNorm statistics
re-estimated on the real images being fitted (``bn="real"``, the default; :func:`gmgan.nets.recalibrate_batchnorm`):
D's running statistics average real and generated batches, which no head was trained under. ``bn="running"``
keeps them, for comparison.

Baselines on the same data: k-means and a Gaussian mixture on the pixels, and on the first 50 principal
components of the pixels (scikit-learn).

The fit uses the training split only (the classifier route sees no real image at all); both splits are then
assigned and scored separately. ACC matches clusters to classes one-to-one with the Hungarian algorithm
(scipy, GM-GAN Eq. 12); NMI is Eq. 13's, normalised by the geometric mean sqrt(H(y) H(c)) (scikit-learn's
``average_method="geometric"``; its default, the arithmetic mean, is kept as ``nmi_arithmetic``); ARI is
scikit-learn's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmgan import precision as precision_
from gmgan.errors import ConfigError
from gmgan.selftrain import predict

ROUTES = ("classifier", "mixture", "responsibility", "head")
BN_MODES = ("real", "running")
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
    """ACC (Eq. 12, Hungarian), NMI (Eq. 13: I / sqrt(H(y) H(c))), NMI with the arithmetic mean, and ARI.

    Example:
        >>> s = scores(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]))
        >>> round(s["nmi"], 4), round(s["nmi_arithmetic"], 4)
        (0.3456, 0.3437)
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"acc": clustering_accuracy(y_true, y_pred),
            "nmi": float(normalized_mutual_info_score(y_true, y_pred, average_method="geometric")),
            "nmi_arithmetic": float(normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic")),
            "ari": float(adjusted_rand_score(y_true, y_pred))}


def real_statistics_discriminator(method: Any, x: Tensor, batch_size: int = 500) -> Any:
    """A copy of the run's D with BatchNorm statistics re-estimated on the real images x (no labels)."""
    from gmgan.nets import recalibrate_batchnorm

    device = next(method.D.parameters()).device
    heads = tuple(method.D.heads)
    return recalibrate_batchnorm(method.D, (c.to(device) for c in x.split(batch_size)),
                                 call=lambda D, b: D(b, heads=heads))


def reading_discriminator(method: Any, x_real: Tensor | None, bn: str = "real") -> Any:
    """The D a head is read with on real images: re-estimated on ``x_real`` (``bn="real"``), else the run's own."""
    _check_bn(bn)
    return real_statistics_discriminator(method, x_real) if bn == "real" and x_real is not None else method.D


def _check_bn(bn: str) -> None:
    if bn not in BN_MODES:
        raise ConfigError(f"bn must be one of {BN_MODES}. Got {bn!r} instead.")


@dataclass
class Clustering:
    """A fitted clustering: ``assign(x)`` gives (n, K) soft scores (rows sum to 1)."""

    K: int
    assign_fn: Any
    info: dict[str, Any] = field(default_factory=dict)
    network: nn.Module | None = None  # the CNN behind assign_fn when there is one (saved by gmgan cluster)

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
                         scale: float = 1.0, device: str = "cpu", precision: str = "fp32") -> Clustering:
    """GM-GAN Algorithm 2: M samples per component, a K-way classifier trained on them (component = label).
    ``precision``: of the samples' generation and the classifier's training (:mod:`gmgan.precision`)."""
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
    x, xh = generate(method.G, z, precision=precision).cpu(), generate(method.G, zh, precision=precision).cpu()
    train = Dataset("generated", x, k.cpu(), K)
    test = Dataset("generated-heldout", xh, held.cpu(), K)
    start = time.perf_counter()
    model: nn.Module
    if train.is_image:
        model, info = train_classifier(train, test, steps=steps, seed=seed, device=device, precision=precision)
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

    def assign(images: Tensor) -> Tensor:
        return predict(model, images)

    info = {"samples_per_component": samples_per_component, "scale": scale, "classifier_steps": steps,
            "precision": precision,
            "accuracy_on_held_out_generated": info["test_accuracy"],
            "train_seconds": round(time.perf_counter() - start, 1)}
    return Clustering(K, assign, info, network=model if train.is_image else None)


def fit_mixture_route(method: Any, x_fit: Tensor, K: int, seed: int = 0, covariance: str = "full",
                      inversion_steps: int = 500, bn: str = "real") -> Clustering:
    """GAEL: codes of real training images (encoder, else inversion), a K-component mixture fitted by EM."""
    from gmgan.latent import assign, fit_mixture, latent_codes
    from gmgan.priors import GaussianMixture

    if method.has_encoder:  # encode() reads method.D
        method.D = reading_discriminator(method, x_fit, bn)
    z, route, route_info = latent_codes(method, x_fit, "auto", seed, inversion_steps)
    gm, summary = fit_mixture(z, K, covariance, seed)
    prior = GaussianMixture.from_sklearn(gm)

    def assign_fn(images: Tensor) -> Tensor:
        codes, _, _ = latent_codes(method, images, route, seed, inversion_steps)
        return assign(prior, codes)[0].cpu()

    return Clustering(K, assign_fn, {"route": route, "route_info": route_info, "fit_images": len(x_fit),
                                     "covariance": covariance, "mean_log_likelihood": summary["mean_log_likelihood"],
                                     "bn": bn if route == "encoder" else "n/a"})


def fit_responsibility_route(method: Any, x_fit: Tensor | None = None, bn: str = "real") -> Clustering:
    """C(x) of a responsibility run, column k = component k, BatchNorm statistics of ``x_fit`` (``bn="real"``)."""
    if not hasattr(method, "responsibilities"):
        raise ConfigError("the responsibility route needs a run trained with --method responsibility (it reads "
                          "the posterior consistency module C).")
    D = reading_discriminator(method, x_fit, bn)
    return Clustering(method.prior.K, lambda x: method.responsibilities(x, D=D).cpu(),
                      {"encoding": method.encoding, "bn": bn, "measure": method.measure})


def fit_head_route(method: Any, x_fit: Tensor | None = None, bn: str = "real", batch_size: int = 500) -> Clustering:
    """The component head's softmax on real images (ours): a run trained with ``info.weight`` > 0."""
    if not getattr(method, "has_component_head", False):
        raise ConfigError("the head route reads the component head of a run trained with --info WEIGHT "
                          "(info.weight > 0); this run has none. Use --method classifier for a plain GM-GAN.")
    from gmgan.nets import read_head

    D = reading_discriminator(method, x_fit, bn)

    def assign(images: Tensor) -> Tensor:
        return torch.softmax(read_head(D, images, "component", batch_size), 1).cpu()

    return Clustering(method.prior.K, assign, {"bn": bn, "weight": method.component_weight})


def refine(c: Clustering, x_fit: Tensor, keep: float = 0.5, steps: int = 1500, seed: int = 0,
           device: str = "cpu") -> Clustering:
    """Self-labelling (ours): a CNN trained on the real fit images the clustering is most sure of, labelled by it.

    For every cluster, the ``keep`` share of its members with the largest soft score are labelled with that
    cluster; the evaluation classifier's architecture (:class:`gmgan.evaluate.classifier.DomainClassifier`)
    is trained on them and replaces the clustering's assignment. No label is read: the pseudo-labels come
    from the clustering, and confidence picks the images. It corrects images a route gets wrong near the
    boundaries of well-formed clusters; it cannot split two classes a route has merged.
    """
    from gmgan.data import Dataset
    from gmgan.evaluate.classifier import train_classifier

    if not 0 < keep <= 1:
        raise ConfigError(f"refine keep must be in (0, 1]. Got {keep!r} instead.")
    soft = c.assign(x_fit)
    conf, hard = soft.max(1)
    chosen = []
    for k in range(c.K):
        members = (hard == k).nonzero().squeeze(1)
        if len(members):
            top = conf[members].argsort(descending=True)[: max(1, round(keep * len(members)))]
            chosen.append(members[top])
    idx = torch.cat(chosen)
    idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))]
    n_held = max(1, len(idx) // 10)
    x, y = x_fit[idx], hard[idx]
    train = Dataset("self-labelled", x[n_held:], y[n_held:], c.K)
    held = Dataset("self-labelled-heldout", x[:n_held], y[:n_held], c.K)
    start = time.perf_counter()
    model, info = train_classifier(train, held, steps=steps, seed=seed, device=device)
    model.eval()

    def assign(images: Tensor) -> Tensor:
        return predict(model, images)

    refined = Clustering(c.K, assign, dict(c.info), network=model)
    refined.info["refine"] = {"keep": keep, "images": len(idx), "steps": steps,
                              "agreement_with_pseudo_labels_held_out": info["test_accuracy"],
                              "seconds": round(time.perf_counter() - start, 1)}
    return refined


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


def consensus(clusterings: list[Clustering], x_fit: Tensor, K: int, seed: int = 0) -> Clustering:
    """Ours, beyond the papers: one clustering from several (the seeds' models), without labels.

    Each image is described by the concatenation of its soft assignments under every clustering, and k-means
    (20 restarts, the lowest inertia kept) groups those vectors into K clusters on the fit images (consensus
    clustering in the sense of Strehl & Ghosh 2002). Where the clusterings err differently (seed A merges
    4 and 9, seed B splits 7 in two) the majority pattern wins: images that most clusterings put together stay
    together. It cannot undo an error most of them share. Soft scores: a softmax of minus the squared
    distances to the k-means centres, in units of the mean squared distance to the own centre.
    """
    from sklearn.cluster import KMeans

    def features(images: Tensor) -> np.ndarray:
        return torch.cat([c.assign(images) for c in clusterings], dim=1).double().numpy()

    f = features(x_fit)
    km = KMeans(K, n_init=20, random_state=seed).fit(f)
    scale = max(float(km.inertia_) / len(f), 1e-12)

    def assign(images: Tensor) -> Tensor:
        d2 = torch.as_tensor(km.transform(features(images))) ** 2
        return torch.softmax(-d2 / scale, dim=1).float()

    return Clustering(K, assign, {"members": len(clusterings), "fit_images": len(x_fit),
                                  "kmeans_inertia": float(km.inertia_)})


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


# ---------------------------------------------------------------------------------------------- orchestration
# What each model route trains when no run is given: the paper-setting MNIST preset (d = 100, c = 0.1,
# sigma = 0.15 as a standard deviation, DCGAN nets) on the named dataset, plus what the route reads. The same
# settings for every dataset: nothing here is tuned per dataset.
RECIPES: dict[str, dict[str, Any]] = {
    "head": {"method": "gmgan", "info": {"weight": 1.0}},  # ours: GM-GAN + the component head
    "classifier": {"method": "gmgan"},  # GM-GAN Algorithm 2 on an unsupervised static GM-GAN
    "mixture": {"method": "gan", "encoder": {"enabled": True}},  # GAEL: GAN + encoder head
    "responsibility": {"method": "responsibility", "prior": {"learnable": True}},  # papers/002
}


RECOMMENDED: dict[str, Any] = {  # gmgan cluster --data-dir DIR without --method (docs/RESULTS.md, "Past Algorithm 2")
    "method": "kmeans", "self_train": True, "over_cluster": 3, "recluster": True, "seeds": (0, 1, 2),
    "text": "k-means on the pixels -> the self-training stage over-clustered 3x -> re-clustering of its features "
            "(UMAP + Gaussian mixture) learned by the network; one clustering per seed, the seed picked by the "
            "stage's label-free criterion"}


@dataclass
class ClusterOptions:
    """Everything ``gmgan cluster`` takes; :func:`run_clustering` does the work, the CLI only parses."""

    method: str = "classifier"  # a route (ROUTES) or a baseline (BASELINES)
    pipeline: str | None = None  # "recommended": the CLI's default without RUN (RECOMMENDED), recorded in cluster.json
    run: str | None = None  # a trained run to cluster with (its data); None = train the route's recipe
    dataset: str | None = None  # the data when no run is given (None: read from data_dir's files)
    data_dir: str | None = None
    out: str | None = None  # default RUN/cluster/METHOD, or runs/cluster-DATASET-METHOD
    seeds: tuple[int, ...] = (0,)
    multi_seed: bool = False  # True: RUN is seed 0's run and RUN-s<seed> the others (trained when missing)
    splits: tuple[str, ...] | None = None  # None: ("all",) for an image folder (every file), else train and test
    sets: tuple[str, ...] = ()  # KEY=VALUE options of the recipe's config (without RUN), as gmgan train --set
    self_train: bool = False  # ours: then the label-free self-training stage (gmgan.selftrain) on the real images
    self_train_images: int = 0  # training images the stage trains and predicts on; 0 = all
    over_cluster: int = 0  # ours, with self_train: F >= 2 runs the stage at F x K clusters first, merges them into
    #   K without labels, then runs the stage at K (gmgan.selftrain.self_train_over); 0 = off
    recluster: bool = False  # ours, with self_train: then UMAP + a Gaussian mixture on the stage's features and the
    #   stage again from there, kept when its criterion is not lower (gmgan.selftrain.self_train_recluster)
    over_cluster_pick: bool = False  # ours, with over_cluster: also run the plain stage from the same start and
    #   keep whichever ends with the higher label-free criterion (the stage's consistency x balance, which picked
    #   the better of the two on every one of 6 MNIST seeds: GM-GAN and PCA-GMM, seeds 0-2); costs both stages
    merge: str = "centroids"  # how over_cluster merges its fine clusters (gmgan.selftrain.MERGES; the reasons
    #   beside OverClusterOptions.merge): centroids (Ward on the fine clusters' mean features) | coassign
    #   (augmentation co-assignment + spectral clustering) | features (k-means on the network's features)
    export: str | None = None  # write one folder per cluster here (the selected seed's, or the consensus)
    export_mode: str = "link"  # link (symbolic links to the files) | copy
    K: int | None = None
    fit_images: int = 20_000  # training images the mixture, the baselines and BatchNorm statistics see; 0 = all
    samples_per_component: int = 1000
    classifier_steps: int = 1500
    scale: float = 1.0
    inversion_steps: int = 500
    bn: str = "real"
    refine: float = 0.0  # > 0: self-label this share of each cluster's most confident fit images (see refine)
    refine_steps: int = 1500
    consensus: bool = False  # ours: also one clustering combining every seed's (see consensus)
    precision: str = "fp32"  # classifier route: generation and classifier training (gmgan.precision)
    steps: int | None = None  # training length of a recipe's runs (default: the preset's)
    device: str = "cpu"
    progress: bool = True


def ensure_trained(cfg: Any, run_dir: Any, progress: bool = True) -> tuple[Any, str]:
    """Train ``cfg`` into ``run_dir`` unless it is there: (run_dir, what happened: trained | resumed | found).

    A folder with the same config (but for its length, paths and device) and fewer steps than asked is
    resumed from its latest checkpoint, so an interrupted ``gmgan cluster`` continues where it stopped; one
    with other settings is refused with the differences, so no table mixes settings.
    """
    from pathlib import Path

    from gmgan.checkpoint import checkpoint_step, latest_checkpoint
    from gmgan.config import diff_configs
    from gmgan.train import RESUMABLE_CHANGES, Trainer, load_run_config

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        print(f"training {run_dir} ({cfg.method}, seed {cfg.train.seed}, {cfg.train.steps} steps) ...", flush=True)
        Trainer(cfg, run_dir, progress=progress).fit()
        return run_dir, "trained"
    saved = load_run_config(run_dir)
    ignore = RESUMABLE_CHANGES | {"data.data_dir"}
    diffs = [d for d in diff_configs(cfg, saved) if d.split(":")[0] not in ignore]
    if diffs:
        raise ConfigError(f"{run_dir} holds a run with other settings than this clustering asks for: "
                          f"{'; '.join(diffs)}. Move it away, or choose another --out.")
    latest = latest_checkpoint(run_dir)
    done = checkpoint_step(latest) if latest is not None else 0
    if done >= cfg.train.steps:
        return run_dir, "found"
    cfg.data.data_dir = cfg.data.data_dir or saved.data.data_dir
    print(f"resuming {run_dir} from step {done} to {cfg.train.steps} ...", flush=True)
    Trainer(cfg, run_dir, resume=True, progress=progress).fit()
    return run_dir, "resumed"


RECIPE_TRAIN = {"steps": 10_000, "sample_every": 1000, "checkpoint_every": 1000}  # GM-GAN Section 4's length


def data_config(dataset: str | None, data_dir: str | None, sets: tuple[str, ...] = ()) -> Any:
    """The ``data`` config of a dataset named by ``dataset`` and/or ``data_dir`` (what the folder holds fills in
    the name, and a folder's size and channels, as for gmgan train); ``sets`` may set data.* options."""
    from gmgan.config import data_from_dir, make_config, parse_assignment

    update: dict[str, Any] = {"data": {"data_dir": data_dir, **({"name": dataset} if dataset else {})}}
    for text in sets:
        extra = parse_assignment(text)
        if "data" in extra:
            update["data"] = {**update["data"], **extra["data"]}
    update, _ = data_from_dir(update, None)
    return make_config(None, update).data


def recipe_config(route: str, dataset: str | Any, data_dir: str | None, seed: int, steps: int | None = None,
                  sets: tuple[str, ...] = ()) -> Any:
    """The config a model route trains when the user gives data but no run: the papers' settings (d = 100,
    c = 0.1, sigma = 0.15, K = 10, b_D 64, b_G 128, Adam 2e-4, 10,000 steps) with the route's method (RECIPES)
    on the data as it is (its own size and channels), then the user's ``sets`` (KEY=VALUE). ``dataset``: a
    name, or a data config (:func:`data_config`)."""
    from dataclasses import asdict

    from gmgan.config import make_config, parse_assignment

    if route not in RECIPES:
        raise ConfigError(f"no recipe for {route!r}; model routes are {ROUTES}.")
    data = asdict(dataset) if not isinstance(dataset, str) else {"name": dataset, "data_dir": data_dir}
    update: dict[str, Any] = {**RECIPES[route], "data": data}
    train: dict[str, Any] = {**RECIPE_TRAIN, "seed": seed}
    if steps:
        train["steps"] = steps
    return make_config(None, update, {"train": train}, *(parse_assignment(t) for t in sets))


def seed_runs(opts: ClusterOptions, dataset: Any, out: Any) -> list[tuple[int, Any, str]]:
    """(seed, run folder, trained | resumed | found) for every seed of a model route."""
    from pathlib import Path

    runs = []
    for seed in opts.seeds:
        if opts.run is None:
            cfg = recipe_config(opts.method, dataset, opts.data_dir, seed, opts.steps, opts.sets)
            runs.append((seed, *ensure_trained(cfg, Path(out) / "models" / f"seed-{seed}", opts.progress)))
        elif opts.multi_seed:
            runs.append((seed, *seed_run(opts.run, seed, opts.progress)))
        else:
            runs.append((seed, Path(opts.run), "found"))
    return runs


def seed_run(run_dir: Any, seed: int, progress: bool = False) -> tuple[Any, str]:
    """The run of ``run_dir``'s config trained with ``seed`` and what happened (found, trained or resumed):
    RUN itself, else RUN-s<seed>, trained if missing, resumed if interrupted (:func:`ensure_trained`).

    The other seeds are trained as long as RUN was (its latest checkpoint), not to the length in its config:
    a run stopped early is compared with seeds of its own length. A seed run already longer is used as it is,
    and said so.
    """
    from pathlib import Path

    from gmgan.checkpoint import checkpoint_step, latest_checkpoint
    from gmgan.train import load_run_config

    cfg = load_run_config(run_dir)
    if cfg.train.seed == seed:
        return Path(run_dir), "found"
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        cfg.train.steps = checkpoint_step(latest)
    cfg.train.seed = seed
    out, status = ensure_trained(cfg, Path(f"{run_dir}-s{seed}"), progress)
    other = latest_checkpoint(out)
    if other is not None and checkpoint_step(other) != cfg.train.steps:
        print(f"note: {out} has trained {checkpoint_step(other)} steps and {run_dir} {cfg.train.steps}; "
              "the seeds are compared at different lengths.", flush=True)
    return out, status


def fit_route(opts: ClusterOptions, method: Any, x_fit: Tensor, n_classes: int | None, seed: int) -> Clustering:
    """Fit one model route on one trained model."""
    if opts.method == "classifier":
        return fit_classifier_route(method, opts.samples_per_component, opts.classifier_steps, seed, opts.scale,
                                    opts.device, precision_.resolve(opts.precision, torch.device(opts.device)))
    if opts.method == "mixture":
        K = opts.K or (method.prior.K if method.prior.K > 1 else (n_classes or 10))
        return fit_mixture_route(method, x_fit, K, seed, inversion_steps=opts.inversion_steps, bn=opts.bn)
    if opts.method == "responsibility":
        return fit_responsibility_route(method, x_fit, opts.bn)
    if opts.method == "head":
        return fit_head_route(method, x_fit, opts.bn)
    raise ConfigError(f"--method must be one of {ROUTES + BASELINES}. Got {opts.method!r} instead.")


def confidence(soft: Tensor) -> float:
    """Mean largest soft score: how sure a clustering is of its assignments (label-free, for selection)."""
    return float(soft.max(1).values.double().mean())


def run_clustering(opts: ClusterOptions) -> dict[str, Any]:
    """Cluster a dataset with a route over one or more seeds, training what is missing; write the results.

    Writes to the output folder ``cluster.json`` (protocol, scores per split and seed, mean, standard
    deviation, the best seed, and the seed a label-free criterion selects), ``clusters-SPLIT[-seedN].csv``,
    ``confusion-SPLIT.png`` and ``members-SPLIT.png``; returns the cluster.json content.
    """
    import json
    from pathlib import Path

    from gmgan.checkpoint import atomic_write_text
    from gmgan.data import load_from_config
    from gmgan.viz import save_confusion, save_image_grid

    route = opts.method
    if route not in ROUTES + BASELINES:
        raise ConfigError(f"--method must be one of {ROUTES + BASELINES}. Got {route!r} instead.")
    _check_bn(opts.bn)
    baseline = route in BASELINES
    _check_over_cluster(opts)
    if opts.export_mode not in EXPORT_MODES:
        raise ConfigError(f"--export-mode must be one of {EXPORT_MODES}. Got {opts.export_mode!r} instead.")
    if opts.run is None and not opts.dataset and not opts.data_dir:
        raise ConfigError("Name the data: a RUN_DIR (its dataset), or --data-dir DIR (or --dataset digits).")
    if opts.run is not None:
        from gmgan.train import load_run_config

        data_cfg = load_run_config(opts.run).data
    else:
        data_cfg = data_config(opts.dataset, opts.data_dir, opts.sets)
    dataset_name = data_cfg.name

    def load(split: str) -> Any:
        return load_from_config(data_cfg, 0, split=split, imbalance=False, data_dir=opts.data_dir)

    split_names = opts.splits or (("all",) if dataset_name == "folder" else ("train", "test"))
    splits = {s: load(s) for s in split_names}
    train_data = splits.get("train") or load("train")  # loaded before any training: bad data fails fast
    if opts.export:
        check_export_target(Path(opts.export))
    if opts.out:
        out = Path(opts.out)
    elif opts.run:
        out = Path(opts.run) / "cluster" / route
    else:
        out = Path("runs") / f"cluster-{dataset_name}-{route}"
    out.mkdir(parents=True, exist_ok=True)
    fit_idx = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(0))
    if opts.fit_images:
        fit_idx = fit_idx[: opts.fit_images]
    x_fit = train_data.x[fit_idx]
    x_stage = None
    if opts.self_train:  # the stage sees the real training images (all, or a random subset)
        stage_idx = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(1))
        x_stage = train_data.x[stage_idx[: opts.self_train_images] if opts.self_train_images else stage_idx]
    models = [] if baseline else seed_runs(opts, data_cfg, out)
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    records: dict[str, Any] = {}
    fitted: list[Clustering] = []
    hard_by_seed: dict[str, list[Tensor]] = {}
    for n_seed, seed in enumerate(opts.seeds):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if baseline:
            c = fit_baseline(route, x_fit, opts.K or train_data.num_classes or 10, seed)
        else:
            from gmgan.train import load_trained

            _, model_run, status = models[n_seed]
            _, method, step = load_trained(model_run, opts.device)
            c = fit_route(opts, method, x_fit, train_data.num_classes, seed)
            c.info.update({"run": str(model_run), "step": step, "run_status": status})
        rec: dict[str, Any] = {}
        if opts.refine:
            rec["before_refine"] = {sp: scores(d.y.numpy(), c.assign(d.x).argmax(1).numpy())
                                    for sp, d in splits.items() if d.y is not None}
            c = refine(c, x_fit, opts.refine, opts.refine_steps, seed, opts.device)
        if opts.self_train:
            rec["before_self_train"] = {sp: scores(d.y.numpy(), c.assign(d.x).argmax(1).numpy())
                                        for sp, d in splits.items() if d.y is not None}
            assert x_stage is not None
            init = c.assign(x_stage)
            key = stage_key(opts, x_stage, init, seed)
            state = StageState(out / "state" / f"seed-{seed}-{StageState.name(key)}", key)
            scored = next((d for sp, d in splits.items() if sp != "train" and d.y is not None), None)
            c = self_train_stage(c, x_stage, seed, opts, state, init, scored)
            for line in _stage_lines(c):
                print(f"seed {seed}: {line}", flush=True)
        fitted.append(c)
        fit_cpu, fit_wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rec.update({"fit": c.info, "fit_cpu_seconds": round(fit_cpu, 1), "fit_wall_seconds": round(fit_wall, 1)})
        rec["confidence_fit_images"] = confidence(c.assign(x_fit))
        if c.network is not None and x_fit.dim() == 4:  # new images can be placed later (gmgan explore)
            from gmgan.assigner import save_assigner

            out.mkdir(parents=True, exist_ok=True)
            rec["assigner"] = save_assigner(out, seed, c.network, tuple(x_fit.shape[1:]),
                                            {"route": route, "run": str(opts.run) if opts.run else None}).name
        per_seed[seed] = {}
        for split, data in splits.items():
            soft = c.assign(data.x)
            hard = soft.argmax(1)
            tag = "" if len(opts.seeds) == 1 else f"-seed{seed}"
            header, keys = _csv_keys(data)
            write_soft_csv(out / f"clusters-{split}{tag}.csv", [*header, "cluster", "confidence"],
                           keys, hard, soft, digits=5, confidence=True)
            rec[f"{split}_cluster_sizes"] = torch.bincount(hard, minlength=soft.shape[1]).tolist()
            rec[f"{split}_diagnostics"] = diagnostics(soft)
            hard_by_seed.setdefault(split, []).append(hard)
            if data.y is not None:
                y, pred = data.y.numpy(), hard.numpy()
                per_seed[seed][split] = scores(y, pred)
                mapping = cluster_to_class(y, pred)
                rec[f"{split}_cluster_to_class"] = {str(k): v for k, v in mapping.items()}
                if n_seed == 0:
                    table = contingency(y, pred)
                    order = sorted(range(table.shape[0]), key=lambda r: mapping.get(r, 10**6))
                    s = per_seed[seed][split]
                    save_confusion(table, out / f"confusion-{split}.png", f"{route}, {dataset_name} {split}: "
                                   f"ACC {s['acc']:.3f} NMI {s['nmi']:.3f} ARI {s['ari']:.3f}", data.class_names,
                                   order)
            if n_seed == 0 and data.is_image:  # 10 random members of every cluster, one row each
                g = torch.Generator().manual_seed(seed)
                rows = []
                for k in range(soft.shape[1]):
                    members = (hard == k).nonzero().squeeze(1)
                    pick = members[torch.randperm(len(members), generator=g)[:10]]
                    pad = torch.full((10 - len(pick), *data.x.shape[1:]), -1.0)
                    rows.append(torch.cat([data.x[pick], pad]))
                save_image_grid(torch.cat(rows), out / f"members-{split}.png", nrow=10)
        records[str(seed)] = rec
        line = ", ".join(f"{sp}: ACC {m['acc']:.4f} NMI {m['nmi']:.4f} ARI {m['ari']:.4f}"
                         for sp, m in per_seed[seed].items())
        print(f"seed {seed}: {line or 'no labels to score'} (fit {fit_wall:.0f} s; confidence "
              f"{rec['confidence_fit_images']:.3f})", flush=True)
    if opts.self_train and all("self_train" in fitted[i].info for i in range(len(fitted))):
        # the stage's own label-free criterion (augmentation consistency x size balance on its held-out images)
        crit = {s: fitted[i].info["self_train"].get("criterion") for i, s in enumerate(opts.seeds)}
        selection = "the stage's criterion (augmentation consistency x balance of cluster sizes, held-out images)"
        selected = max(opts.seeds, key=lambda s: crit[s] if crit[s] is not None else -1.0)
    else:
        selection = "the most confident clustering of the fit images (mean largest soft score)"
        selected = max(opts.seeds, key=lambda s: records[str(s)]["confidence_fit_images"])
    combined = None
    if opts.consensus and len(fitted) > 1:
        c = consensus(fitted, x_fit, fitted[0].K, opts.seeds[0])
        combined = {"info": c.info, "scores": {}}
        for split, data in splits.items():
            soft = c.assign(data.x)
            hard = soft.argmax(1)
            header, keys = _csv_keys(data)
            write_soft_csv(out / f"clusters-{split}-consensus.csv", [*header, "cluster", "confidence"], keys, hard,
                           soft, digits=5, confidence=True)
            combined.setdefault("diagnostics", {})[split] = diagnostics(soft)
            if data.y is not None:
                combined["scores"][split] = scores(data.y.numpy(), hard.numpy())
        line = ", ".join(f"{sp}: ACC {m['acc']:.4f} NMI {m['nmi']:.4f}" for sp, m in combined["scores"].items())
        print(f"consensus of seeds {','.join(map(str, opts.seeds))}: {line or 'no labels to score'}", flush=True)
    result = {
        "protocol": {"method": route, "pipeline": RECOMMENDED["text"] if opts.pipeline == "recommended" else None,
                     "dataset": dataset_name, "run": opts.run, "seeds": list(opts.seeds),
                     "splits": list(splits), "fit_split": "train", "fit_images": len(fit_idx), "bn": opts.bn,
                     "refine": {"keep": opts.refine, "steps": opts.refine_steps} if opts.refine else None,
                     "recipe": None if opts.run or baseline else RECIPES[route],
                     "acc": "Eq. 12: Hungarian one-to-one matching of clusters to classes (scipy)",
                     "nmi": "Eq. 13: I(y; c) / sqrt(H(y) H(c)) (scikit-learn, average_method='geometric'); "
                            "nmi_arithmetic: scikit-learn's default normalisation (H(y) + H(c)) / 2",
                     "ari": "scikit-learn adjusted_rand_score",
                     "std": "sample standard deviation over seeds (ddof 1); best = the best seed by the labels, "
                            "reported beside the mean, never instead of it",
                     "selected_seed": f"chosen without labels: {selection}",
                     "self_train": {"images": len(x_stage) if x_stage is not None else None,
                                    "options": _stage_options(),
                                    "over_cluster": _over_options(opts),
                                    "recluster": _recluster_options(opts)} if opts.self_train else None},
        "summary": summarize(per_seed), "selected_seed": selected,
        "summary_before_refine": summarize({s: records[str(s)]["before_refine"] for s in opts.seeds})
        if opts.refine else None,
        "summary_before_self_train": summarize({s: records[str(s)]["before_self_train"] for s in opts.seeds})
        if opts.self_train else None,
        "selected": per_seed[selected], "seeds": records,
        "consensus": combined,
        "agreement_between_seeds": {sp: seed_agreement(h) for sp, h in hard_by_seed.items()} if len(opts.seeds) > 1
        else None,
    }
    if opts.export:
        suffix = "-consensus" if combined is not None else (f"-seed{selected}" if len(opts.seeds) > 1 else "")
        src = "all" if "all" in splits else next(iter(splits))
        result["export"] = export_clusters(out / f"clusters-{src}{suffix}.csv", Path(str(opts.data_dir or
                                           data_cfg.data_dir)), Path(opts.export), opts.export_mode, splits[src])
    atomic_write_text(out / "cluster.json", json.dumps(result, indent=1) + "\n")
    result["out"] = str(out)
    return result


def _check_over_cluster(opts: ClusterOptions) -> None:
    from gmgan.selftrain import MERGES

    if not isinstance(opts.over_cluster, int) or opts.over_cluster < 0 or opts.over_cluster == 1:
        raise ConfigError(f"--over-cluster takes a factor F >= 2 (the stage first runs at F x K clusters), or 0 for "
                          f"off. Got {opts.over_cluster!r}.")
    if opts.recluster and not opts.self_train:
        raise ConfigError("--recluster is a step of the self-training stage: add --self-train.")
    if opts.over_cluster and not opts.self_train:
        raise ConfigError("--over-cluster is an option of the self-training stage: add --self-train.")
    if opts.over_cluster_pick and not opts.over_cluster:
        raise ConfigError("--over-cluster-pick chooses between the plain and the over-clustered stage: add "
                          "--over-cluster F (and --self-train).")
    if opts.merge not in MERGES:
        raise ConfigError(f"--merge must be one of {MERGES}. Got {opts.merge!r} instead.")


def _over_options(opts: ClusterOptions) -> dict[str, Any] | None:
    from dataclasses import asdict

    from gmgan.selftrain import OverClusterOptions

    if not opts.over_cluster:
        return None
    return {**asdict(OverClusterOptions(factor=opts.over_cluster, merge=opts.merge)),
            "pick_against_plain_stage": opts.over_cluster_pick}


def _recluster_options(opts: ClusterOptions) -> dict[str, Any] | None:
    from dataclasses import asdict

    from gmgan.selftrain import ReclusterOptions

    return asdict(ReclusterOptions()) if opts.recluster else None


def _stage_options() -> dict[str, Any]:
    from dataclasses import asdict

    from gmgan.selftrain import SelfTrainOptions

    return asdict(SelfTrainOptions())


def self_train_stage(c: Clustering, x: Tensor, seed: int, opts: ClusterOptions, state: Any = None,
                     init: Tensor | None = None, scored: Any = None) -> Clustering:
    """Ours: the label-free self-training stage (:mod:`gmgan.selftrain`) started from clustering ``c``'s soft
    assignments of the real images ``x``; its network assigns afterwards. When the stage's guard rejects even
    its first round, ``c`` is kept (and said so in the info). ``state`` (a :class:`StageState`) keeps the
    stage's network after each step, so an interrupted run resumes after the last finished step. ``scored``: a
    labelled split (not the training images) whose scores each round's history records, for reading only: no
    decision of the stage reads them."""
    from gmgan.selftrain import (
        OverClusterOptions,
        ReclusterOptions,
        final_criterion,
        self_train,
        self_train_over,
        self_train_recluster,
    )

    ev: dict[str, Any] = {"x_eval": scored.x, "y_eval": scored.y} if scored is not None else {}
    # the last finished step: the re-clustered network when it was kept, else the stage's
    done = state.load("recluster", x) if state is not None and opts.recluster else None
    result = done if done is not None else state.load("stage", x) if state is not None else None
    if result is None:
        init = c.assign(x) if init is None else init
        if opts.over_cluster:
            result = self_train_over(x, init, c.K, OverClusterOptions(factor=opts.over_cluster, merge=opts.merge),
                                     seed=seed, device=opts.device, progress=opts.progress, **ev)
            if opts.over_cluster_pick:  # the plain stage from the same start too; the higher criterion is kept
                plain = self_train(x, init, c.K, seed=seed, device=opts.device, progress=opts.progress, **ev)
                crit = {name: final_criterion(r) if r.model is not None else None
                        for name, r in (("over_cluster", result), ("plain", plain))}
                kept = "plain" if (crit["plain"] or -1.0) > (crit["over_cluster"] or -1.0) else "over_cluster"
                pick = {"criterion": crit, "kept": kept, "over_cluster_seconds": result.info["seconds"],
                        "plain_seconds": plain.info["seconds"]}
                if kept == "plain":
                    plain.info["over_cluster_not_kept"] = result.info.get("over_cluster")
                    result = plain
                result.info["pick"] = pick
                result.info["seconds"] = round(pick["over_cluster_seconds"] + pick["plain_seconds"], 1)
        else:
            result = self_train(x, init, c.K, seed=seed, device=opts.device, progress=opts.progress, **ev)
        if state is not None:
            state.save("stage", result)
    elif opts.progress:
        print(f"seed {seed}: the self-training stage{' and re-clustering' if done is not None else ''} "
              f"finished before: resumed from {state.folder}", flush=True)
    if opts.recluster and done is None:
        result = self_train_recluster(x, result, c.K, ReclusterOptions(), seed=seed, device=opts.device,
                                      progress=opts.progress, **ev)
        if state is not None:
            state.save("recluster", result)
    info = {**c.info, "self_train": {**result.info, "history": result.history,
                                      "criterion": final_criterion(result)}}
    if result.model is None:
        info["self_train"]["kept"] = "the route's assignment (the guard rejected the first round)"
        return Clustering(c.K, c.assign_fn, info, network=c.network)
    return Clustering(c.K, result.assign, info, network=result.model)


def stage_key(opts: ClusterOptions, x: Tensor, init: Tensor, seed: int) -> dict[str, Any]:
    """What the stage's result depends on: the images (a hash of their bytes), the start (a hash of the route's
    hard assignments), the seed and every stage option; names the folder a seed's stage state is kept in."""
    import hashlib

    def digest(t: Tensor) -> str:
        return hashlib.sha256(t.contiguous().cpu().numpy().tobytes()).hexdigest()[:16]

    return {"images": digest(x.float()), "image_shape": list(x.shape[1:]), "n": len(x),
            "init": digest(init.argmax(1)), "K": int(init.shape[1]), "seed": seed, "stage": _stage_options(),
            "over_cluster": _over_options(opts), "recluster": _recluster_options(opts)}


class StageState:
    """The self-training stage's finished steps for one seed, in ``folder`` (safetensors + JSON, never pickle):
    an interrupted ``gmgan cluster`` resumes after the last finished step. ``key`` (the data and every option
    that changes the result) is written beside them; a folder holding another key is never read or overwritten
    (the caller names folders by the key's hash)."""

    def __init__(self, folder: Any, key: dict[str, Any]) -> None:
        import json
        from pathlib import Path

        from gmgan.checkpoint import atomic_write_text

        self.folder = Path(folder)
        self.key = json.loads(json.dumps(key, default=str))
        self.folder.mkdir(parents=True, exist_ok=True)
        key_file = self.folder / "key.json"
        if key_file.is_file():
            try:
                saved = json.loads(key_file.read_text())
            except ValueError:
                saved = None
            if saved != self.key:
                raise ConfigError(f"{self.folder} holds the state of another clustering (key.json differs). Move it "
                                  "away, or choose another --out.")
        else:
            atomic_write_text(key_file, json.dumps(self.key, indent=1) + "\n")

    @staticmethod
    def name(key: dict[str, Any]) -> str:
        import hashlib
        import json

        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]

    def save(self, step: str, result: Any) -> None:
        import json

        from gmgan.assigner import save_assigner
        from gmgan.checkpoint import atomic_write_text

        info = {"info": result.info, "history": result.history, "has_model": result.model is not None}
        if result.model is not None:
            save_assigner(self.folder, step, result.model, tuple(self.key["image_shape"]), {"step": step})
        atomic_write_text(self.folder / f"{step}.json", json.dumps(info, default=str) + "\n")

    def load(self, step: str, x: Tensor) -> Any:
        """The SelfTrainResult of a finished step (its soft assignments of x recomputed), or None."""
        import json

        from gmgan.assigner import load_assigner
        from gmgan.errors import CheckpointError
        from gmgan.selftrain import SelfTrainResult

        path = self.folder / f"{step}.json"
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text())
            model = load_assigner(self.folder, step)[0] if d["has_model"] else None
        except (ValueError, KeyError, CheckpointError) as exc:
            print(f"note: {path} is unreadable ({exc}); that step runs again", flush=True)
            return None
        soft = predict(model, x, d["info"].get("eval_batch", 256)) if model is not None else torch.empty(0)
        return SelfTrainResult(soft, model, d["history"], d["info"])


def _stage_lines(c: Clustering) -> list[str]:
    st = c.info.get("self_train", {})
    lines = []
    oc = st.get("over_cluster") or st.get("over_cluster_not_kept")
    if st.get("pick"):
        pk = st["pick"]
        lines.append(f"kept the {pk['kept'].replace('_', '-')} stage by its criterion ({pk['criterion']})")
    if oc:
        lines.append(f"over-clustering: {oc.get('fine_rounds')} rounds at K_over = {oc.get('K_over')} (stopped: "
                     f"{oc.get('fine_stop_reason')}), merged by {oc.get('merge')}, {oc.get('fine_seconds', 0):.0f} s")
    before = st.get("stage_before_recluster")
    if before:
        lines.append(f"self-training: {before.get('rounds')} rounds (kept round {before.get('chosen_round')}), "
                     f"stopped: {before.get('stop_reason')}, {before.get('seconds', 0):.0f} s")
    rc = st.get("recluster")
    if rc:
        crit = " -> ".join(f"{q['criterion_after']}{'' if q['kept'] else ' (not kept)'}" for q in rc.get("rounds", []))
        lines.append(f"re-clustering: {rc.get('kept_rounds')} of {len(rc.get('rounds', []))} rounds kept (criterion "
                     f"{crit or 'n/a'}), {rc.get('seconds', 0):.0f} s")
    final = "the network's last training" if before else "self-training"
    return [*lines, f"{final}: {st.get('rounds')} rounds (kept round {st.get('chosen_round')}), stopped: "
            f"{st.get('stop_reason')}, criterion {st.get('criterion')}, {st.get('seconds', 0):.0f} s in all"]


EXPORT_MODES = ("link", "copy")
EXPORT_MARK = ".gmgan-export"


def _csv_keys(data: Any) -> tuple[list[str], list[list[Any]]]:
    """The key columns of a clusters CSV: the file (relative to the data folder) for an image folder, else the
    index in the split."""
    if data.names is not None:
        return ["file"], [[n] for n in data.names]
    return ["index"], [[i] for i in range(len(data))]


def diagnostics(soft: Tensor) -> dict[str, Any]:
    """Label-free facts about one clustering of n images: cluster sizes, mean confidence (largest soft score)
    per cluster and overall, and the entropy of the cluster sizes relative to its maximum log K (1 = equal
    sizes)."""
    conf, hard = soft.max(1)
    K = soft.shape[1]
    sizes = torch.bincount(hard, minlength=K)
    per = [float(conf[hard == k].mean()) if sizes[k] else None for k in range(K)]
    p = sizes.double() / max(1, int(sizes.sum()))
    ent = float(-(p[p > 0] * p[p > 0].log()).sum() / np.log(K)) if K > 1 else 1.0
    return {"sizes": sizes.tolist(), "mean_confidence": float(conf.double().mean()),
            "mean_confidence_per_cluster": per, "size_entropy": ent, "empty_clusters": int((sizes == 0).sum())}


def seed_agreement(hards: list[Tensor]) -> dict[str, Any]:
    """How alike the seeds' clusterings of the same images are, without labels: ARI and NMI between every pair
    of seeds (1 = the same partition up to renaming), and their means."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pairs = []
    for i in range(len(hards)):
        for j in range(i + 1, len(hards)):
            a, b = hards[i].numpy(), hards[j].numpy()
            pairs.append({"seeds": [i, j], "ari": float(adjusted_rand_score(a, b)),
                          "nmi": float(normalized_mutual_info_score(a, b, average_method="geometric"))})
    return {"pairs": pairs, "mean_ari": float(np.mean([p["ari"] for p in pairs])) if pairs else None,
            "mean_nmi": float(np.mean([p["nmi"] for p in pairs])) if pairs else None}


def check_export_target(target: Any) -> None:
    """Refuse an export folder that holds anything but an earlier export (which is replaced): a user's files are
    never overwritten or deleted."""
    from pathlib import Path

    target = Path(target)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / EXPORT_MARK).is_file())):
        raise ConfigError(f"--export {target} exists and is not an earlier gmgan export; give a new or empty folder "
                          "(gmgan never writes into or deletes a folder of yours).")


def export_clusters(csv_path: Any, data_dir: Any, target: Any, mode: str, data: Any) -> dict[str, Any]:
    """One folder per cluster (``cluster-00`` ...) under ``target`` holding its members, as symbolic links to the
    original files (``mode="link"``) or copies; names keep the file's path inside the data folder with "/" as
    "__". Written to a temporary folder and renamed into place; an earlier export there is replaced."""
    import csv
    import os
    import shutil
    from pathlib import Path

    from gmgan.checkpoint import write_dir_atomically

    target, data_dir = Path(target), Path(data_dir).resolve()
    check_export_target(target)
    if data.names is None:
        raise ConfigError("--export writes the members of each cluster as files; it needs an image folder "
                          "(--data-dir FOLDER), and these data are arrays. Use the clusters CSV instead.")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        rows = [(r["file"], int(r["cluster"])) for r in reader]
        K = sum(1 for name in reader.fieldnames or [] if name[:1] == "p" and name[1:].isdigit())
    counts = [0] * K

    def write(tmp: Path) -> None:
        (tmp / EXPORT_MARK).write_text(f"clusters of {data_dir}, from {csv_path}\n")
        for k in range(K):
            (tmp / f"cluster-{k:02d}").mkdir()
        for name, k in rows:
            src = data_dir / name
            dst = tmp / f"cluster-{k:02d}" / name.replace(os.sep, "__").replace("/", "__")
            if mode == "link":
                os.symlink(src, dst)
            else:
                shutil.copy2(src, dst)
            counts[k] += 1

    write_dir_atomically(target, write)
    print(f"exported {len(rows)} files into {K} folders under {target} ({'links' if mode == 'link' else 'copies'})",
          flush=True)
    return {"folder": str(target), "mode": mode, "from": str(csv_path), "sizes": counts}


def write_soft_csv(path: Any, header: list[str], keys: list[list[Any]], hard: Tensor, soft: Tensor,
                   digits: int, confidence: bool = False) -> None:
    """One row per item: its key columns, its hard assignment, its confidence (the largest soft score; when
    ``confidence``), then p0..pK-1; written atomically."""
    import csv
    import io

    from gmgan.checkpoint import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*header, *[f"p{k}" for k in range(soft.shape[1])]])
    for key, k, row in zip(keys, hard.tolist(), soft.tolist(), strict=True):
        extra = [f"{row[k]:.{digits}f}"] if confidence else []
        w.writerow([*key, k, *extra, *[f"{v:.{digits}f}" for v in row]])
    atomic_write_text(path, buf.getvalue())
