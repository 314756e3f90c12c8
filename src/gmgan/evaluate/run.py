"""Evaluate a trained run: generate samples, extract features, compute every metric, record the protocol.

``Evaluator(run_dir)`` loads the run, its data and the evaluation classifier once; ``evaluate()`` returns the
full report written to ``RUN/evaluation.json``; ``sweep(scales)`` the quality/diversity scores over sigma
scales (GM-GAN Section 4.3) written to a CSV and a plot.

Images are scored in the domain classifier's features (see :mod:`gmgan.evaluate.classifier`); with
``inception_weights`` FID/KID/precision/recall are also computed in Inception-v3 features. Toy 2-D runs are
scored in raw coordinates, with the true mixture as their classifier (each point's class is its most likely
grid mode) and the toy-grid metrics added; MS-SSIM, and so d_intra, d and s, do not apply to points.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gmgan import __version__
from gmgan.checkpoint import atomic_write_text
from gmgan.data import Dataset, load_from_config
from gmgan.errors import EvaluationError
from gmgan.evaluate import metrics as M
from gmgan.evaluate.classifier import TrainedClassifier, get_classifier, min_test_accuracy_warning, quality_constant
from gmgan.evaluate.msssim import intra_class_diversity, within_class_diversity
from gmgan.evaluate.toy import toy_metrics
from gmgan.nets import generate
from gmgan.priors import GaussianMixture


@dataclass
class EvalOptions:
    n: int | None = None  # generated samples; None = 10,000, or LABEL_FREE_N on unlabelled data (Inception, slow)
    seed: int = 0  # of the latents, the KID subsets and the MS-SSIM pairs
    scale: float = 1.0  # covariance scale of the prior (sigma of Section 4.3)
    pairs: int | None = 10_000  # MS-SSIM pairs for d_intra; None = all n(n-1)/2
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    is_splits: int = 10
    k: int = 3  # neighbours of precision/recall
    k_dc: int = 5  # neighbours of density/coverage
    real_baseline: bool = True  # also score real training images the same way, as a yardstick
    inception_weights: str | None = None
    classifier_steps: int = 1500
    retrain_classifier: bool = False
    cache: str | None = None
    data_dir: str | None = None  # override the run's data folder
    device: str = "cpu"
    prior: str = "trained"  # "trained" (the run's own prior) or "fitted" (gmgan fit-prior's mixture)
    step: int | None = None  # a kept checkpoint's step instead of the latest
    extra: dict[str, Any] = field(default_factory=dict)


class _ToyClassifier:
    """The true mixture of a toy grid as the 'classifier': features are the coordinates, the class of a point
    is its most likely mode."""

    def __init__(self, data: Dataset, test: Dataset) -> None:
        assert data.grid is not None
        self.grid = data.grid
        self.train_features = data.x
        self.info = {"dataset": data.name, "architecture": "identity (2-D coordinates)",
                     "classes": "most likely mode of the true mixture",
                     "quality": quality_constant(test.x, data.x)}

    @property
    def log_a(self) -> float:
        return float(self.info["quality"]["log_a"])  # type: ignore[index]

    def extract(self, x: Tensor) -> tuple[Tensor, Tensor]:
        d2 = torch.cdist(x.float(), self.grid.means).pow(2)
        return x.float(), torch.softmax(-d2 / (2 * self.grid.std**2), dim=1)

    def protocol(self) -> dict[str, Any]:
        return dict(self.info)


class _InceptionRuler:
    """Inception-v3 pool3 features as the only ruler, for data without labels: no domain classifier can be trained,
    so there are no class probabilities (no Inception Score: the FID weights have no logits layer) and no q."""

    def __init__(self, weights: str, device: str) -> None:
        from gmgan.evaluate.inception import InceptionFeatures

        self.weights = weights
        self.net = InceptionFeatures(weights).to(device)
        self.device = device
        self.info = {"architecture": "Inception-v3 pool3 (2048-d), FID weights", "weights": str(weights),
                     "preprocessing": "bilinear resize to 299, [-1, 1]; grayscale repeated to RGB"}

    def extract(self, x: Tensor) -> tuple[Tensor, None]:
        return torch.cat([self.net(c.to(self.device)).cpu() for c in x.split(50)]), None

    def protocol(self) -> dict[str, Any]:
        return dict(self.info)


FEATURE_SPACES = {"classifier": "domain classifier (a CNN trained on the run's labelled training set)",
                  "inception": "Inception-v3 pool3 (2048-d, the FID weights)",
                  "points": "2-D coordinates (toy data)"}
LABEL_FREE_N = 1000  # samples scored by default when the data have no labels: Inception on a CPU is ~0.1 s each


def label_free_skips() -> list[dict[str, str]]:
    """What a run on unlabelled data cannot be scored on, and why (printed and written to evaluation.json)."""
    return [
        {"score": "q, d_inter, d, s", "why": "GM-GAN's quality and inter-class diversity read a classifier trained "
                                                 "on the data's labels; the data have none"},
        {"score": "class accuracy, component purity, class histogram",
         "why": "they count classes; the data have no labels"},
        {"score": "is", "why": "the Inception Score needs class logits; the FID Inception weights have no logits "
                               "layer"},
    ]


class Evaluator:
    """Everything needed to score samples of one run, loaded once.

    The ruler: on labelled images, a domain classifier trained on the run's own training set (GM-GAN Section
    3.2), with Inception-v3 features added when weights are given; on unlabelled images, Inception-v3 features
    alone (the installed weights, or ``inception_weights``), and the scores that need labels are skipped
    (:func:`label_free_skips`); on toy points, the coordinates and the true mixture.
    """

    def __init__(self, run_dir: str | Path, opts: EvalOptions | None = None, progress: bool = True) -> None:
        from gmgan.checkpoint import checkpoint_at

        started = time.perf_counter()
        self.run_dir = Path(run_dir)
        self.opts = opts or EvalOptions()
        self.progress = progress
        self._load(checkpoint_at(run_dir, self.opts.step) if self.opts.step is not None else None)
        self.fitted_summary: dict[str, Any] | None = None
        if self.opts.prior == "fitted":
            from gmgan.latent import load_fitted_prior

            fitted, self.fitted_summary = load_fitted_prior(run_dir)
            if self.fitted_summary.get("step") not in (None, self.step):
                raise EvaluationError(
                    f"The fitted mixture of {run_dir} was fitted to the codes of step {self.fitted_summary['step']}, "
                    f"not of step {self.step}. Evaluate that step (--step {self.fitted_summary['step']}) or fit "
                    f"again (gmgan fit-prior {run_dir}).")
            self.method.prior = fitted.to(self.opts.device)
        elif self.opts.prior != "trained":
            raise EvaluationError(f"--prior must be 'trained' or 'fitted'. Got {self.opts.prior!r} instead.")
        d = self.cfg.data
        data_dir = self.opts.data_dir or d.data_dir
        ref_split = "test" if d.split == "train" else "train"
        seed = self.cfg.train.seed
        # the training set as the run saw it (class subset and imbalance applied) ...
        self.train = load_from_config(d, seed, data_dir=data_dir)
        # ... but the classifier and the reference set keep every kept class at its natural frequency, so an
        # imbalanced run is judged against the balanced distribution and shares the dataset's cached classifier
        balanced = load_from_config(d, seed, imbalance=False, data_dir=data_dir) if d.imbalance else self.train
        self.reference = load_from_config(d, seed, split=ref_split, imbalance=False, data_dir=data_dir)
        if len(self.reference) <= max(self.opts.k, self.opts.k_dc):
            raise EvaluationError(
                f"the reference set (the {ref_split} split: {len(self.reference)} images) is too small for the "
                f"nearest-neighbour scores (k = {max(self.opts.k, self.opts.k_dc)}); an image folder keeps 10% of its "
                f"files for it, so it needs at least {10 * (max(self.opts.k, self.opts.k_dc) + 1)} images.")
        self.classifier: TrainedClassifier | _ToyClassifier | _InceptionRuler
        self.labelled = self.train.y is not None or self.train.grid is not None
        self.skipped: list[dict[str, str]] = [] if self.labelled else label_free_skips()
        if self.opts.n is None:
            self.opts.n = 10_000 if self.labelled else LABEL_FREE_N
        if self.train.grid is not None:
            self.classifier = _ToyClassifier(self.train, self.reference)
            self.feature_space = "points"
        elif not self.labelled:
            self.feature_space = "inception"
            self.classifier = _InceptionRuler(self._label_free_weights(), self.opts.device)
        else:
            self.feature_space = "classifier"
            self.classifier = get_classifier(
                balanced, self.reference, Path(self.opts.cache) if self.opts.cache else None,
                retrain=self.opts.retrain_classifier, steps=self.opts.classifier_steps, device=self.opts.device,
                progress=progress)
        self.num_classes = self.train.num_classes or 1
        self.ref_features = self.classifier.extract(self.reference.x)[0]
        self.inception = None
        if self.opts.inception_weights and self.labelled:
            if not self.train.is_image:
                raise EvaluationError("--inception-weights applies to images; this run's data are 2-D points.")
            from gmgan.evaluate.inception import InceptionFeatures

            self.inception = InceptionFeatures(self.opts.inception_weights).to(self.opts.device)
            self._inception_ref: Tensor | None = None
        self.setup_seconds = time.perf_counter() - started  # data, and the classifier when it had to be trained

    def _label_free_weights(self) -> str:
        """The Inception weights for unlabelled data: those given, else the installed ones, else one clear error
        (before anything is written)."""
        if self.opts.inception_weights:
            return str(self.opts.inception_weights)
        from gmgan.evaluate.inception import installed_weights

        path = installed_weights()
        if not path.is_file():
            raise EvaluationError(
                f"{self.cfg.data.data_dir or self.cfg.data.name} has no class labels, so its scores are computed in "
                "Inception-v3 features, which are not installed: run `gmgan inception install` once (it needs the "
                "package index), or pass --inception-weights FILE. Nothing was written.")
        return str(path)

    def _load(self, checkpoint: str | Path | None) -> None:
        """The run's config, method and step from one checkpoint folder (None: the latest)."""
        from gmgan.train import load_trained

        self.cfg, self.method, self.step = load_trained(self.run_dir, self.opts.device, checkpoint=checkpoint)

    def use_checkpoint(self, path: str | Path) -> int:
        """Score another of the run's checkpoints from now on (data and classifier stay loaded); its step."""
        if self.opts.prior == "fitted":
            raise EvaluationError("A fitted mixture belongs to one step; switch checkpoints with the trained prior.")
        self._load(path)
        return self.step

    # ------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def samples(self, n: int, scale: float, seed: int) -> tuple[Tensor, Tensor]:
        prior = self.method.prior
        g = torch.Generator(device=prior.device).manual_seed(seed)
        z, k = prior.sample(n, scale=scale, generator=g)
        return generate(self.method.G, z).cpu(), k.cpu()

    def _inception_features(self, x: Tensor) -> Tensor:
        assert self.inception is not None
        return torch.cat([self.inception(c.to(self.opts.device)).cpu() for c in x.split(50)])

    def score(self, x: Tensor, components: Tensor | None, full: bool = True, seed: int = 0,
              scale: float = 1.0) -> dict[str, Any]:
        """All metrics of the samples x (and of their mixture components, when given; ``scale``: the covariance
        scale they were drawn at, for the class-accuracy ceiling)."""
        o = self.opts
        feats, probs = self.classifier.extract(x)
        out: dict[str, Any] = {"n": int(x.shape[0]), "feature_space": self.feature_space}
        if probs is None:  # no labels: Inception features only
            return self._score_label_free(x, feats, full, seed)
        classes = probs.argmax(dim=1)
        out["fid"] = M.fid(self.ref_features, feats)
        assert not isinstance(self.classifier, _InceptionRuler)  # it has no class probabilities (handled above)
        nn = M.nearest_distances(feats, self.classifier.train_features)
        out["q"] = float(M.quality_scores(nn, self.classifier.log_a).double().mean())
        if self.num_classes > 1:
            out["d_inter"] = M.inter_class_diversity(classes, self.num_classes)
        if self.train.is_image:
            intra = intra_class_diversity(x, pairs=o.pairs, seed=seed)
            out["d_intra"] = intra["d_intra"]
            out["ms_ssim_pairs"] = intra["ms_ssim"]["pairs"]
            if self.num_classes > 1:
                out["d_within_class"] = within_class_diversity(x, classes, pairs=o.pairs, seed=seed)["mean"]
            if "d_inter" in out:
                out["d"] = M.diversity(out["d_intra"], out["d_inter"])
                out["s"] = M.combined_score(out["q"], out["d"])
        out.update({k: v for k, v in M.prdc(self.ref_features, feats, o.k, o.k_dc).items() if k not in ("k", "k_dc")})
        if self.num_classes > 1:  # cheap: the sweep reports them over sigma too (GM-GAN Fig. 2 plots the IS)
            is_ = M.inception_score(probs, o.is_splits)
            out["is"], out["is_std"] = is_["mean"], is_["std"]
            if components is not None and self.method.mapping is not None:
                # a class-conditional run: does it make what is asked?
                table = self.method.mapping.table
                out["class_accuracy"] = M.requested_class_accuracy(components, classes, table)
                out["class_accuracy_ceiling"] = M.class_accuracy_ceiling(self.method.prior, table, scale, seed=seed)
        if not full:
            return out
        kid = M.kid(self.ref_features, feats, o.kid_subsets, o.kid_subset_size, seed=seed)
        out["kid"], out["kid_std"] = kid["mean"], kid["std"]
        out["kid_subset_size"] = kid["subset_size"]
        if self.num_classes > 1:
            out["class_histogram"] = M.class_histogram(classes, self.num_classes).long().tolist()
            if components is not None:
                K = self.method.prior.K
                out["component_purity"] = M.component_purity(components, classes, K, self.num_classes)
        if self.train.grid is not None:
            out["toy"] = toy_metrics(x, self.train.grid)
        if self.inception is not None:
            if self._inception_ref is None:
                self._inception_ref = self._inception_features(self.reference.x)
            fi = self._inception_features(x)
            ki = M.kid(self._inception_ref, fi, o.kid_subsets, o.kid_subset_size, seed=seed)
            out["inception"] = {"fid": M.fid(self._inception_ref, fi), "kid": ki["mean"], "kid_std": ki["std"],
                                **M.prdc(self._inception_ref, fi, o.k, o.k_dc)}
        return out

    def _score_label_free(self, x: Tensor, feats: Tensor, full: bool, seed: int) -> dict[str, Any]:
        """FID, precision/recall, density/coverage (and KID, d_intra when ``full``) in Inception features."""
        o = self.opts
        out: dict[str, Any] = {"n": int(x.shape[0]), "feature_space": self.feature_space,
                               "fid": M.fid(self.ref_features, feats)}
        out.update({k: v for k, v in M.prdc(self.ref_features, feats, o.k, o.k_dc).items() if k not in ("k", "k_dc")})
        if self.train.is_image:
            intra = intra_class_diversity(x, pairs=o.pairs, seed=seed)  # MS-SSIM between samples: no labels needed
            out["d_intra"], out["ms_ssim_pairs"] = intra["d_intra"], intra["ms_ssim"]["pairs"]
        if full:
            kid = M.kid(self.ref_features, feats, o.kid_subsets, o.kid_subset_size, seed=seed)
            out["kid"], out["kid_std"], out["kid_subset_size"] = kid["mean"], kid["std"], kid["subset_size"]
        return out

    @torch.no_grad()
    def prior_component_accuracy(self, n: int = 10_000) -> float | None:
        """How often the most responsible component of z ~ prior (at the evaluated scale) is the one z was drawn
        from: the ceiling on any accuracy that depends on G telling components apart (1.0 for well-separated
        components; :func:`metrics.class_accuracy_ceiling` with one class per component)."""
        prior = self.method.prior
        if prior.K == 1:
            return None
        one_each = torch.eye(prior.K, dtype=torch.bool)
        return M.class_accuracy_ceiling(prior, one_each, self.opts.scale, n=n, seed=self.opts.seed)

    def protocol(self) -> dict[str, Any]:
        o = self.opts
        p: dict[str, Any] = {
            "gmgan_version": __version__,
            "run": str(self.run_dir), "step": self.step,
            "method": self.cfg.method, "prior": type(self.method.prior).__name__,
            "prior_source": self.opts.prior, **({"fitted_prior": self.fitted_summary} if self.fitted_summary else {}),
            "K": self.method.prior.K,
            "prior_component_accuracy": self.prior_component_accuracy(),
            **({"prior_spread": M.prior_spread(self.method.prior)} if isinstance(self.method.prior, GaussianMixture)
               else {}),
            **({"posterior_outputs": self.method.output_usage(seed=self.opts.seed)}  # type: ignore[operator]
               if hasattr(self.method, "output_usage") else {}),
            "generated": {"n": o.n, "seed": o.seed, "scale": o.scale},
            "feature_space": FEATURE_SPACES[self.feature_space],
            "labelled": self.labelled,
            "reference": {"dataset": self.reference.name, "n": len(self.reference),
                          "split": "test" if self.cfg.data.split == "train" else "train",
                          "used_for": "FID, KID, precision/recall, density/coverage"},
            "quality_nn_set": {"split": self.cfg.data.split, "n": len(self.train)},
            "extractor": self.classifier.protocol(),
            "kid": {"subsets": o.kid_subsets, "subset_size": min(o.kid_subset_size, o.n or 0, len(self.reference)),
                    "kernel": "(x.y / f + 1)^3"},
            "inception_score": {"splits": o.is_splits, "classifier": "the domain classifier"},
            "precision_recall": {"k": o.k, "method": "Kynkaenniemi et al. 2019"},
            "density_coverage": {"k": o.k_dc, "method": "Naeem et al. 2020"},
        }
        if self.labelled:
            p["q"] = {"eq": "GM-GAN Eq. 6-7", "log_a": self.classifier.log_a,  # type: ignore[union-attr]
                      "real_row": "q of the real row is that of the held-out reference images"}
        else:
            p["skipped"] = self.skipped
            del p["inception_score"]
        if self.train.is_image:
            from gmgan.evaluate.msssim import msssim_settings

            p["d_intra"] = {"eq": "GM-GAN Eq. 8 over distinct pairs", "pairs": "all" if o.pairs is None else o.pairs,
                            "ms_ssim": msssim_settings(self.train.shape[-1]).as_dict()}
            p["d_within_class"] = {"eq": "1 - mean MS-SSIM over same-class pairs (by the classifier), mean over "
                                         "classes; the pair budget split evenly across classes"}
        if self.inception is not None:
            p["inception"] = {"weights": str(o.inception_weights), "preprocessing": "bilinear resize to 299, [-1, 1]"}
        return p

    # ------------------------------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, Any]:
        o = self.opts
        start = time.perf_counter()
        assert o.n is not None  # resolved in __init__
        x, k = self.samples(o.n, o.scale, o.seed)
        generated = self.score(x, k, seed=o.seed, scale=o.scale)
        result: dict[str, Any] = {"protocol": self.protocol(), "generated": generated}
        if o.real_baseline:
            g = torch.Generator().manual_seed(o.seed)
            idx = torch.randperm(len(self.train), generator=g)[: o.n]
            real = self.score(self.train.x[idx], None, seed=o.seed)
            if self.labelled:
                # training images are their own nearest neighbours (q = 1): score q on held-out images instead
                ref_nn = M.nearest_distances(self.ref_features, self.classifier.train_features)  # type: ignore[union-attr]
                real["q"] = float(M.quality_scores(ref_nn, self.classifier.log_a).double().mean())  # type: ignore[union-attr]
                if "d" in real:
                    real["s"] = M.combined_score(real["q"], real["d"])
            result["real_train_images"] = real
        if self.skipped:
            result["skipped"] = self.skipped
        warning = min_test_accuracy_warning(self.classifier.info) if hasattr(self.classifier, "model") else None
        if warning:
            result["warnings"] = [warning]
        result["seconds"] = round(time.perf_counter() - start, 1)
        result["seconds_setup"] = round(self.setup_seconds, 1)
        return result

    def sweep(self, scales: list[float], n: int | None = None) -> list[dict[str, Any]]:
        """The SWEEP_COLUMNS metrics (q, diversities, FID, precision, recall, coverage, Inception Score, class
        accuracy) at each covariance scale, with the same latents' seed. ``n``: samples per scale (None: 5,000,
        or LABEL_FREE_N // 2 on unlabelled data)."""
        n = n or (5000 if self.labelled else LABEL_FREE_N // 2)
        rows = []
        for s in scales:
            x, k = self.samples(n, s, self.opts.seed)
            m = self.score(x, k, full=False, seed=self.opts.seed, scale=s)
            ca = m.get("class_accuracy")
            m["class_accuracy"] = ca["accuracy"] if ca else None
            rows.append({"run": str(self.run_dir), "step": self.step, "scale": s,
                         **{key: m.get(key) for key in SWEEP_COLUMNS}})
            if self.progress:
                print(f"  {self.run_dir.name} scale {s:g}: " + "  ".join(
                    f"{key} {m[key]:.4f}" for key in ("q", "d", "s", "fid", "precision", "recall")
                    if m.get(key) is not None), flush=True)
        return rows


SWEEP_COLUMNS = ("q", "d_intra", "d_within_class", "d_inter", "d", "s", "fid", "precision", "recall", "coverage",
                 "is", "class_accuracy", "class_accuracy_ceiling")


def evaluate_run(run_dir: str | Path, opts: EvalOptions | None = None, progress: bool = True,
                 path: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a run and write ``RUN/evaluation.json`` (see :func:`evaluation_file`), or ``path`` when given
    (atomically; an older file is replaced only then)."""
    if path is not None and Path(path).is_dir():
        raise EvaluationError(f"--json {path} is a folder; give a file name, e.g. {Path(path) / 'evaluation.json'}.")
    result = Evaluator(run_dir, opts, progress).evaluate()
    target = Path(path) if path is not None else Path(run_dir) / evaluation_file(opts)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, json.dumps(result, indent=1))
    return result


def evaluation_file(opts: EvalOptions | None) -> str:
    """evaluation.json for the run's own prior at its latest step, evaluation-fitted.json for the fitted one,
    evaluation-step1000.json (or -fitted-step1000) for a kept checkpoint's step: kept side by side."""
    name = "evaluation-fitted" if opts is not None and opts.prior == "fitted" else "evaluation"
    if opts is not None and opts.step is not None:
        name += f"-step{opts.step}"
    return name + ".json"


def parse_scales(text: str) -> list[float]:
    """'0.5:2.0:0.1' (start:stop:step, stop included) or '0.5,1,2'.

    Example:
        >>> parse_scales("0.5:1.0:0.25"), parse_scales("0.5, 2")
        ([0.5, 0.75, 1.0], [0.5, 2.0])
    """
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = math.floor((stop - start) / step + 1e-9) + 1
            scales = [round(start + i * step, 10) for i in range(count)]
        else:
            scales = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EvaluationError(f"--scales {text!r} is not START:STOP:STEP (e.g. 0.5:2.0:0.1) or a list like 0.5,1,2.") \
            from None
    if not scales or any(s <= 0 for s in scales):
        raise EvaluationError(f"--scales must be positive numbers; got {text!r}.")
    return scales


def record_extractor(extractors: dict[str, dict[str, Any]], ev: Evaluator) -> None:
    """Add the classifier ``ev`` scores in to ``extractors``, keyed by its weights' hash: the ruler(s) of a set of
    numbers, one entry per distinct classifier."""
    p = ev.classifier.protocol()
    extractors.setdefault(p.get("weights_sha256", "toy"), p)


def sweep_runs(runs: list[str | Path], scales: list[float], out: Path, opts: EvalOptions | None = None,
               n: int | None = None, progress: bool = True,
               groups: dict[str, list[str]] | None = None) -> dict[str, Path]:
    """Sweep each run over ``scales``; write ``out/sweep.csv``, ``out/sweep.json`` and ``out/sweep.png``.

    ``runs`` are drawn one line each. ``groups`` maps a model's label to its runs (seeds of one model): the plot
    draws each group's mean with a band of one standard error, and ``sweep-summary.csv`` holds mean, sample
    std and standard error per group and scale.
    """
    groups = dict(groups or {})
    rows: list[dict[str, Any]] = []
    extractors: dict[str, dict[str, Any]] = {}
    entries: list[tuple[str, Sequence[str | Path]]] = [*((str(Path(r).name), [r]) for r in runs), *groups.items()]
    for label, members in entries:
        for run in members:
            ev = Evaluator(run, opts, progress)
            rows += [{"model": label, **row} for row in ev.sweep(scales, n)]
            record_extractor(extractors, ev)
    protocol = {"runs": [str(r) for r in runs], "groups": {k: [str(r) for r in v] for k, v in groups.items()},
                "scales": scales, "n": n,
                "options": {k: v for k, v in asdict(opts or EvalOptions()).items() if k != "extra"},
                "extractors": list(extractors.values())}  # the ruler(s): one, unless runs are on different data
    return write_sweep(rows, protocol, out)


def write_sweep(rows: list[dict[str, Any]], protocol: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write a sweep's rows to ``out``: sweep.csv, sweep.json and sweep.png, and with groups in the protocol
    sweep-summary.csv (the plot then draws each group's mean and standard error). Returns the paths written."""
    from gmgan.viz import save_quality_diversity

    summary = summarise_sweep(rows) if protocol.get("groups") else []
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "sweep.csv"}
    _write_csv(paths["csv"], rows, ["model", "run", "step", "scale", *SWEEP_COLUMNS])
    if summary:
        paths["summary"] = out / "sweep-summary.csv"
        _write_csv(paths["summary"], summary, list(dict.fromkeys(k for r in summary for k in r)))
    paths["png"] = save_quality_diversity(rows, out / "sweep.png", summary=summary or None)
    paths["json"] = out / "sweep.json"
    atomic_write_text(paths["json"], json.dumps({"protocol": protocol, "rows": rows, "summary": summary}, indent=1))
    return paths


def summarise_sweep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and scale: the number of runs, and each SWEEP_COLUMNS metric's mean, sample std and standard
    error (std / sqrt(runs); None with one run).

    Example:
        >>> rows = [{"model": "m", "scale": 1.0, "q": q} for q in (0.1, 0.3)]
        >>> s = summarise_sweep(rows)[0]
        >>> s["runs"], round(s["q_mean"], 3), round(s["q_se"], 3)
        (2, 0.2, 0.1)
    """
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        for scale in sorted({r["scale"] for r in rows if r["model"] == model}):
            mine = [r for r in rows if r["model"] == model and r["scale"] == scale]
            row: dict[str, Any] = {"model": model, "scale": scale, "runs": len(mine)}
            for key in SWEEP_COLUMNS:
                values = [float(r[key]) for r in mine if r.get(key) is not None]
                if not values:
                    continue
                std = statistics.stdev(values) if len(values) > 1 else None
                row[f"{key}_mean"], row[f"{key}_std"] = statistics.fmean(values), std
                row[f"{key}_se"] = std / math.sqrt(len(values)) if std is not None else None
            out.append(row)
    return out


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


TABLE_ROWS = [
    ("fid", "FID"), ("kid", "KID"), ("is", "Inception Score (domain classifier)"),
    ("precision", "precision (k=3)"), ("recall", "recall (k=3)"), ("density", "density (k=5)"),
    ("coverage", "coverage (k=5)"), ("q", "quality q (Eq. 7)"), ("d_intra", "d_intra (Eq. 8)"),
    ("d_within_class", "d_intra within classes (ours)"),
    ("d_inter", "d_inter (Eq. 9)"), ("d", "diversity d (Eq. 10)"), ("s", "combined s (Eq. 11)"),
]


def format_table(result: dict[str, Any]) -> str:
    gen, real = result["generated"], result.get("real_train_images", {})
    lines = [f"{'metric':38s} {'generated':>12s} {'real (train)':>13s}"]
    for key, label in TABLE_ROWS:
        if key not in gen:
            continue
        r = real.get(key)
        lines.append(f"{label:38s} {gen[key]:12.4f} {'' if r is None else format(r, '13.4f')}")
    if "toy" in gen:
        lines.append(f"{'toy: modes covered / high quality':38s} {gen['toy']['modes_covered']:>6d} / "
                     f"{gen['toy']['high_quality']:.3f}")
    if "class_histogram" in gen:
        lines.append(f"{'class histogram':38s} {gen['class_histogram']}")
    if "class_accuracy" in gen:
        ca = gen["class_accuracy"]
        per = " ".join("-" if a is None else f"{a:.2f}" for a in ca["per_component"])
        lines.append(f"{'requested class accuracy ' + format(ca['accuracy'], '.4f'):38s} {per}")
        if "class_accuracy_ceiling" in gen:
            lines.append(f"{'  ceiling from the prior (Bayes rule)':38s} {gen['class_accuracy_ceiling']:12.4f}")
    if "component_purity" in gen:
        cp = gen["component_purity"]
        purities = " ".join("-" if p is None else f"{p:.2f}" for p in cp["purity"])
        lines.append(f"{'component purity (mean ' + format(cp['mean'], '.3f') + ')':38s} {purities}")
        lines.append(f"{'component majority class':38s} {cp['majority_class']}")
    if "inception" in gen:
        i = gen["inception"]
        lines.append(f"{'Inception-v3: FID / KID / P / R':38s} {i['fid']:.3f} / {i['kid']:.5f} / "
                     f"{i['precision']:.3f} / {i['recall']:.3f}")
    for w in result.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines)
