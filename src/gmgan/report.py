"""``gmgan report RUN [RUN ...]``: one self-contained HTML page per set of runs, every image inlined.

Sections (each appears when the run has what it needs): the config; training curves from metrics.jsonl;
sample grids with one row per component (toy runs: scatter plots coloured by component); the sigma-sweep
panel and, after ``gmgan sweep``, the quality-vs-diversity curve; interpolations; reconstructions; t-SNE
of generated samples coloured by component and by the evaluation classifier's class; class histograms; the
evaluation and clustering tables. With two or more runs the panels sit side by side, after one comparison
table. The figures are also written as PNG files beside the page (``report/``), and every plot is a
function of :mod:`gmgan.viz`.

The page loads nothing: images are data: URIs, the style is inline, and a Content-Security-Policy forbids
any request, so it opens the same offline, attached to a mail, or years later.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmgan.errors import GmganError

SECTIONS = ("config", "curves", "samples", "sigma", "quality-diversity", "interpolation", "reconstruction",
            "tsne", "histogram", "evaluation", "clustering")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
MAIN_SCORES = ("fid", "kid", "is", "precision", "recall", "density", "coverage", "q", "d", "d_intra", "s")

# the page checks its own images once loaded; a headless browser reads the result from the body's attributes
_SELF_CHECK = """
<script>
window.addEventListener('load', function () {
  var imgs = document.images, broken = 0;
  for (var i = 0; i < imgs.length; i++) { if (!imgs[i].complete || imgs[i].naturalWidth === 0) broken++; }
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-broken-images', broken);
});
</script>
"""


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _img(path: Path, alt: str) -> str:
    return f'<img src="{_png_uri(path)}" alt="{html.escape(alt)}">'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class RunFigures:
    """The figures and tables of one run, as PNG files under ``out`` and HTML fragments by section."""

    def __init__(self, run: Path, out: Path, tsne_n: int = 1000, data_dir: str | None = None) -> None:
        self.run, self.out, self.tsne_n, self.data_dir = run, out, tsne_n, data_dir
        self.out.mkdir(parents=True, exist_ok=True)
        if not (run / "config.yaml").is_file():
            raise GmganError(f"{run} is not a run folder (no config.yaml). Pass the folder gmgan train wrote.")
        self.config_text = (run / "config.yaml").read_text()
        self.evaluation = self._json("evaluation.json")

    def _json(self, name: str) -> dict[str, Any] | None:
        path = self.run / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None

    def sections(self) -> dict[str, str]:
        out: dict[str, str] = {"config": f"<details><summary>config.yaml</summary><pre>"
                                         f"{html.escape(self.config_text)}</pre></details>"}
        builders = {"curves": self.curves, "samples": self.samples, "sigma": self.sigma,
                    "quality-diversity": self.quality_diversity, "interpolation": self.interpolation,
                    "reconstruction": self.reconstruction, "tsne": self.tsne, "histogram": self.histogram,
                    "evaluation": self.evaluation_table, "clustering": self.clustering}
        for name, build in builders.items():
            fragment = build()
            if fragment:
                out[name] = fragment
        return out

    def curves(self) -> str:
        from gmgan.viz import save_training_curves

        path = self.run / "metrics.jsonl"
        if not path.is_file():
            return ""
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not records:
            return ""
        png = save_training_curves(records, self.out / "training-curves.png")
        return _img(png, "training curves")

    def samples(self) -> str:
        final = self.run / "samples" / "final.png"
        if final.is_file():
            return _img(final, "samples, one row per component")
        steps = sorted((self.run / "samples").glob("step-*.png"))
        return _img(steps[-1], f"samples at {steps[-1].stem}") if steps else ""

    def sigma(self) -> str:
        path = self.run / "samples" / "sigma-sweep.png"
        return _img(path, "sigma sweep") if path.is_file() else ""

    def quality_diversity(self) -> str:
        path = self.run / "sweep.png"
        return _img(path, "quality vs diversity") if path.is_file() else ""

    def interpolation(self) -> str:
        return "".join(_img(p, p.stem) for p in sorted((self.run / "samples").glob("interpolate-*.png")))

    def reconstruction(self) -> str:
        return "".join(_img(p, p.stem) for p in sorted((self.run / "reconstruction").glob("*.png")))

    def tsne(self) -> str:
        """t-SNE of generated samples (classifier features for images, the points themselves for toys)."""
        from gmgan.train import load_trained
        from gmgan.viz import save_tsne

        try:
            _, method, _ = load_trained(self.run)
        except GmganError:
            return ""
        from gmgan.nets import generate

        g = torch.Generator().manual_seed(0)
        z, k = method.prior.sample(self.tsne_n, generator=g)
        x = generate(method.G, z)
        classes = None
        if x.dim() == 4:
            feats, classes = self._classifier_view(x)
            if feats is None:
                feats = x.flatten(1)
        else:
            feats = x
        png = save_tsne(feats.numpy(), k.numpy(), classes, self.out / "tsne.png", seed=0)
        return _img(png, "t-SNE of generated samples")

    def _classifier_view(self, x: torch.Tensor) -> tuple[torch.Tensor | None, np.ndarray | None]:
        """Features and predicted classes of x from the cached evaluation classifier, if there is one."""
        from gmgan.evaluate.classifier import load_classifier
        from gmgan.paths import cache_root

        extractor = (self.evaluation or {}).get("protocol", {}).get("extractor", {})
        path = extractor.get("path")
        if (not path or not Path(path).is_dir()) and extractor.get("fingerprint"):  # evaluated elsewhere
            found = sorted((cache_root() / "classifiers").glob(f"*-{extractor['fingerprint']}"))
            path = str(found[0]) if found else None
        if not path or not Path(path).is_dir():
            return None, None

        try:
            clf = load_classifier(path)
        except GmganError:
            return None, None
        feats, probs = clf.extract(x)
        return feats, probs.argmax(1).numpy()

    def histogram(self) -> str:
        from gmgan.viz import save_class_histogram

        gen = (self.evaluation or {}).get("generated", {})
        hist = gen.get("class_histogram")
        if not isinstance(hist, list) or not hist:
            return ""
        real = (self.evaluation or {}).get("real_train_images", {}).get("class_histogram")
        png = save_class_histogram(hist, real if isinstance(real, list) else None, self.out / "class-histogram.png")
        return _img(png, "class histogram")

    def scores(self) -> dict[str, float]:
        gen = (self.evaluation or {}).get("generated", {})
        return {k: gen[k] for k in MAIN_SCORES if isinstance(gen.get(k), int | float)}

    def evaluation_table(self) -> str:
        if not self.evaluation:
            return ""
        rows = []
        for label, key in (("generated", "generated"), ("real training images", "real_train_images")):
            part = self.evaluation.get(key)
            if isinstance(part, dict):
                rows.append([label, *[part.get(k, "") for k in MAIN_SCORES]])
        extras = sorted((self.run).glob("evaluation-*.json"))
        for path in extras:
            try:
                part = json.loads(path.read_text()).get("generated", {})
            except json.JSONDecodeError:
                continue
            rows.append([path.stem, *[part.get(k, "") for k in MAIN_SCORES]])
        protocol = self.evaluation.get("protocol", {})
        step, space = protocol.get("step"), protocol.get("feature_space", "domain classifier")
        skipped = "".join(f"<li>{html.escape(s['score'])}: {html.escape(s['why'])}</li>"
                          for s in self.evaluation.get("skipped", []))
        not_scored = f"<p>not scored:</p><ul>{skipped}</ul>" if skipped else ""
        return f"<p>step {step}; features: {html.escape(str(space))}</p>" + _table(["samples", *MAIN_SCORES], rows) \
            + not_scored

    def clustering(self) -> str:
        parts = []
        for path in sorted((self.run / "cluster").glob("*/cluster.json")):
            c = json.loads(path.read_text())
            rows = [[split, *[f"{m[k]['mean']:.4f} ± {m[k]['std']:.4f}" for k in ("acc", "nmi", "ari")]]
                    for split, m in c["summary"].items()]
            parts.append(f"<h4>{html.escape(path.parent.name)} (seeds {c['protocol']['seeds']})</h4>")
            if rows:
                parts.append(_table(["split", "ACC", "NMI (Eq. 13)", "ARI"], rows))
            label_free = []  # what holds without labels: sizes, confidence, agreement between seeds
            for seed, rec in c.get("seeds", {}).items():
                for key, d in rec.items():
                    if key.endswith("_diagnostics"):
                        label_free.append([f"seed {seed}", key.removesuffix("_diagnostics"),
                                           " ".join(map(str, d["sizes"])), f"{d['mean_confidence']:.3f}",
                                           f"{d['size_entropy']:.3f}"])
            if label_free:
                parts.append(_table(["seed", "split", "cluster sizes", "mean confidence", "size entropy / log K"],
                                    label_free))
            for split, a in (c.get("agreement_between_seeds") or {}).items():
                parts.append(f"<p>{html.escape(split)}: agreement between seeds (no labels): ARI {a['mean_ari']:.3f}, "
                             f"NMI {a['mean_nmi']:.3f}</p>")
            for name, alt in (("confusion-test.png", "confusion matrix"), ("confusion-all.png", "confusion matrix"),
                              ("members-all.png", "10 members of each cluster, one row per cluster"),
                              ("members-test.png", "10 members of each cluster, one row per cluster")):
                if (path.parent / name).is_file():
                    parts.append(_img(path.parent / name, alt))
        return "".join(parts)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
section { margin-bottom: 2.5em; }
.runs { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); gap: 1.5em; }
img { width: 100%; max-width: 640px; height: auto; border: 1px solid #ddd; margin: 0.2em 0;
      image-rendering: pixelated; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f3f3f3; }
pre { background: #f7f7f7; padding: 0.8em; font-size: 0.8em; overflow-x: auto; }
h3 { font-size: 1em; color: #555; }
"""


def sweep_section(folder: Path) -> str:
    """A ``gmgan sweep`` folder as a report section: its figure, and per model (``--group``) or run the mean ±
    standard error of q, d, the Inception Score, FID and recall at the sweep's scales."""
    if not (folder / "sweep.json").is_file():
        raise GmganError(f"--sweep {folder} has no sweep.json. Give a folder gmgan sweep wrote (its --out).")
    data = json.loads((folder / "sweep.json").read_text())
    rows = data.get("summary") or []
    keys = ("q", "d", "is", "fid", "recall", "class_accuracy")
    if rows:
        header = ["model", "sigma", "runs", *keys]

        def fmt(r: dict, k: str) -> str:
            m, se = r.get(f"{k}_mean"), r.get(f"{k}_se")
            return "" if m is None else f"{m:.4g}" + ("" if se is None else f" ± {se:.2g}")

        body = [[r["model"], r["scale"], r["runs"], *(fmt(r, k) for k in keys)] for r in rows]
    else:
        header = ["run", "sigma", *keys]
        body = [[r["run"], r["scale"], *("" if r.get(k) is None else r[k] for k in keys)] for r in data["rows"]]
    step = sorted({r.get("step") for r in data["rows"] if r.get("step") is not None})
    note = (f"<p>{html.escape(str(folder))}: {data['protocol']['n']} samples per scale"
            + (f", checkpoint step {', '.join(map(str, step))}" if step else "")
            + ("; mean ± standard error over each model's runs" if rows else "") + "</p>")
    png = folder / "sweep.png"
    return (f'<section id="sweep-{html.escape(folder.name)}"><h2>sigma sweep (GM-GAN Fig. 7 and Fig. 2): '
            f"{html.escape(folder.name)}</h2>{note}" + (_img(png, "sweep") if png.is_file() else "")
            + _table(header, body) + "</section>")


def write_report(runs: list[str | Path], out: str | Path | None = None, tsne_n: int = 1000,
                 sweeps: list[str | Path] | None = None) -> Path:
    """Write report.html for one run (default: RUN/report.html) or several (default: the first run's folder);
    ``sweeps``: folders of ``gmgan sweep`` (e.g. several seeds per model) shown after the comparison table."""
    paths = [Path(r) for r in runs]
    if not paths:
        raise GmganError("gmgan report needs at least one RUN_DIR.")
    sweep_html = [sweep_section(Path(f)) for f in sweeps or []]
    for run in paths:
        if not (run / "config.yaml").is_file():
            raise GmganError(f"{run} is not a gmgan run folder (no config.yaml). Give run folders, e.g. gmgan "
                             "report runs/mnist.")
    target = Path(out) if out else paths[0] / "report.html"
    if target.is_dir():
        raise GmganError(f"--out {target} is a folder; give the HTML file to write, e.g. {target / 'report.html'}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    figures = []
    for i, run in enumerate(paths):  # figures beside the page: report.html -> report/, compare.html -> compare/
        sub = target.with_suffix("") / (run.name if len(paths) == 1 else f"{i}-{run.name}")
        figures.append(RunFigures(run, sub, tsne_n))
    per_run = [f.sections() for f in figures]
    names = [html.escape(str(p)) for p in paths]
    body = [f"<h1>gmgan report: {', '.join(names)}</h1>"]
    if len(paths) > 1:
        keys = [k for k in MAIN_SCORES if any(k in f.scores() for f in figures)]
        rows = [[str(p), *[f.scores().get(k, "") for k in keys]] for p, f in zip(paths, figures, strict=True)]
        body.append('<section id="comparison"><h2>comparison</h2>' + _table(["run", *keys], rows) + "</section>")
    body += sweep_html
    titles = {"config": "config", "curves": "training curves", "samples": "samples (one row per component)",
              "sigma": "sigma sweep (GM-GAN Fig. 6)", "quality-diversity": "quality vs diversity (GM-GAN Fig. 7)",
              "interpolation": "interpolation", "reconstruction": "reconstructions (original, reconstruction)",
              "tsne": "t-SNE of generated samples", "histogram": "class histograms",
              "evaluation": "evaluation", "clustering": "clustering"}
    for section in SECTIONS:
        if not any(section in s for s in per_run):
            continue
        cells = "".join(f"<div><h3>{name}</h3>{s.get(section, '<p>not available for this run</p>')}</div>"
                        for name, s in zip(names, per_run, strict=True))
        body.append(f'<section id="{section}"><h2>{titles[section]}</h2>'
                    f'<div class="runs" style="--n: {len(paths)}">{cells}</div></section>')
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>gmgan report</title><style>{STYLE}</style></head><body>{''.join(body)}{_SELF_CHECK}"
            "</body></html>")
    from gmgan.checkpoint import atomic_write_text

    atomic_write_text(target, page)
    return target
