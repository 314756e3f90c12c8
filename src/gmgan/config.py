"""Typed run configuration: one dataclass per concern, YAML in and out, validated with clear messages.

A run directory holds its ``config.yaml``; every later command rebuilds the model from it. Presets are
named partial configs for the papers' experiments (``gmgan train --preset mnist``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from gmgan.errors import ConfigError
from gmgan.losses import LOSSES, MEASURES
from gmgan.nets import IMAGE_SIZES
from gmgan.priors import COVARIANCES, SIGMA_READINGS

DATASETS = ("toy-grid3", "toy-grid5", "digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "stl10", "folder")
METHODS = ("gan", "gmgan", "acgan", "responsibility")
SUPERVISION = ("none", "binary", "k+1")


@dataclass
class DataConfig:
    name: str = "digits"  # one of DATASETS; digits ship with scikit-learn (the offline default)
    data_dir: str | None = None  # folder with the IDX files (mnist, fashion-mnist); None = not needed
    split: str = "train"  # "train" or "test" (IDX datasets and digits)
    n_samples: int = 5000  # toy grids: training points (GM-GAN Section 4.1 uses 5,000)
    image_size: int | None = None  # resize (shorter side, centre crop) to this size; None = native (folder: 64)
    channels: int | None = None  # 1 (grayscale) or 3 (RGB); None = the dataset's own
    classes: str | None = None  # keep only these classes, e.g. "3,5,8" (relabelled 0..n-1 in that order)
    imbalance: str | None = None  # training-set class counts, e.g. "dominant=1,others=1000" (see data.py)


@dataclass
class PriorConfig:
    latent_dim: int = 100  # d (GM-GAN Section 4 default)
    K: int = 10  # components of the mixture (method gmgan only)
    c: float = 0.1  # means mu_k ~ U[-c, c]^d (Section 4 default)
    sigma: float = 0.15  # initial spread of each component (Section 4 default); see sigma_is
    # how sigma is read: std = the standard deviation (A_k = sigma I, the reading under which the papers' c and
    # sigma make components recoverable from z); variance = Sigma_k = sigma I literally (see gmgan.priors)
    sigma_is: str = "std"
    # shape of A_k: isotropic | diagonal | full; auto = full for a dynamic prior (the A_k of papers/001 Section 2
    # and the full covariance of papers/002), isotropic for a static one (the same sigma I, cheaper); a saved
    # config.yaml always holds the resolved value
    covariance: str = "auto"
    learnable: bool = False  # False = static GM-GAN, True = dynamic GM-GAN


@dataclass
class SupervisionConfig:
    # how labels enter a gmgan run (acgan always uses them; gan never):
    #   none   = unsupervised;
    #   binary = GM-GAN's supervised variant, N binary discriminators (papers/001 Section 2);
    #   k+1    = the report's softmax discriminator over N real classes and one fake class (papers/004 2.2.4)
    mode: str = "none"
    mapping: str | None = None  # components -> classes, e.g. "0,0,1,1" or "0+1,2+3" (see supervision.py)
    class_weight: float = 1.0  # acgan: weight of the auxiliary classifier's loss


@dataclass
class EncoderConfig:
    # GAEL (papers/000, Section 3): an encoder head on D's trunk, trained on generated images to recover z
    enabled: bool = False
    weight: float = 10.0  # lambda of Eq. 4
    per_dimension: bool = True  # divide Eq. 2 by the latent dimension, so lambda means the same at any d
    learn_variance: bool = True  # Sigma(x) learned (diagonal), or fixed to I
    own_blocks: int = 0  # the trunk's last blocks the encoder gets its own copy of; 0 = shares the whole trunk


@dataclass
class ResponsibilityConfig:
    # GMM responsibility learning (papers/002; method "responsibility"): the posterior consistency module C
    encoding: str = "shared"  # shared = a softmax head on D's trunk; separate = a copy of D's trunk of its own
    measure: str = "mi"  # how C's outputs are compared (Eq. 4-5): mi (the paper's) | kl | js
    weight_xz: float = 1.0  # weight of L_xz (Eq. 4): C(G(z)) against the prior's p(k | z)
    weight_xx: float = 1.0  # weight of L_xx (Eq. 5): C on the real batch against C on the generated batch
    xz_to_generator: bool = False  # let L_xz train G too (InfoGAN-like); Algorithm 1 trains C and the prior with it


@dataclass
class InfoConfig:
    # ours, not in the papers: InfoGAN's mutual-information term with the mixture component as the code. A head
    # on D's trunk reads k back from G(z); D and G minimise weight * CE(head(G(z)), k). 0 = off (the papers).
    weight: float = 0.0


@dataclass
class ModelConfig:
    arch: str = "dcgan"  # dcgan (square images) | mlp (vectors, the toy grids)
    width: int = 64  # dcgan: channels of the first D conv / last G conv; mlp: hidden units
    depth: int = 3  # mlp only: hidden layers in G and D
    # normalisation in D: batch | layer | spectral (spectral norm of every weight, no BatchNorm) | none;
    # auto = batch for ns, layer for wgan-gp
    d_norm: str = "auto"


@dataclass
class TrainConfig:
    loss: str = "ns"  # ns (non-saturating, GM-GAN Eq. 2-3) | wgan-gp
    steps: int = 5000  # generator updates; each follows n_critic discriminator updates
    b_D: int = 64  # real (and fake) samples per discriminator step (Algorithm 1)
    b_G: int = 128  # fake samples per generator step (Algorithm 1)
    lr: float = 2e-4  # gamma, Adam's learning rate for G, D and the learnable prior
    beta1: float = 0.5  # Adam beta1 (DCGAN)
    beta2: float = 0.999  # wgan-gp: lr 1e-4, beta2 0.9 unless set (LOSS_DEFAULTS)
    n_critic: int = 1  # discriminator steps per generator step (wgan-gp: 5, see LOSS_DEFAULTS)
    gp_weight: float = 10.0  # lambda of the WGAN-GP gradient penalty
    seed: int = 0
    device: str = "auto"  # auto = cuda when available, else cpu
    # fp32 | bf16 | fp16 (CUDA) | auto: autocast of the networks' forward passes (gmgan.precision); the run's
    # config records the precision that ran (auto resolved)
    precision: str = "fp32"
    threads: int = 0  # CPU threads of this process (torch.set_num_threads); 0 = torch's default
    # exponential moving average of G's weights, decay per generator step (e.g. 0.999); 0 = off. Sampling,
    # evaluation and clustering read the average when a run has one
    ema: float = 0.0
    log_every: int = 50  # steps between metrics.jsonl / TensorBoard records
    sample_every: int = 500  # steps between sample grids; 0 = only at the end
    checkpoint_every: int = 1000  # steps between checkpoints; one is always written at the end
    keep_checkpoints: int = 2  # older checkpoints are deleted once a newer one is safely on disk
    mlflow: str | None = None  # also log to MLflow at this tracking URI (e.g. file:./mlruns); needs gmgan[mlflow]

    def epochs(self, step: int, n_train: int) -> float:
        """Passes over n_train real samples after ``step`` generator steps: each step's n_critic discriminator
        updates read b_D real samples each (so a WGAN-GP step reads 5 batches)."""
        return step * self.n_critic * self.b_D / n_train


@dataclass
class RunConfig:
    # gan = N(0, I) baseline; gmgan = Gaussian-mixture prior; acgan = AC-GAN baseline;
    # responsibility = GM-GAN with a posterior consistency module (papers/002)
    method: str = "gmgan"
    data: DataConfig = field(default_factory=DataConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    responsibility: ResponsibilityConfig = field(default_factory=ResponsibilityConfig)
    info: InfoConfig = field(default_factory=InfoConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def supervised(self) -> bool:
        """True when training reads class labels."""
        return self.method == "acgan" or self.supervision.mode != "none"

    @property
    def d_norm(self) -> str:
        if self.model.d_norm != "auto":
            return self.model.d_norm
        return "layer" if self.train.loss == "wgan-gp" else "batch"


PRESETS: dict[str, dict[str, Any]] = {
    # Toy grids: the paper's d=100, c=0.1, sigma=0.15 give 2-D points too little latent structure to
    # separate modes in a few thousand MLP steps; d=8, c=1, sigma=0.1 (a standard deviation) puts the K means
    # apart (typical distance 2.3 vs std 0.1), which is what lets a static GM-GAN give each mode its own component.
    # GM-GAN Section 4.1: 3x3 grid, means {-1,0,1}^2, covariance 0.1 I, 5,000 points, K = 9.
    "toy-grid3": {
        "data": {"name": "toy-grid3"},
        "prior": {"latent_dim": 8, "K": 9, "c": 1.0, "sigma": 0.1},
        "model": {"arch": "mlp", "width": 128, "depth": 3},
        "train": {"steps": 10000, "b_D": 256, "b_G": 256, "lr": 5e-4, "sample_every": 1000},
    },
    # The 5x5 grid of GAEL's toy example and the usual 2-D benchmark: means {-4..4 step 2}^2, std 0.05.
    "toy-grid5": {
        "data": {"name": "toy-grid5"},
        "prior": {"latent_dim": 8, "K": 25, "c": 1.0, "sigma": 0.1},
        "model": {"arch": "mlp", "width": 128, "depth": 3},
        "train": {"steps": 10000, "b_D": 256, "b_G": 256, "lr": 5e-4, "sample_every": 1000},
    },
    # The demo: scikit-learn's 8x8 digits, about 1 minute on 2 CPU cores, at the paper's c = 0.1, sigma = 0.15
    # (sigma a standard deviation). Under the literal reading (sigma a variance) this budget needed c = 0.3:
    # at 0.1 G ignored the component (every row of the grid showed the same digits) and at 0.5 each component
    # was one image (recall 0.06, FID 122); c = 0.3 then had the ratio c / std of the paper's values read as
    # a standard deviation, 0.78 against 0.67 now (docs/RESULTS.md).
    "digits": {
        "data": {"name": "digits"},
        "prior": {"K": 10},
        "model": {"arch": "dcgan", "width": 64},
        "train": {"steps": 5000, "sample_every": 1000, "checkpoint_every": 1000},
    },
    # The paper's MNIST setting (Section 4): d=100, c=0.1, sigma=0.15, b_D=64, b_G=128, lr=2e-4, K=10.
    "mnist": {
        "data": {"name": "mnist"},
        "prior": {"latent_dim": 100, "K": 10, "c": 0.1, "sigma": 0.15},
        "model": {"arch": "dcgan", "width": 64},
        "train": {"steps": 10000, "sample_every": 1000, "checkpoint_every": 1000},
    },
}
PRESETS["fashion-mnist"] = {**PRESETS["mnist"], "data": {"name": "fashion-mnist"}}
# Clustering (ours): the paper's MNIST settings plus the component head (info.weight, InfoGAN-style), which
# keeps each component recoverable from G's images; `gmgan cluster --method head` reads it on real images.
# Nothing in it is specific to MNIST: the same settings serve any 28x28 grayscale set (set data.name).
PRESETS["mnist-cluster"] = {**PRESETS["mnist"], "info": {"weight": 1.0}}

# What each dataset name reads, for the message when a preset or data.name disagrees with --data-dir
DATA_READS = {
    "mnist": "MNIST-format IDX files", "fashion-mnist": "MNIST-format IDX files",
    "cifar10": "the CIFAR-10 python batches", "cifar100": "the CIFAR-100 python batches",
    "stl10": "the STL-10 binaries", "folder": "a folder of images",
    "digits": "scikit-learn's digits (shipped with scikit-learn; it reads no folder)",
    "toy-grid3": "generated 2-D points (no folder)", "toy-grid5": "generated 2-D points (no folder)",
}


def data_from_dir(update: dict[str, Any], preset: str | None) -> tuple[dict[str, Any], list[str]]:
    """Fill in what ``--data-dir`` says about the data: ``data.name`` from its files, and for a folder of images
    ``data.channels`` and ``data.image_size`` (:func:`gmgan.datasets.default_image_size`) unless set. Returns
    the completed update and a line per choice made, for the user. A preset or ``data.name`` that names other
    data than the folder holds is refused, naming both: the folder is never silently replaced.
    """
    raw = update.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    data_dir = data.get("data_dir")
    if not data_dir:
        return update, []
    from gmgan.datasets import default_image_size, detect

    source = detect(data_dir)
    explicit = data.get("name")
    preset_name = PRESETS[preset]["data"]["name"] if preset in PRESETS else None
    chosen = explicit or preset_name
    if chosen is not None and chosen not in source.names:
        reads = DATA_READS.get(chosen, repr(chosen))
        if explicit:
            fix = (f"Leave out data.name / --dataset (gmgan reads it from the folder: {source.name}), or pass "
                   f"--data-dir with {reads}.")
            who = f"--dataset {chosen}"
        else:
            fix = (f"Leave out --preset {preset} (the folder's own settings are then used), or pass --data-dir with "
                   f"{reads}.")
            who = f"--preset {preset}"
        raise ConfigError(f"{who} trains on {reads}, but --data-dir {data_dir} holds {source.describe()}. {fix}")
    filled: dict[str, Any] = {"name": chosen or source.name}
    notes = []
    if source.kind == "folder":
        channels = data.get("channels") or source.channels
        size, why = (data["image_size"], "data.image_size") if data.get("image_size") else \
            default_image_size(source.native_size or 64, IMAGE_SIZES)
        filled.update({"channels": channels, "image_size": size})
        notes.append(f"data: {data_dir} holds {source.describe()}; training at {size} px ({why}), "
                     f"{channels} channel{'s' if channels != 1 else ''} (set data.image_size / data.channels to "
                     "change)")
    elif not explicit and not preset_name:
        notes.append(f"data: {data_dir} holds {source.describe()} (data.name {source.name})")
    return {**update, "data": {**data, **filled}}, notes


# Optimiser settings that come with a loss, applied after the preset and before the user's own settings:
# WGAN-GP's critic needs several updates per generator update and a short Adam memory (Gulrajani et al. 2017,
# their MNIST code: 5 critic steps, lr 1e-4, betas 0.5 / 0.9; every WGAN-GP run in docs/RESULTS.md used these).
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "wgan-gp": {"train": {"n_critic": 5, "lr": 1e-4, "beta1": 0.5, "beta2": 0.9}},
}


def _check_type(path: str, value: Any, annotation: str) -> Any:
    """Coerce YAML scalars to the annotated type or raise a ConfigError naming the key."""
    optional = annotation.endswith("| None")
    base = annotation.replace("| None", "").strip()
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{path} needs a value ({base}), not empty.")
    if base == "bool":
        if isinstance(value, bool):
            return value
    elif base == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():  # --set train.steps=1e5
            return int(value)
    elif base == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif base == "str":
        if isinstance(value, str):
            return value
    article = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(base, base)
    raise ConfigError(f"{path} must be {article}{' or null' if optional else ''}. Got {value!r} instead.")


def _merge(obj: Any, updates: dict[str, Any], prefix: str = "") -> None:
    known = {f.name: f for f in fields(obj)}
    for key, value in updates.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str):
            raise ConfigError(f"Config keys are option names; got {key!r} in {prefix.rstrip('.') or 'the top level'}.")
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            did_you_mean = f" Did you mean '{prefix}{hint[0]}'?" if hint else ""
            raise ConfigError(f"Unknown config key {path!r}.{did_you_mean} Known keys here: {sorted(known)}.")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{path} must be a mapping of options. Got {value!r} instead.")
            _merge(current, value, prefix=f"{path}.")
        else:
            setattr(obj, key, _check_type(path, value, str(known[key].type)))


def make_config(
    preset: str | None = None, *updates: dict[str, Any], validate: bool = True
) -> RunConfig:
    """A RunConfig from defaults, then a preset, then the chosen loss's optimiser settings
    (:data:`LOSS_DEFAULTS`), then each mapping of updates in order.

    Example:
        >>> make_config("mnist", {"train": {"steps": 10}}).train.steps
        10
    """
    cfg = RunConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"Unknown preset {preset!r}. Choose one of {sorted(PRESETS)}.")
        _merge(cfg, PRESETS[preset])
    loss = cfg.train.loss
    for update in updates:  # the loss the updates ask for picks the optimiser settings below them
        train = update.get("train")
        if isinstance(train, dict) and isinstance(train.get("loss"), str):
            loss = train["loss"]
    if loss in LOSS_DEFAULTS:
        _merge(cfg, LOSS_DEFAULTS[loss])
    for update in updates:
        _merge(cfg, update)
    if cfg.prior.covariance == "auto":
        cfg.prior.covariance = "full" if cfg.prior.learnable else "isotropic"
    if validate:
        validate_config(cfg)
    return cfg


_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def parse_assignment(text: str) -> dict[str, Any]:
    """'train.lr=1e-4' -> {'train': {'lr': 0.0001}} (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE such as train.lr=1e-4. Got {text!r} instead.")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-4 and 1e8 as strings
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def upgrade_saved(data: dict[str, Any]) -> dict[str, Any]:
    """A run's saved config.yaml as today's options mean it: runs saved before ``prior.sigma_is`` existed
    were trained with sigma read as a variance, so they keep that reading; runs saved before
    ``train.precision`` existed were trained in fp32."""
    prior = data.get("prior")
    if isinstance(prior, dict) and "sigma" in prior and "sigma_is" not in prior:
        data = {**data, "prior": {**prior, "sigma_is": "variance"}}
    train = data.get("train")
    if isinstance(train, dict) and "steps" in train and "precision" not in train:
        data = {**data, "train": {**train, "precision": "fp32"}}  # runs saved before train.precision: fp32
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Check the path.")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} is not valid YAML ({exc}). Fix or regenerate it.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of options, not {type(data).__name__}.")
    return data


def save_yaml(cfg: RunConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    return make_config(None, data)


def diff_configs(a: RunConfig, b: RunConfig, prefix: str = "") -> list[str]:
    """'key: a -> b' for every option that differs."""
    out = []
    for f in fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(va):
            out += diff_configs(va, vb, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        elif va != vb:
            out.append(f"{prefix}{f.name}: {va!r} -> {vb!r}")
    return out


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate_config(cfg: RunConfig) -> None:
    """Refuse impossible values with a message naming the option, the allowed values and the value."""
    d, p, m, t = cfg.data, cfg.prior, cfg.model, cfg.train
    _require(cfg.method in METHODS, f"method must be one of {METHODS}. Got {cfg.method!r} instead.")
    _require(d.name in DATASETS, f"data.name must be one of {DATASETS}. Got {d.name!r} instead.")
    _require(d.split in ("train", "test") or (d.split == "unlabeled" and d.name == "stl10"),
             f"data.split must be 'train' or 'test' ('unlabeled' for stl10). Got {d.split!r} instead.")
    _require(d.channels in (None, 1, 3), f"data.channels must be 1, 3 or null. Got {d.channels!r} instead.")
    _require(d.n_samples >= 1, f"data.n_samples must be >= 1. Got {d.n_samples} instead.")
    _require(
        d.image_size is None or d.image_size in IMAGE_SIZES,
        f"data.image_size must be one of {IMAGE_SIZES} or null. Got {d.image_size!r} instead.",
    )
    _require(p.latent_dim >= 1, f"prior.latent_dim must be >= 1. Got {p.latent_dim} instead.")
    _require(p.K >= 1, f"prior.K must be >= 1. Got {p.K} instead.")
    _require(p.sigma > 0, f"prior.sigma must be > 0 (the spread of each component). Got {p.sigma} instead.")
    _require(p.sigma_is in SIGMA_READINGS,
             f"prior.sigma_is must be one of {SIGMA_READINGS}. Got {p.sigma_is!r} instead.")
    _require(p.c >= 0, f"prior.c must be >= 0. Got {p.c} instead.")
    _require(p.covariance in COVARIANCES,
             f"prior.covariance must be auto or one of {COVARIANCES}. Got {p.covariance!r} instead.")
    _require(m.arch in ("dcgan", "mlp"), f"model.arch must be 'dcgan' or 'mlp'. Got {m.arch!r} instead.")
    _require(m.width >= 1 and m.depth >= 1, f"model.width and model.depth must be >= 1. Got {m.width}, {m.depth}.")
    _require(
        m.d_norm in ("auto", "batch", "layer", "spectral", "none"),
        f"model.d_norm must be auto, batch, layer, spectral or none. Got {m.d_norm!r} instead.",
    )
    sv = cfg.supervision
    _require(sv.mode in SUPERVISION, f"supervision.mode must be one of {SUPERVISION}. Got {sv.mode!r} instead.")
    _require(
        cfg.method != "acgan" or sv.mode == "none",
        "method 'acgan' has its own supervision (an auxiliary classifier head); leave supervision.mode 'none'.",
    )
    _require(
        sv.mode == "none" or cfg.method == "gmgan",
        f"supervision.mode {sv.mode!r} needs method 'gmgan': it ties mixture components to classes. For a "
        "supervised baseline with a standard-normal prior use method 'acgan'.",
    )
    _require(
        sv.mapping is None or sv.mode != "none",
        "supervision.mapping ties components to classes, which only a supervised run uses. Set "
        "supervision.mode to 'binary' or 'k+1' (--supervised), or drop the mapping.",
    )
    _require(sv.class_weight >= 0, f"supervision.class_weight must be >= 0. Got {sv.class_weight} instead.")
    _require(
        not (sv.mode == "k+1" and cfg.train.loss == "wgan-gp"),
        "supervision.mode 'k+1' cannot use train.loss 'wgan-gp': the K+1 discriminator is a softmax over real "
        "classes and a fake class, a probability, while a Wasserstein critic outputs an unbounded score. Use "
        "train.loss 'ns', or supervision.mode 'binary' / method 'acgan' with 'wgan-gp'.",
    )
    rc = cfg.responsibility
    if cfg.method == "responsibility":
        _require(rc.encoding in ("shared", "separate"),
                 f"responsibility.encoding must be 'shared' or 'separate'. Got {rc.encoding!r} instead.")
        _require(rc.measure in MEASURES, f"responsibility.measure must be one of {MEASURES}. Got {rc.measure!r}.")
        _require(rc.weight_xz >= 0 and rc.weight_xx >= 0,
                 f"responsibility.weight_xz and weight_xx must be >= 0. Got {rc.weight_xz}, {rc.weight_xx}.")
        _require(p.learnable, "method 'responsibility' learns the mixture's means and covariances end to end "
                 "(papers/002, Section II-D): set prior.learnable true (--dynamic; gmgan train sets it for you).")
        _require(cfg.train.loss == "ns", "method 'responsibility' weighs the non-saturating loss of papers/002 "
                 "Eq. 6 by C's responsibilities; use train.loss 'ns'.")
        _require(p.K >= 2, f"method 'responsibility' needs a mixture of K >= 2 components. Got K = {p.K}.")
    _require(
        not p.learnable or cfg.method in ("gmgan", "responsibility"),
        f"prior.learnable (--dynamic) learns a mixture's means and covariances; method {cfg.method!r} samples "
        "z from N(0, I). Use --method gmgan --dynamic, or drop --dynamic.",
    )
    _require(cfg.info.weight >= 0, f"info.weight must be >= 0. Got {cfg.info.weight} instead.")
    _require(
        cfg.info.weight == 0 or (cfg.method == "gmgan" and sv.mode == "none" and p.K >= 2),
        "info.weight (the component head) reads the mixture component of an unsupervised GM-GAN back from its "
        "images: use it with method 'gmgan', no supervision and K >= 2, or set info.weight 0.",
    )
    e = cfg.encoder
    _require(e.weight >= 0, f"encoder.weight must be >= 0. Got {e.weight} instead.")
    _require(e.own_blocks >= 0, f"encoder.own_blocks must be >= 0. Got {e.own_blocks} instead.")
    toy = d.name.startswith("toy")
    _require(
        toy == (m.arch == "mlp"),
        f"data.name {d.name!r} needs model.arch {'mlp' if toy else 'dcgan'}. Got {m.arch!r} instead.",
    )
    _require(t.loss in LOSSES, f"train.loss must be one of {LOSSES}. Got {t.loss!r} instead.")
    _require(
        not (t.loss == "wgan-gp" and cfg.d_norm == "batch"),
        "train.loss 'wgan-gp' cannot use model.d_norm 'batch': BatchNorm mixes samples and breaks the "
        "per-sample gradient penalty. Use model.d_norm 'layer' (or 'auto').",
    )
    for name in ("steps", "b_D", "b_G", "n_critic", "log_every", "keep_checkpoints"):
        _require(getattr(t, name) >= 1, f"train.{name} must be >= 1. Got {getattr(t, name)} instead.")
    for name in ("sample_every", "checkpoint_every"):
        _require(getattr(t, name) >= 0, f"train.{name} must be >= 0. Got {getattr(t, name)} instead.")
    _require(t.lr > 0, f"train.lr must be > 0. Got {t.lr} instead.")
    _require(t.threads >= 0, f"train.threads must be >= 0 (0 = torch's default). Got {t.threads} instead.")
    _require(0 <= t.ema < 1, f"train.ema (the decay of G's moving average) must be in [0, 1). Got {t.ema} instead.")
    _require(t.precision in ("fp32", "bf16", "fp16", "auto"),
             f"train.precision must be fp32, bf16, fp16 or auto. Got {t.precision!r} instead.")
    _require(0 <= t.beta1 < 1 and 0 <= t.beta2 < 1, f"train.beta1/beta2 must be in [0, 1). Got {t.beta1}, {t.beta2}.")
    _require(t.gp_weight >= 0, f"train.gp_weight must be >= 0. Got {t.gp_weight} instead.")
    _require(
        t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda"),
        f"train.device must be auto, cpu or cuda[:N]. Got {t.device!r} instead.",
    )
