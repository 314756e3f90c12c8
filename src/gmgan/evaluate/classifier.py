"""The domain classifier: a small CNN trained on the run's own training set (GM-GAN Section 3.2).

It supplies the features of FID/KID/precision/recall (Inception features are the wrong domain for 28 px
digits, and cannot be downloaded here), the layer of the quality score q, and the class predictions of
the Inception Score, the inter-class diversity and the class histograms. Labels are used only here, for
evaluation; no unsupervised method sees them.

Trained classifiers are cached per dataset in ``$GMGAN_CACHE`` (default ``~/.cache/gmgan``) under
``classifiers/<dataset>-<C>x<S>-<fingerprint>/``, where the fingerprint hashes the training images and
labels, so every run on the same data shares one classifier and a changed dataset gets a new one. Each
entry holds ``model.safetensors`` (weights), ``features.safetensors`` (the training set's features, for
nearest-neighbour lookups) and ``classifier.json`` (architecture, training protocol, test accuracy and
the quality constant). Entries are written to a temporary folder and renamed into place.

A trained classifier is a ruler, and two rulers disagree: the same recipe and seed on another thread count or
CPU gives other weights (on MNIST, 1 vs 2 threads: test accuracy 0.9920 vs 0.9922, log a 2.140 vs 2.144), and
every FID, precision or q moves with them. So gmgan ships *reference* classifiers (``reference/<cache key>/``:
``model.safetensors`` + ``classifier.json``, no training-set features) for the datasets its results are quoted
on. When a dataset's fingerprint matches one, its cache entry is built from those weights (features computed
here, seconds) instead of trained, and every user, session and machine scores in the same features as
docs/RESULTS.md. ``--retrain`` still trains one's own. Every entry records the SHA-256 of its weights
(``weights_sha256`` in each evaluation's protocol), which names the ruler a number was measured with.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from gmgan.checkpoint import write_dir_atomically
from gmgan.data import Dataset, content_hash
from gmgan.errors import CheckpointError, EvaluationError
from gmgan.paths import cache_root

FORMAT = "gmgan-classifier"
VERSION = 2  # of the architecture and training recipe; part of the cache key
REFERENCE_DIR = Path(__file__).parent / "reference"  # shipped classifiers, one folder per cache key


class DomainClassifier(nn.Module):
    """(conv-BN-ReLU) x2 and a max-pool, twice, then a 128-unit layer (the features) and N class logits.

    About 60k parameters: a few minutes on 2 CPU cores. Batch norm matters here: without it the plain
    ReLU stack trained about twice as slowly and stopped at 96.6% on MNIST within 1,500 steps.
    """

    def __init__(self, channels: int, num_classes: int, width: int = 32, feature_dim: int = 128) -> None:
        super().__init__()
        w = width

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.trunk = nn.Sequential(
            *block(channels, w // 2), *block(w // 2, w // 2), nn.MaxPool2d(2),
            *block(w // 2, w), *block(w, w), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(3), nn.Flatten(),
            nn.Linear(9 * w, feature_dim), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.width = width

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations (n, feature_dim): the layer l of the quality score."""
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))

    @torch.no_grad()
    def extract(self, x: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
        """(features, class probabilities) of x, in eval mode and in chunks, on the classifier's device."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        try:
            feats, probs = [], []
            for chunk in x.split(batch_size):
                f = self.features(chunk.to(device))
                feats.append(f.cpu())
                probs.append(self.head(f).softmax(dim=1).cpu())
            return torch.cat(feats), torch.cat(probs)
        finally:
            self.train(was_training)


def _portable(path: Path) -> str:
    """``path`` as results JSON should hold it: relative to ``$GMGAN_CACHE`` or the package, not this machine."""
    for root, name in ((cache_root(), "$GMGAN_CACHE"), (REFERENCE_DIR, "gmgan:evaluate/reference")):
        try:
            return f"{name}/{path.resolve().relative_to(root.resolve())}"
        except ValueError:
            continue
    return str(path)


def fingerprint(data: Dataset) -> str:
    """Short hash of a dataset's float images and labels (what the classifier was trained on)."""
    return content_hash(data.x.contiguous().numpy(), data.y)


def cache_dir_for(data: Dataset, root: Path | None = None, print_: str | None = None) -> Path:
    """The cache folder of ``data``'s classifier (``print_``: its fingerprint, if already computed)."""
    C, S = data.shape[0], data.shape[-1]
    return (root or cache_root()) / "classifiers" / f"{data.name}-{C}x{S}-v{VERSION}-{print_ or fingerprint(data)}"


class TrainedClassifier:
    """A loaded classifier with its cached training-set features and metadata."""

    def __init__(self, model: DomainClassifier, train_features: Tensor, info: dict[str, Any], path: Path) -> None:
        self.model = model
        self.train_features = train_features
        self.info = info
        self.path = path

    @property
    def log_a(self) -> float:
        return float(self.info["quality"]["log_a"])

    def extract(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.extract(x)

    def protocol(self) -> dict[str, Any]:
        return {"path": _portable(self.path), **{k: self.info[k] for k in ("dataset", "fingerprint", "architecture",
                                                                       "training", "test_accuracy", "quality")},
                "source": self.info.get("source", "trained here"), "weights_sha256": self.weights_sha256}

    @cached_property
    def weights_sha256(self) -> str:
        """SHA-256 of the weights file: which ruler a score was measured with."""
        return hashlib.sha256((self.path / "model.safetensors").read_bytes()).hexdigest()


def train_classifier(
    train: Dataset,
    test: Dataset,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    precision: str = "fp32",
) -> tuple[DomainClassifier, dict[str, Any]]:
    """Train a :class:`DomainClassifier` on ``train`` with Adam and report its accuracy on ``test``.

    ``precision`` (:mod:`gmgan.precision`) applies to the forward passes of training; the evaluation
    classifier itself is always trained in fp32 (the clustering route's classifier may use bf16). Even so, its
    weights depend on the thread count and CPU that trained it (see the module's note): a reference
    classifier, where one is shipped, is what makes scores comparable across machines.
    """
    from gmgan.precision import autocast
    if train.y is None or train.num_classes is None or train.num_classes < 2:
        raise EvaluationError(
            f"The dataset {train.name!r} has no class labels, so no evaluation classifier can be trained. "
            "Use a labelled dataset, or pass --inception-weights for FID/KID/precision/recall."
        )
    if not train.is_image:
        raise EvaluationError(f"The evaluation classifier is for images; {train.name!r} holds vectors.")
    torch.manual_seed(seed)
    model = DomainClassifier(train.shape[0], train.num_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    n = len(train)
    order = torch.randperm(n, generator=g)
    pos = 0
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=g), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        x, y = train.x[idx].to(device), train.y[idx].to(device)
        # small random shifts (up to 2 px at 28 px): cheap augmentation that keeps the classifier honest on
        # slightly off-centre generated digits
        shift = max(1, train.shape[-1] // 14)
        dx, dy = torch.randint(-shift, shift + 1, (2,), generator=g).tolist()
        x = torch.roll(x, (dy, dx), dims=(-2, -1))
        with autocast(precision, torch.device(device)):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress and (step + 1) % 100 == 0:
            print(f"classifier step {step + 1}/{steps} loss {loss.item():.4f}", flush=True)
    seconds = time.perf_counter() - start
    accuracy = accuracy_on(model, test)
    info = {
        "architecture": {"class": "DomainClassifier", "channels": train.shape[0], "num_classes": train.num_classes,
                         "width": 32, "feature_dim": model.feature_dim},
        "training": {"steps": steps, "batch_size": batch_size, "lr": lr, "optimizer": "Adam, cosine schedule",
                     "augmentation": f"random shifts up to {max(1, train.shape[-1] // 14)} px", "seed": seed,
                     "train_images": n, "seconds": round(seconds, 1)},
        "test_accuracy": accuracy,
        "test_images": len(test),
    }
    return model, info


@torch.no_grad()
def accuracy_on(model: DomainClassifier, data: Dataset) -> float:
    if data.y is None:
        raise EvaluationError(f"{data.name!r} has no labels to measure accuracy on.")
    _, probs = model.extract(data.x)
    return float((probs.argmax(dim=1) == data.y).double().mean())


def quality_constant(test_features: Tensor, train_features: Tensor) -> dict[str, float | str]:
    """The constant a of GM-GAN Eq. 6, which the paper leaves open: log a = the median distance from a held-out
    real image to its nearest training image, so real test images score q = 0.5 at the median. One value
    per dataset and classifier, so q is comparable across every run on that dataset."""
    from gmgan.evaluate.metrics import nearest_distances

    d = nearest_distances(test_features, train_features)
    return {"log_a": float(d.median()), "rule": "log a = median NN distance, test to train, in the feature layer",
            "test_nn_distance_mean": float(d.mean())}


def _write_entry(dest: Path, model: DomainClassifier, train_features: Tensor, info: dict[str, Any],
                 replace: bool = False) -> None:
    def write(tmp: Path) -> None:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(tmp / "model.safetensors"))
        save_file({"train_features": train_features.contiguous()}, str(tmp / "features.safetensors"))
        (tmp / "classifier.json").write_text(json.dumps(info, indent=1))

    # without ``replace`` (a retrain), another process that cached the same classifier first keeps its copy
    write_dir_atomically(dest, write, replace=replace)


def load_classifier(path: str | Path, device: str = "cpu", features: bool = True) -> TrainedClassifier:
    """Load a cached classifier folder (safetensors + JSON only); ``features=False`` for a reference folder,
    which has none (its train_features are then empty)."""
    path = Path(path)
    meta = path / "classifier.json"
    try:
        info = json.loads(meta.read_text())
        if info.get("format") != FORMAT:
            raise ValueError("not a gmgan classifier")
        arch = info["architecture"]
        model = DomainClassifier(arch["channels"], arch["num_classes"], arch["width"], arch["feature_dim"])
        model.load_state_dict(load_file(str(path / "model.safetensors")))
        feats = load_file(str(path / "features.safetensors"))["train_features"] if features else torch.empty(0)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        raise CheckpointError(
            f"The cached classifier in {path} is unreadable ({exc}). Delete that folder; it is retrained on the "
            "next evaluation."
        ) from exc
    return TrainedClassifier(model.to(device).eval(), feats, info, path)


def get_classifier(
    train: Dataset,
    test: Dataset,
    cache: Path | None = None,
    retrain: bool = False,
    steps: int = 1500,
    device: str = "cpu",
    progress: bool = False,
) -> TrainedClassifier:
    """The cached classifier of ``train``, training and caching it first if there is none."""
    data_print = fingerprint(train)  # hashes every training image: once per call
    dest = cache_dir_for(train, cache, data_print)
    if dest.is_dir() and not retrain:
        return load_classifier(dest, device)
    reference = REFERENCE_DIR / dest.name
    if reference.is_dir() and not retrain:
        return from_reference(reference, train, test, dest, device)
    # said even without a progress bar: this takes minutes on a CPU, once per dataset
    print(f"Training the evaluation classifier for {train.name} ({len(train)} images, {steps} steps; once, then "
          "cached)...", file=sys.stderr, flush=True)
    model, info = train_classifier(train, test, steps=steps, device=device, progress=progress)
    train_feats, _ = model.extract(train.x)
    test_feats, _ = model.extract(test.x)
    info = {"format": FORMAT, "version": VERSION, "dataset": train.name, "fingerprint": data_print,
            **info, "quality": quality_constant(test_feats, train_feats)}
    _write_entry(dest, model.cpu(), train_feats, info, replace=retrain)
    print(f"Evaluation classifier: test accuracy {info['test_accuracy']:.4f}, cached in {dest}", file=sys.stderr,
          flush=True)
    return load_classifier(dest, device)


def from_reference(reference: Path, train: Dataset, test: Dataset, dest: Path,
                   device: str = "cpu") -> TrainedClassifier:
    """Cache ``dest`` from a shipped reference classifier: its weights as they are, the training-set features,
    test accuracy and quality constant computed here from them (inference only, so they match the reference's
    own to float rounding)."""
    loaded = load_classifier(reference, device, features=False)
    model = loaded.model
    train_feats, _ = model.extract(train.x)
    test_feats, _ = model.extract(test.x)
    shipped = loaded.info
    info = {**shipped, "test_accuracy": accuracy_on(model, test), "test_images": len(test),
            "quality": quality_constant(test_feats, train_feats),
            "source": f"reference {reference.name} shipped with gmgan (as measured where it was made: test "
                      f"accuracy {shipped['test_accuracy']}, log a {shipped['quality']['log_a']:.6f})"}
    _write_entry(dest, model.cpu(), train_feats, info)
    print(f"Evaluation classifier: gmgan's reference for {train.name} (test accuracy {info['test_accuracy']:.4f}), "
          f"cached in {dest}", file=sys.stderr, flush=True)
    return load_classifier(dest, device)


def min_test_accuracy_warning(info: dict[str, Any], threshold: float = 0.9) -> str | None:
    acc = info.get("test_accuracy", math.nan)
    if acc < threshold:
        return (f"the evaluation classifier reaches only {acc:.1%} on the test split; its features and classes are "
                "a weak yardstick (retrain with more --classifier-steps)")
    return None
