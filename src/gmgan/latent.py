"""Latent codes of real images, and mixtures fitted to them (GAEL papers/000 Section 3; report papers/004 Section 3).

Two routes to the latent code of a real image x:

* the encoder head (GAEL): z = Enc(x), one forward pass;
* inversion of a frozen generator (the report, 3.2.1): z = argmin ||x - G(z)||^2 by gradient descent from a
  draw of the prior, batched, with a fixed budget of iterations and an early stop.

A Gaussian mixture is then fitted to the codes of all training images by EM (scikit-learn; ``auto`` picks
the number of components by BIC) and stored in the run folder as ``fitted_prior/`` (safetensors + JSON).
``gmgan sample/evaluate --prior fitted`` draw from it with torch and the caller's seed, and
:func:`assign` gives soft and hard assignments of any image to its components (for clustering).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gmgan.checkpoint import write_dir_atomically
from gmgan.errors import CheckpointError, ConfigError, GmganError
from gmgan.priors import GaussianMixture

FITTED_DIR = "fitted_prior"
AUTO_CANDIDATES = (1, 2, 5, 10, 15, 20, 30, 50)


@dataclass
class InversionResult:
    z: Tensor  # (n, d) latent codes
    error: Tensor  # (n,) final mean squared pixel error per image
    iterations: int  # iterations run (the last batch's, when stopped early)


def invert(
    G: nn.Module,
    x: Tensor,
    z0: Tensor,
    steps: int = 500,
    lr: float = 0.05,
    batch_size: int = 1000,
    tol: float = 1e-4,
    patience: int = 20,
    progress: bool = False,
) -> InversionResult:
    """z minimising the mean squared error ||x - G(z)||^2 / dim(x) for each image, G frozen in eval mode.

    Adam on the codes of a batch at once (each image's loss only depends on its own z, so one summed loss
    gives every z its own gradient). Stops a batch after ``steps`` iterations, or earlier once the batch's
    mean error has improved by less than ``tol`` (relative) for ``patience`` iterations.

    Args:
        G: the generator (its weights are not changed).
        x: (n, ...) target images in G's output range.
        z0: (n, d) starting codes, e.g. draws from the prior.
    """
    if steps < 1:
        raise ConfigError(f"inversion steps must be >= 1. Got {steps} instead.")
    was_training = G.training
    G.eval()
    params = [p for p in G.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    device = z0.device
    zs, errs, last_iter = [], [], 0
    try:
        for start in range(0, x.shape[0], batch_size):
            target = x[start : start + batch_size].to(device)
            z = z0[start : start + batch_size].detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr)
            best, stale, iterations = float("inf"), 0, 0
            for _ in range(steps):
                iterations += 1
                err = (G(z) - target).flatten(1).pow(2).mean(1)
                opt.zero_grad(set_to_none=True)
                err.sum().backward()
                opt.step()
                mean = float(err.detach().mean())
                if mean < best * (1 - tol):
                    best, stale = mean, 0
                else:
                    stale += 1
                    if stale >= patience:
                        break
            last_iter = iterations
            with torch.no_grad():
                errs.append((G(z) - target).flatten(1).pow(2).mean(1).cpu())
            zs.append(z.detach().cpu())
            if progress:
                print(f"  inverted {min(start + batch_size, x.shape[0])}/{x.shape[0]} images "
                      f"(mse {float(errs[-1].mean()):.4f}, {last_iter} iterations)", flush=True)
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)
        G.train(was_training)
    return InversionResult(torch.cat(zs), torch.cat(errs), last_iter)


def fit_mixture(
    z: Tensor, components: int | str = 10, covariance: str = "full", seed: int = 0, max_iter: int = 200,
    candidates: tuple[int, ...] = AUTO_CANDIDATES,
) -> tuple[Any, dict[str, Any]]:
    """EM fit of a Gaussian mixture to codes z (n, d) with scikit-learn. ``components='auto'`` fits each of
    ``candidates`` (those below n) and keeps the lowest BIC. Returns the fitted estimator and a summary.
    """
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    data = z.double().numpy()
    n = data.shape[0]
    if not np.isfinite(data).all():
        raise GmganError("Some latent codes are not finite; the encoder or inversion diverged. Retrain or re-run.")
    if components == "auto":
        options = [k for k in candidates if k <= n]
    else:
        k = int(components)
        if k < 1:
            raise ConfigError(f"--components must be >= 1 or 'auto'. Got {components!r} instead.")
        if k > n:
            raise ConfigError(
                f"Cannot fit {k} components to {n} latent codes: a mixture needs at least one point per "
                "component. Use fewer components or more images."
            )
        options = [k]
    if not options:
        raise ConfigError(f"No candidate number of components fits {n} codes. Use more images.")
    fits = []
    for k in options:
        gm = SkGaussianMixture(k, covariance_type=covariance, random_state=seed, max_iter=max_iter, reg_covar=1e-5)
        gm.fit(data)
        fits.append((gm.bic(data), k, gm))
    bic, k, best = min(fits, key=lambda t: t[0])
    summary = {
        "components": k, "covariance": covariance, "n": n, "dim": data.shape[1], "seed": seed,
        "mean_log_likelihood": float(best.score(data)), "bic": float(bic), "converged": bool(best.converged_),
        "em_iterations": int(best.n_iter_),
        "bic_by_components": {str(kk): float(b) for b, kk, _ in fits} if components == "auto" else None,
        "warnings": fit_warnings(n, data.shape[1], k, covariance),
    }
    return best, summary


def fit_warnings(n: int, dim: int, k: int, covariance: str) -> list[str]:
    """A full (or tied) covariance in d dimensions needs more than d codes per component to be determined;
    with fewer, EM returns what its regulariser (reg_covar) makes of a singular estimate."""
    per = n / k if covariance == "full" else n
    if covariance in ("full", "tied") and per <= dim:
        return [f"{k} {covariance}-covariance component(s) in {dim} dimensions from {n} codes: about {per:.0f} "
                f"codes per {dim}x{dim} covariance, too few to determine it (it is mostly regularisation). Use "
                "more images (--max-images), fewer components, or --covariance diag."]
    return []


def save_fitted_prior(run_dir: str | Path, prior: GaussianMixture, summary: dict[str, Any]) -> Path:
    """Write ``RUN/fitted_prior/`` (prior.safetensors + prior.json) atomically, replacing an older one."""
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        save_file({"mu": prior.mu.detach().contiguous().cpu(), "A": prior.A.detach().contiguous().cpu(),
                   "weights": prior.weights.detach().contiguous().cpu()}, str(tmp / "prior.safetensors"))
        (tmp / "prior.json").write_text(json.dumps({**summary, "format": 1}, indent=1) + "\n")

    final = Path(run_dir) / FITTED_DIR
    write_dir_atomically(final, write)
    return final


def load_fitted_prior(run_dir: str | Path) -> tuple[GaussianMixture, dict[str, Any]]:
    """The mixture ``gmgan fit-prior`` saved in a run, and its summary."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(run_dir) / FITTED_DIR
    if not (folder / "prior.safetensors").is_file() or not (folder / "prior.json").is_file():
        raise CheckpointError(f"{run_dir} has no fitted prior. Run gmgan fit-prior {run_dir} first.")
    try:
        t = load_file(str(folder / "prior.safetensors"))
        summary = json.loads((folder / "prior.json").read_text())
        prior = GaussianMixture.from_parameters(t["mu"], t["A"], t["weights"])
    except (SafetensorError, KeyError, ValueError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"{folder} is corrupt ({exc}). Run gmgan fit-prior {run_dir} again.") from exc
    return prior, summary


def latent_codes(method: Any, x: Tensor, route: str = "auto", seed: int = 0, steps: int = 500,
                 progress: bool = False) -> tuple[Tensor, str, dict[str, Any]]:
    """Codes of images x by the encoder head or by inversion (``auto``: the encoder when the run has one)."""
    if route == "auto":
        route = "encoder" if method.has_encoder else "inversion"
    start = time.perf_counter()
    if route == "encoder":
        z, _ = method.encode(x)
        info: dict[str, Any] = {}
    elif route == "inversion":
        g = torch.Generator(device=method.prior.device).manual_seed(seed)
        z0 = method.prior.sample(x.shape[0], generator=g)[0]
        result = invert(method.G, x, z0, steps=steps, progress=progress)
        z = result.z
        info = {"steps": steps, "mean_mse": float(result.error.mean()), "iterations_last_batch": result.iterations}
    else:
        raise ConfigError(f"route must be auto, encoder or inversion. Got {route!r} instead.")
    info["seconds"] = round(time.perf_counter() - start, 1)
    return z.cpu(), route, info


@torch.no_grad()
def assign(prior: GaussianMixture, z: Tensor) -> tuple[Tensor, Tensor]:
    """Soft (n, K) responsibilities and hard (n,) assignments of codes z to the mixture's components."""
    resp = prior.responsibilities(z.to(prior.mu.device))
    return resp, resp.argmax(1)
