"""What ``gmgan explore`` computes, without any web framework: one :class:`RunView` per trained run.

Every control of the page calls one method here (the page itself is :mod:`gmgan.explore_app`), so each control
is tested as a plain function:

- :meth:`RunView.sample`: a grid from a component, a class or the whole prior at a sampling scale; the same run,
  seed and settings give the same pixels as ``gmgan sample`` (both call :func:`gmgan.sampling.draw`).
- :meth:`RunView.tradeoff`: the sigma sweep (one row per scale, the same noise in every row) and the run's
  quality/diversity curve when ``gmgan sweep`` wrote one.
- :meth:`RunView.interpolate`: a 2-way strip or a 3-way triangle between components (papers/002).
- :meth:`RunView.identify`: an image of the user's own through every head the run has (GAEL's encoder, the
  responsibility model's C, the component head, and latent inversion for any run), with its reconstruction.
- :meth:`RunView.cluster_members`: the members of one cluster of a ``gmgan cluster`` result.

Bad input raises :class:`gmgan.errors.GmganError` with a message naming the problem and the fix; the page shows
it and goes on serving.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gmgan.errors import ConfigError, DataError, GmganError

ANY = "any component"  # the Sample control's choice that draws components by the prior's weights
SWEEP_SCALES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # the trade-off rows: below and above the trained spread
MAX_UPLOAD_PIXELS = 40_000_000  # beyond this an upload is refused before decoding (a decompression bomb guard)
INVERSION_STEPS = 200  # per upload, from INVERSION_STARTS codes at once; the closest result is kept (identify)
INVERSION_STARTS = 3  # the best of DRAWS_PER_COMPONENT draws per component, screened by pixel error
DRAWS_PER_COMPONENT = 8
BN_IMAGES = 2000  # real training images that re-estimate D's BatchNorm statistics for the heads (as gmgan assign)


def grid_array(x: Tensor, nrow: int) -> np.ndarray:
    """The uint8 (H, W, C) grid ``gmgan sample`` writes as PNG for the images x (same padding and enlargement)."""
    from gmgan.viz import grid_upscale, image_grid

    return image_grid(x, nrow, upscale=grid_upscale(x.shape[-1]))


def to_picture(grid: np.ndarray) -> np.ndarray:
    """(H, W) for gray grids, (H, W, 3) for colour: what an image widget shows."""
    return grid[:, :, 0] if grid.shape[2] == 1 else grid


@dataclass
class Identification:
    """The answer for one uploaded image: per head, the probability of each component or cluster."""

    heads: dict[str, dict[str, float]]  # head name -> {label: probability}
    picture: np.ndarray  # the image as the run sees it, then each reconstruction, side by side
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def best(self) -> tuple[str, str, float]:
        """(head, label, probability) of the first head's most likely component."""
        head, probs = next(iter(self.heads.items()))
        label = max(probs, key=lambda k: probs[k])
        return head, label, probs[label]


class RunView:
    """A trained run, loaded once, with everything the explorer shows of it."""

    def __init__(self, run_dir: str | Path, device: str = "cpu", data_dir: str | None = None) -> None:
        from gmgan.train import load_trained

        self.path = Path(run_dir)
        if not self.path.is_dir():
            raise ConfigError(f"{run_dir} is not a folder. Give a run folder written by gmgan train (or gmgan demo).")
        if not (self.path / "config.yaml").is_file():
            raise ConfigError(f"{run_dir} is not a gmgan run: it has no config.yaml. Give a folder written by "
                              "gmgan train (or gmgan demo).")
        self.cfg, method, self.step = load_trained(self.path, device)
        self.method: Any = method  # a GANMethod; its heads vary with the run (encoder, C, component head)
        self.device = device
        recorded = self.cfg.data.data_dir
        # --data-dir stands in for the data only where the recorded folder is gone (moved, another machine)
        self.data_dir = data_dir if data_dir and not (recorded and Path(recorded).exists()) else None
        self.name = self.path.name
        shape: tuple[int, ...] = tuple(method.G.out_shape)  # type: ignore[arg-type]
        self.is_image = len(shape) == 3
        self.channels: int = int(shape[0]) if self.is_image else 0
        self.size: int = int(shape[-1]) if self.is_image else 0
        self.K = int(self.method.prior.K)
        self.mapping: Any = getattr(self.method, "mapping", None)
        self._fitted: Any = None
        self._real: Tensor | None = None
        self._real_error: str | None = None
        self._d_real: Any = None
        self._cluster_cache: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------- description
    @property
    def is_mixture(self) -> bool:
        from gmgan.priors import GaussianMixture

        return isinstance(self.method.prior, GaussianMixture) and self.K > 1

    def heads(self) -> list[str]:
        """The heads that place a real image in the latent mixture, in the order identify() reports them."""
        out = []
        if hasattr(self.method, "responsibilities"):
            out.append("responsibility model C")
        if getattr(self.method, "has_component_head", False):
            out.append("component head")
        if "classifier" in getattr(self.method, "d_heads", ()):
            out.append("AC-GAN classifier")
        if self.method.has_encoder:
            out.append("encoder")
        if self.cluster_assigner() is not None:
            out.append("clustering")
        if self.is_mixture or self.fitted_prior() is not None:
            out.append("inversion")
        return out

    def cluster_assigner(self) -> tuple[Any, dict[str, Any], Path] | None:
        """The network of the newest ``gmgan cluster`` result of this run that saved one (the seed it selected):
        (network, description, folder), or None."""
        if "assigner" not in self._cluster_cache:
            from gmgan.assigner import assigner_paths, load_assigner
            from gmgan.errors import CheckpointError

            found = None
            for folder in self.clusterings():
                try:
                    seed = json.loads((folder / "cluster.json").read_text()).get("selected_seed", 0)
                except (OSError, ValueError):
                    continue
                if assigner_paths(folder, seed)[0].is_file():
                    try:
                        model, d = load_assigner(folder, seed, self.device)
                    except CheckpointError:
                        continue
                    found = (model, d, folder)
                    break
            self._cluster_cache["assigner"] = found
        return self._cluster_cache["assigner"]

    def describe(self) -> str:
        c = self.cfg
        kind = {"gmgan": "GM-GAN", "gan": "GAN", "acgan": "AC-GAN", "responsibility": "responsibility GM-GAN"}.get(
            c.method, c.method)
        if c.method == "gmgan" and c.supervision.mode != "none":
            kind = f"supervised GM-GAN ({c.supervision.mode})"
        if c.method in ("gmgan", "responsibility"):
            kind = f"{'dynamic' if c.prior.learnable else 'static'} {kind}"
        if self.method.has_encoder:
            kind += " + encoder (GAEL)"
        data = c.data.name + (f", {self.size} px, {self.channels} channel(s)" if self.is_image else "")
        parts = [f"**{self.name}**: {kind}, K = {self.K}, step {self.step:,}, data {data}"]
        heads = self.heads()
        parts.append("heads for your image: " + (", ".join(heads) if heads else "none (a plain GAN)"))
        if self.mapping is not None:
            parts.append("classes: " + ", ".join(self.mapping.class_names))
        return "; ".join(parts)

    def choices(self) -> list[str]:
        """What the Sample control offers: any component, each component, each class (runs with labels)."""
        out = [ANY]
        if self.K > 1:
            out += [f"component {k}" for k in range(self.K)]
        if self.mapping is not None:
            out += [f"class {name}" for name in self.mapping.class_names]
        return out

    def component_labels(self) -> list[str]:
        """A name per component: 'component k', with its class where the run ties components to classes."""
        if self.mapping is None or self.K == 1:
            return [f"component {k}" for k in range(self.K)]
        return [f"component {k} (class {'+'.join(self.mapping.class_names[m] for m in self.mapping.classes_of(k))})"
                for k in range(self.K)]

    @staticmethod
    def parse_choice(choice: str | None) -> tuple[int | None, str | None]:
        """'any component' -> (None, None); 'component 3' -> (3, None); 'class cat' -> (None, 'cat')."""
        if not choice or choice == ANY:
            return None, None
        if choice.startswith("component "):
            try:
                return int(choice.split()[1]), None
            except (IndexError, ValueError):
                raise ConfigError(f"not a component: {choice!r}. Pick one from the list.") from None
        if choice.startswith("class "):
            return None, choice[len("class "):]
        raise ConfigError(f"not a choice of this run: {choice!r}. Pick one from the list.")

    def _need_images(self, what: str) -> None:
        if not self.is_image:
            raise ConfigError(f"{self.name} draws 2-D points, not images; {what} shows images. `gmgan sample "
                              f"{self.path}` plots its points.")

    # ------------------------------------------------------------------------------------------- controls
    def sample(self, choice: str | None = None, scale: float = 1.0, n: int = 100, seed: int = 0) -> np.ndarray:
        """The grid ``gmgan sample RUN --n N --scale S --seed SEED [--component K | --class C]`` writes."""
        from gmgan.sampling import draw

        self._need_images("Sample")
        component, class_name = self.parse_choice(choice)
        x, _, _, _ = draw(self.method, int(n), component, class_name, float(scale), int(seed))
        return to_picture(grid_array(x, nrow=min(int(n), 10)))

    def tradeoff(self, choice: str | None = None, per_row: int = 10, seed: int = 0,
                 scales: tuple[float, ...] = SWEEP_SCALES) -> np.ndarray:
        """One row per sampling scale, the same noise (and components) in every row, so a row differs from the
        next only by sigma: small scales give the typical image of a mode, large ones its variety."""
        self._need_images("Trade-off")
        component, class_name = self.parse_choice(choice)
        from gmgan.nets import generate
        from gmgan.sampling import check_scale, class_components

        for s in scales:
            check_scale(s)
        prior = self.method.prior
        g = torch.Generator(device=prior.device).manual_seed(int(seed))
        pick: Any = component
        if class_name is not None:
            pick, _ = class_components(self.method, class_name, int(per_row), g)
        elif component is None and self.K > 1:  # every row shows the same components
            pick = torch.arange(int(per_row), device=prior.device) % self.K
        rows = []
        with torch.no_grad():
            for s in scales:
                gs = torch.Generator(device=prior.device).manual_seed(int(seed))
                z, _ = prior.sample(int(per_row), component=pick, scale=float(s), generator=gs)
                rows.append(generate(self.method.G, z).cpu())
        return to_picture(grid_array(torch.cat(rows), nrow=int(per_row)))

    def sweep_curve(self) -> tuple[Path | None, list[dict[str, str]]]:
        """The quality/diversity figure and table ``gmgan sweep RUN`` wrote into the run (None, [] before)."""
        png, table = self.path / "sweep.png", self.path / "sweep.csv"
        rows: list[dict[str, str]] = []
        if table.is_file():
            with open(table, newline="") as f:
                rows = list(csv.DictReader(f))
        return (png if png.is_file() else None), rows

    def interpolate(self, a: int, b: int, c: int | None = None, length: int = 10, rows: int = 3,
                    seed: int = 0) -> np.ndarray:
        """A strip a -> b (``rows`` of them, one noise each) or, with c, the triangle of 3-way mixtures."""
        from gmgan import interpolation

        self._need_images("Interpolate")
        if not self.is_mixture:
            kind = type(self.method.prior).__name__
            raise ConfigError(f"{self.name} has no mixture components to move between (a {kind} prior). Explore a "
                              "gmgan or responsibility run.")
        comps = [int(a), int(b)] + ([int(c)] if c is not None else [])
        if len(set(comps)) < len(comps):
            raise ConfigError(f"pick different components to interpolate between. Got {comps}.")
        for k in comps:
            if not 0 <= k < self.K:
                raise ConfigError(f"component {k}: {self.name} has components 0..{self.K - 1}.")
        length = int(length)
        if not 2 <= length <= 32:
            raise ConfigError(f"the path length must be 2..32 images. Got {length}.")
        g = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            if c is None:
                x = interpolation.strips(self.method.G, self.method.prior, comps, length, int(rows), g)
            else:
                x = interpolation.triangle(self.method.G, self.method.prior, comps, length, g)
        return to_picture(grid_array(x.cpu(), nrow=length))

    # ------------------------------------------------------------------------------------------- your image
    def read_upload(self, path: str | Path | None) -> tuple[Tensor, list[str]]:
        """An uploaded file as the run sees it: (1, C, size, size) in [-1, 1], and notes on what was changed.

        Any size and colour mode is accepted and converted the way ``gmgan train`` reads a folder (centre crop to
        a square, resize, grayscale or RGB); a file that is not an image, or is too large to decode, is refused
        with a message."""
        from PIL import Image, UnidentifiedImageError

        self._need_images("Your image")
        if path is None:
            raise DataError("no file: upload an image (PNG, JPEG, ...) first.")
        p = Path(path)
        notes: list[str] = []
        try:
            with Image.open(p) as opened:
                im: Image.Image = opened
                w, h = im.size
                if w * h > MAX_UPLOAD_PIXELS:
                    raise DataError(f"{p.name} is {w} x {h} pixels, too large to read ({MAX_UPLOAD_PIXELS:,} at "
                                    "most). Upload a smaller image.")
                if min(w, h) < 4:
                    raise DataError(f"{p.name} is {w} x {h} pixels; upload an image at least 4 pixels on each side.")
                mode = "L" if self.channels == 1 else "RGB"
                if im.mode not in (mode, "P" if mode == "RGB" else mode):
                    notes.append(f"converted from {im.mode} to {'grayscale' if mode == 'L' else 'RGB'}")
                im = im.convert(mode)
                if w != h:
                    side = min(w, h)
                    left, top = (w - side) // 2, (h - side) // 2
                    im = im.crop((left, top, left + side, top + side))
                    notes.append(f"cropped from {w} x {h} to the centre {side} x {side}")
                if im.size != (self.size, self.size):
                    notes.append(f"resized from {im.size[0]} x {im.size[1]} to {self.size} x {self.size}, the run's "
                                 "image size")
                    im = im.resize((self.size, self.size), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.float32)
        except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise DataError(f"{p.name} is not an image this page can read ({type(exc).__name__}). Upload a PNG, "
                            "JPEG, BMP, GIF or WebP file.") from None
        except OSError as exc:
            raise DataError(f"{p.name} could not be read as an image ({exc}). Upload a PNG or JPEG file.") from None
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        x = torch.from_numpy(np.ascontiguousarray(a))[None] / 255.0 * 2 - 1
        return x, notes

    def _real_images(self) -> Tensor | None:
        """Up to BN_IMAGES training images of the run (None when its data are not at hand), read once."""
        if self._real is None and self._real_error is None:
            from gmgan.data import load_from_config

            try:
                data = load_from_config(self.cfg.data, self.cfg.train.seed, imbalance=False,
                                        data_dir=self.data_dir)
                x = data.x
                idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:BN_IMAGES]
                self._real = x[idx].float()
            except GmganError as exc:
                self._real_error = str(exc).splitlines()[0]
        return self._real

    def _reading_d(self) -> tuple[Any, str]:
        """D with BatchNorm statistics of real images (as gmgan assign/cluster read the heads), else D as trained."""
        if self._d_real is None:
            from gmgan.cluster import real_statistics_discriminator

            real = self._real_images()
            if real is None:
                self._d_real = (self.method.D, f"D's own statistics (the training data is not at hand: "
                                f"{self._real_error}; start explore with --data-dir DIR to use it)")
            else:
                self._d_real = (real_statistics_discriminator(self.method, real.to(self.device)),
                                f"D's BatchNorm statistics re-estimated on {len(real)} training images")
        return self._d_real

    def fitted_prior(self) -> Any:
        if self._fitted is None and (self.path / "fitted_prior").is_dir():
            from gmgan.latent import load_fitted_prior

            self._fitted = load_fitted_prior(self.path)[0].to(self.device)
        return self._fitted

    def _mixture_for_codes(self) -> tuple[Any, str] | None:
        """The mixture whose components a latent code is assigned to: the trained one, else a fitted one."""
        if self.is_mixture:
            return self.method.prior, "the trained mixture"
        fitted = self.fitted_prior()
        if fitted is not None:
            return fitted, "the mixture fitted by gmgan fit-prior"
        return None

    @torch.no_grad()
    def _decode(self, z: Tensor) -> Tensor:
        from gmgan.nets import generate

        return generate(self.method.G, z.to(self.method.prior.mu.device if hasattr(self.method.prior, "mu")
                                            else self.device)).cpu()

    def _inversion_starts(self, prior: Any, x: Tensor, seed: int) -> Tensor:
        """INVERSION_STARTS codes to invert from: of DRAWS_PER_COMPONENT draws from every component, those whose
        image is closest to x (a cheap forward-only screen, so that the costly descent starts near the answer in
        whichever component holds it)."""
        g = torch.Generator(device=prior.mu.device).manual_seed(int(seed))
        comps = torch.arange(prior.K, device=prior.mu.device).repeat_interleave(DRAWS_PER_COMPONENT)
        with torch.no_grad():
            z, _ = prior.sample(len(comps), component=comps, generator=g)
            err = (self._decode(z) - x.cpu()).flatten(1).pow(2).mean(1)
        return z[err.argsort()[:INVERSION_STARTS]].detach().clone()

    def identify(self, path: str | Path | None, seed: int = 0, inversion_steps: int = INVERSION_STEPS
                 ) -> Identification:
        """Which component (or cluster) an image belongs to, by every head the run has, with the reconstructions.

        Heads: the responsibility model's C (papers/002), AC-GAN's classifier, the component head (ours), GAEL's
        encoder (codes assigned to the trained or fitted mixture), and latent inversion (any image run with a
        mixture: gradient descent on z from the few draws whose images are closest, the code with the smallest pixel
        error kept; the report's inversion + EM)."""
        from gmgan.latent import invert
        from gmgan.nets import read_head

        x, notes = self.read_upload(path)
        x = x.to(self.device)
        labels = self.component_labels()
        heads: dict[str, dict[str, float]] = {}
        pictures = [x.cpu()]
        details: dict[str, Any] = {}
        want = self.heads()
        if not want:
            raise ConfigError(f"{self.name} has no way to place an image among components: it is a plain GAN "
                              "without an encoder. Run gmgan fit-prior on it first, or explore a gmgan run.")
        D, bn_note = self._reading_d() if any(h != "inversion" for h in want) else (self.method.D, "")
        if bn_note:
            details["bn"] = bn_note

        def as_dict(p: Tensor, names: list[str]) -> dict[str, float]:
            return {names[k]: float(p[k]) for k in range(len(names))}

        with torch.no_grad():
            if "responsibility model C" in want:
                p = self.method.responsibilities(x, D=D).cpu()[0]
                heads["responsibility model C"] = as_dict(p, labels)
            if "AC-GAN classifier" in want:  # D's auxiliary classifier: p(class given image)
                p = torch.softmax(read_head(D, x, "classifier"), 1).cpu()[0]
                heads["AC-GAN classifier"] = as_dict(p, [f"class {c}" for c in self.mapping.class_names])
            if "component head" in want:
                p = torch.softmax(read_head(D, x, "component"), 1).cpu()[0]
                heads["component head"] = as_dict(p, labels)
            if "encoder" in want:
                original = self.method.D
                self.method.D = D
                try:
                    z, _ = self.method.encode(x)
                finally:
                    self.method.D = original
                mix = self._mixture_for_codes()
                if mix is not None:
                    p = mix[0].responsibilities(z.to(self.device)).cpu()[0]
                    names = labels if mix[0] is self.method.prior else [f"fitted {k}" for k in range(mix[0].K)]
                    heads[f"encoder -> {mix[1]}"] = as_dict(p, names)
                rec = self._decode(z)
                pictures.append(rec)
                details["encoder_mse"] = float((rec - x.cpu()).pow(2).mean())
        if "clustering" in want:
            from gmgan.selftrain import predict

            model, d, folder = self.cluster_assigner()  # type: ignore[misc]
            shape = tuple(d["image_shape"])
            xc = x.cpu() if tuple(x.shape[1:]) == shape else torch.nn.functional.interpolate(
                x.cpu(), size=shape[1:], mode="bilinear", align_corners=False)
            p = predict(model, xc)[0]
            heads[f"clustering {folder.relative_to(self.path)}"] = as_dict(
                p, [f"cluster {k}" for k in range(len(p))])
        if "inversion" in want:
            mix = self._mixture_for_codes()
            assert mix is not None
            prior = mix[0]
            starts = self._inversion_starts(prior, x, seed)
            result = invert(self.method.G, x.expand(len(starts), *x.shape[1:]).contiguous(), starts,
                            steps=int(inversion_steps))
            best = int(result.error.argmin())
            z = result.z[best: best + 1]
            with torch.no_grad():
                p = prior.responsibilities(z.to(prior.mu.device)).cpu()[0]
                rec = self._decode(z)
            names = labels if prior is self.method.prior else [f"fitted {k}" for k in range(prior.K)]
            heads[f"inversion -> {mix[1]}"] = as_dict(p, names)
            pictures.append(rec)
            details["inversion_mse"] = float(result.error[best])
            details["inversion_start"] = best
        from gmgan.viz import image_grid

        picture = image_grid(torch.cat(pictures), nrow=len(pictures), upscale=max(1, 112 // self.size))
        return Identification(heads, to_picture(picture), notes, details)

    # ------------------------------------------------------------------------------------------- clusters
    def clusterings(self) -> list[Path]:
        """Folders of ``gmgan cluster`` results for this run (RUN/cluster/*/cluster.json), newest first."""
        found = [p.parent for p in (self.path / "cluster").glob("*/cluster.json")] if (
            self.path / "cluster").is_dir() else []
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)

    def cluster_table(self, folder: str | Path) -> tuple[Path, list[dict[str, str]], dict[str, Any]]:
        """(csv, rows, cluster.json) of a clustering folder: the consensus or selected seed's file of its first
        split."""
        folder = Path(folder)
        meta_path = folder / "cluster.json"
        if not meta_path.is_file():
            raise ConfigError(f"{folder} has no cluster.json: not a gmgan cluster result. Run gmgan cluster first.")
        meta = json.loads(meta_path.read_text())
        files = sorted(folder.glob("clusters-*.csv"))
        if not files:
            raise ConfigError(f"{folder} has no clusters-*.csv. Run gmgan cluster again.")
        prefer = [f for f in files if f.stem.endswith("-consensus")] or [
            f for f in files if f.stem.endswith(f"-seed{meta.get('selected_seed')}")] or files
        key = str(prefer[0])
        if key not in self._cluster_cache:
            with open(prefer[0], newline="") as f:
                self._cluster_cache[key] = list(csv.DictReader(f))
        return prefer[0], self._cluster_cache[key], meta

    def cluster_sizes(self, folder: str | Path) -> dict[int, int]:
        _, rows, _ = self.cluster_table(folder)
        sizes: dict[int, int] = {}
        for r in rows:
            sizes[int(r["cluster"])] = sizes.get(int(r["cluster"]), 0) + 1
        return dict(sorted(sizes.items()))

    def cluster_members(self, folder: str | Path, cluster: int, n: int = 50) -> tuple[np.ndarray, str]:
        """The n most confident members of one cluster as a grid, and a line saying how many it has."""
        csv_path, rows, meta = self.cluster_table(folder)
        members = [r for r in rows if int(r["cluster"]) == int(cluster)]
        if not members:
            raise ConfigError(f"cluster {cluster} of {csv_path.name} has no members; pick another one.")
        members.sort(key=lambda r: float(r.get("confidence") or 0), reverse=True)
        top = members[: int(n)]
        x = self._cluster_images(csv_path, meta, top)
        conf = [float(r["confidence"]) for r in members if r.get("confidence")]
        line = (f"cluster {cluster}: {len(members):,} images"
                + (f", mean confidence {sum(conf) / len(conf):.3f}" if conf else "")
                + f"; the {len(top)} most confident shown ({csv_path.name})")
        return to_picture(grid_array(x, nrow=10)), line

    def _cluster_images(self, csv_path: Path, meta: dict[str, Any], rows: list[dict[str, str]]) -> Tensor:
        if "file" in rows[0]:
            root = Path(self.data_dir or self.cfg.data.data_dir or ".")
            paths = [root / r["file"] for r in rows]
            missing = [p for p in paths if not p.is_file()]
            if missing:
                raise DataError(f"the images of {csv_path.name} are not at {root} ({missing[0]} is missing). Start "
                                "explore with --data-dir DIR, the folder that was clustered.")
            return torch.cat([self.read_upload(p)[0] for p in paths])
        split = csv_path.stem.split("-")[1] if "-" in csv_path.stem else "train"
        key = f"data:{split}"
        if key not in self._cluster_cache:
            from gmgan.data import load_from_config

            self._cluster_cache[key] = load_from_config(self.cfg.data, self.cfg.train.seed, split=split,
                                                        imbalance=False, data_dir=self.data_dir).x
        data = self._cluster_cache[key]
        return data[torch.tensor([int(r["index"]) for r in rows])]


def free_port(host: str = "127.0.0.1") -> int:
    """A port the system reports free on ``host`` (for tests and --port 0)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port(host: str, port: int) -> None:
    """One clear error when ``port`` cannot be served on ``host`` (in use, or not allowed)."""
    import socket

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0..65535 (0 = any free port). Got {port}.")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closed port is free
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot serve on {host}:{port} ({exc.strerror or exc}). Pass another --port, or "
                              "--port 0 for any free one.") from None

