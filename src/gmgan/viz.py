"""Figures written as PNG files: image grids with one row per mixture component, sigma sweeps, toy scatters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def image_grid(images: Tensor, nrow: int, pad: int = 1, upscale: int = 1) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (rows*H', cols*W', C) grid with ``nrow`` images per row."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    n, c, h, w = x.shape
    if upscale > 1:
        x = x.repeat_interleave(upscale, dim=2).repeat_interleave(upscale, dim=3)
        h, w = h * upscale, w * upscale
    rows = (n + nrow - 1) // nrow
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 255, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = x[i]
    return grid.permute(1, 2, 0).numpy()


def grid_upscale(side: int) -> int:
    """How much a grid enlarges images of ``side`` pixels (nearest neighbour): to at least 28 px per image."""
    return max(1, 28 // side)


def save_image_grid(images: Tensor, path: str | Path, nrow: int, upscale: int | None = None) -> Path:
    """Write a grid PNG; small images are enlarged (nearest neighbour) to at least 28 px per image."""
    if upscale is None:
        upscale = grid_upscale(images.shape[-1])
    grid = image_grid(images, nrow, upscale=upscale)
    mode = "L" if grid.shape[2] == 1 else "RGB"
    Image.fromarray(grid[:, :, 0] if mode == "L" else grid, mode=mode).save(path)
    return Path(path)


def _plt() -> Any:
    """matplotlib.pyplot with the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, dpi: int) -> Path:
    """Lay out, write and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _plt().close(fig)
    return Path(path)


def save_scatter_panels(
    panels: Sequence[tuple[str, Tensor, Tensor | None]],
    real: Tensor | None,
    path: str | Path,
    limits: float | None = None,
) -> Path:
    """Toy scatter plots side by side: each panel (title, points (n, 2), component index (n,) or None).

    Real points are drawn in black behind the generated ones, coloured by the component their latent came
    from (GM-GAN Fig. 3-4).
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.3), squeeze=False)
    for ax, (title, pts, comp) in zip(axes[0], panels, strict=True):
        if real is not None:
            ax.scatter(real[:, 0], real[:, 1], s=2, c="black", alpha=0.3, linewidths=0)
        pts = pts.detach().cpu()
        colors = None if comp is None else comp.cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c=colors, cmap="tab20" if colors is not None else None,
                   alpha=0.7, linewidths=0)
        ax.set_title(title, fontsize=9)
        if limits is not None:
            ax.set_xlim(-limits, limits)
            ax.set_ylim(-limits, limits)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
    return _save(fig, path, dpi=110)


def save_quality_diversity(rows: Sequence[dict], path: str | Path, summary: Sequence[dict] | None = None) -> Path:
    """The sigma sweep of GM-GAN Section 4.3 (Fig. 7): quality q and diversity d against the covariance scale
    (left), q against d with each point labelled by its scale (middle), and the Inception Score against the
    scale (right; Fig. 2's point), when the rows have one.

    ``rows``: dicts with keys run, scale, q and d (d_intra stands in for d where no classes exist), one line per
    run. ``summary`` (``summarise_sweep``'s rows: model, scale, <metric>_mean, <metric>_se): one line per model
    instead, its mean with a band of one standard error across the model's runs.
    """
    plt = _plt()
    if summary:
        series = _series(summary, "model", lambda r, k: r.get(f"{k}_mean"), lambda r, k: r.get(f"{k}_se"))
    else:
        series = _series(rows, "run", lambda r, k: r.get(k), lambda r, k: None)
    has_is = any(v is not None for s in series.values() for v in s["is"][0])
    q_name, d_name = next(iter(series.values()))["labels"] if series else ("q", "d")
    axis_names = {"q": "quality q (Eq. 7)", "d": "diversity d (Eq. 10)", "d_intra": "diversity d_intra (Eq. 8)",
                  "precision": "precision (quality, no labels)", "recall": "recall (diversity, no labels)"}
    fig, axes = plt.subplots(1, 3 if has_is else 2, figsize=(15 if has_is else 10, 4))
    left, right = axes[0], axes[1]
    for i, (name, s) in enumerate(series.items()):
        color = f"C{i}"
        scales, (q, q_se), (d, d_se) = s["scale"], s["q"], s["d"]
        _band(left, scales, q, q_se, color, "-o", f"{name}: {q_name}")
        if all(v is not None for v in d):
            _band(left, scales, d, d_se, color, "--s", f"{name}: {d_name}")
            right.plot(d, q, "-o", color=color, ms=3, label=name)
            if any(e is not None for e in q_se):
                right.errorbar(d, q, xerr=[e or 0 for e in d_se], yerr=[e or 0 for e in q_se], fmt="none",
                               ecolor=color, alpha=0.5, lw=0.8)
            for sc, x, y in zip(scales, d, q, strict=True):
                right.annotate(f"{sc:g}", (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        if has_is and all(v is not None for v in s["is"][0]):
            is_mean, is_se = s["is"]
            _band(axes[2], scales, is_mean, is_se, color, "-o", name)
    band = " (bands: one standard error over seeds)" if summary else ""
    left.set_xlabel("covariance scale sigma")
    left.set_ylabel("score")
    left.set_title("quality and diversity" + band, fontsize=9)
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    right.set_xlabel(axis_names.get(d_name, d_name))
    right.set_ylabel(axis_names.get(q_name, q_name))
    right.set_title("quality vs diversity (labels: sigma)", fontsize=9)
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    if has_is:
        axes[2].set_xlabel("covariance scale sigma")
        axes[2].set_ylabel("Inception Score (domain classifier)")
        axes[2].set_title("Inception Score over sigma" + band, fontsize=9)
        axes[2].legend(fontsize=7)
        axes[2].grid(alpha=0.3)
    return _save(fig, path, dpi=110)


def _series(rows: Sequence[dict], key: str, value, error) -> dict[str, dict]:
    """{name: {"scale": [...], metric: (values, errors)}} for q, d (or d_intra) and is, sorted by scale."""
    out = {}
    for name in dict.fromkeys(r[key] for r in rows):
        mine = sorted((r for r in rows if r[key] == name), key=lambda r: r["scale"])
        d_key = "d" if all(value(r, "d") is not None for r in mine) else "d_intra"
        q_key = "q"
        if not all(value(r, "q") is not None for r in mine):  # no labels: precision / recall (Inception features)
            q_key, d_key = "precision", "recall"
        out[name] = {"scale": [r["scale"] for r in mine], "labels": (q_key, d_key),
                     "q": ([value(r, q_key) for r in mine], [error(r, q_key) for r in mine]),
                     "d": ([value(r, d_key) for r in mine], [error(r, d_key) for r in mine]),
                     "is": ([value(r, "is") for r in mine], [error(r, "is") for r in mine])}
    return out


def _band(ax, x, y, err, color: str, style: str, label: str) -> None:
    ax.plot(x, y, style, color=color, ms=3, label=label)
    if any(e is not None for e in err):
        e = np.array([v or 0.0 for v in err])
        ax.fill_between(x, np.array(y) - e, np.array(y) + e, color=color, alpha=0.2, lw=0)


def parse_groups(specs: Sequence[str]) -> dict[str, list[str]]:
    """``LABEL=RUN,RUN,...`` specs (the bench scripts' ``--label``) -> {label: [run, ...]} for the curves."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        name, _, members = spec.partition("=")
        groups[name] = members.split(",")
    return groups


def save_group_curves(results: dict[str, list[dict]], groups: dict[str, list[str]], metrics: Sequence[str],
                      path: str | Path, ylim: tuple[float, float] | None = None) -> Path:
    """Metrics along training, one panel per metric: for each group of runs (the seeds of one model) the mean
    over its runs against epochs, with their sample standard deviation as a band.

    ``results``: run -> points (dicts with ``epochs`` and the metrics); a group's mean and band stop at its
    shortest run, and each run that goes further continues on its own as a dashed line; groups without the metric
    are left out of that panel, and a metric no run has gets no panel.
    """
    plt = _plt()
    metrics = [m for m in metrics if any(m in p for points in results.values() for p in points)] or list(metrics)[:1]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.8 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (name, members) in enumerate(groups.items()):
            series = [[p for p in results[m] if metric in p] for m in members if m in results]
            n = min((len(s) for s in series), default=0)
            if not n:
                continue
            epochs = np.array([p["epochs"] for p in series[0][:n]])
            values = np.array([[p[metric] for p in s[:n]] for s in series])
            mean = values.mean(0)
            std = values.std(0, ddof=1) if len(values) > 1 else np.zeros(n)
            ax.plot(epochs, mean, marker="o", ms=3, color=f"C{i}", label=f"{name} ({len(values)} runs)")
            ax.fill_between(epochs, mean - std, mean + std, color=f"C{i}", alpha=0.2)
            longer = [s for s in series if len(s) > n]  # each run past the shortest, on its own: not a mean
            note = f"{name}: {len(longer)} of {len(values)} runs past {epochs[-1]:g} epochs"
            for j, s in enumerate(longer):
                ax.plot([p["epochs"] for p in s[n - 1:]], [p[metric] for p in s[n - 1:]], ls="--", lw=1,
                        marker=".", ms=3, color=f"C{i}", label=None if j else note)
        ax.set_xlabel("epochs")
        ax.set_ylabel(metric.replace("_", " "))
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path, dpi=120)


def save_confusion(table: np.ndarray, path: str | Path, title: str = "", class_names: Sequence[str] | None = None,
                   order: Sequence[int] | None = None) -> Path:
    """Heat map of a (clusters, classes) count table, clusters reordered by ``order`` (e.g. their matched class)."""
    plt = _plt()
    rows = list(order) if order is not None else list(range(table.shape[0]))
    t = table[rows]
    fig, ax = plt.subplots(figsize=(0.45 * t.shape[1] + 2, 0.45 * t.shape[0] + 1.5))
    ax.imshow(t / np.maximum(t.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            if t[i, j]:
                ax.text(j, i, str(t[i, j]), ha="center", va="center", fontsize=6)
    ax.set_xticks(range(t.shape[1]), list(class_names) if class_names else [str(j) for j in range(t.shape[1])],
                  fontsize=7)
    ax.set_yticks(range(t.shape[0]), [str(r) for r in rows], fontsize=7)
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster")
    ax.set_title(title, fontsize=8)
    return _save(fig, path, dpi=120)


def save_training_curves(records: Sequence[dict], path: str | Path) -> Path:
    """Every logged quantity of metrics.jsonl against the step: losses first, then D's outputs, then the rest."""
    plt = _plt()
    keys = [k for k in records[0] if k != "step" and all(isinstance(r.get(k), int | float) for r in records)]
    groups = [("losses", [k for k in keys if k.startswith("loss")]),
              ("discriminator outputs", [k for k in keys if k.startswith("D_")]),
              ("other", [k for k in keys if not k.startswith(("loss", "D_")) and k != "images_per_s"]),
              ("throughput (real images/s)", [k for k in keys if k == "images_per_s"])]
    groups = [(t, ks) for t, ks in groups if ks]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.2), squeeze=False)
    steps = [r["step"] for r in records]
    for ax, (title, ks) in zip(axes[0], groups, strict=True):
        for k in ks:
            ax.plot(steps, [r[k] for r in records], label=k, lw=1)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    return _save(fig, path, dpi=100)


def save_tsne(features: np.ndarray, components: np.ndarray, classes: np.ndarray | None, path: str | Path,
              seed: int = 0) -> Path:
    """t-SNE (scikit-learn) of generated samples, coloured by mixture component and, when given, by class."""
    from sklearn.manifold import TSNE

    plt = _plt()
    emb = TSNE(2, init="pca", random_state=seed, perplexity=min(30, max(5, len(features) // 4))).fit_transform(
        np.asarray(features, dtype=np.float32))
    panels = [("by mixture component", components)] + ([("by the classifier's class", classes)]
                                                         if classes is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, (title, colour) in zip(axes[0], panels, strict=True):
        sc = ax.scatter(emb[:, 0], emb[:, 1], c=colour, cmap="tab10" if colour.max() < 10 else "tab20", s=4,
                        linewidths=0)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if colour.max() < 20:
            ax.legend(*sc.legend_elements(), fontsize=6, loc="best", markerscale=0.7)
    return _save(fig, path, dpi=100)


def save_class_histogram(generated: Sequence[float], real: Sequence[float] | None, path: str | Path) -> Path:
    """Share of each class among generated samples (by the classifier), beside the real data's (report Fig. 6)."""
    plt = _plt()
    gen = np.asarray(generated, dtype=float)
    gen = gen / max(gen.sum(), 1e-12)
    idx = np.arange(len(gen))
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(gen) + 2), 3))
    width = 0.4 if real is not None else 0.8
    ax.bar(idx - (width / 2 if real is not None else 0), gen, width, label="generated")
    if real is not None:
        r = np.asarray(real, dtype=float)
        ax.bar(idx + width / 2, r / max(r.sum(), 1e-12), width, label="real", alpha=0.7)
    ax.set_xticks(idx)
    ax.set_xlabel("class")
    ax.set_ylabel("share")
    ax.legend(fontsize=7)
    return _save(fig, path, dpi=100)
