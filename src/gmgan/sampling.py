"""Drawing samples from a trained run: the one function behind ``gmgan sample`` and ``gmgan explore``, so that
the same run, seed and settings give the same images in both."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gmgan.errors import ConfigError
from gmgan.nets import generate


def check_scale(scale: float) -> None:
    if not scale > 0:
        raise ConfigError(f"--scale multiplies the prior's covariance and must be > 0 (1 = as trained). Got {scale:g}.")


def class_components(method: Any, name: str, n: int, generator: torch.Generator) -> tuple[Tensor, str]:
    """Components to draw n samples of class ``name`` from (uniform over the class's components), and a note
    when those components also stand for other classes."""
    mapping = method.mapping
    if mapping is None:
        raise ConfigError(
            "--class needs a run trained with labels (--method acgan, or gmgan --supervised): in this run the "
            "components are not tied to classes. Use --component K to draw from one component."
        )
    m = mapping.class_index(name)
    comps = torch.tensor(mapping.components_of(m))
    pick = comps[torch.randint(len(comps), (n,), generator=generator, device=generator.device).cpu()]
    shared = [k for k in comps.tolist() if len(mapping.classes_of(k)) > 1]
    note = ""
    if shared:
        classes = sorted({mapping.class_names[c] for k in shared for c in mapping.classes_of(k)})
        note = (f"note: class {name} shares component(s) {shared} with other classes ({', '.join(classes)}); "
                "samples may show any of them.")
    return pick.to(method.prior.device), note


def draw(method: Any, n: int, component: int | None = None, class_name: str | None = None, scale: float = 1.0,
         seed: int = 0) -> tuple[Tensor, Tensor, Tensor, str]:
    """n samples of a trained method: ``(x, z, k, note)`` with x = G(z) on the CPU, k the components drawn.

    ``component``: draw from that component only; ``class_name``: from the components of that class (runs
    trained with labels); neither: components at random by the prior's weights. ``scale`` multiplies every
    covariance (GM-GAN's sigma trade-off after training). Same method, arguments and seed, same images.
    """
    if n < 1:
        raise ConfigError(f"--n must be >= 1. Got {n} instead.")
    if class_name is not None and component is not None:
        raise ConfigError("Give --class or --component, not both: --class picks the components of that class.")
    check_scale(scale)
    K = method.prior.K
    if component is not None and not 0 <= component < K:
        raise ConfigError(
            f"--component {component}: the run has {K} component(s), numbered 0..{K - 1}." if K > 1 else
            f"--component: the run samples z from one N(0, I) (method {type(method).__name__}), it has no "
            "mixture components. Leave --component out, or use a gmgan run.")
    g = torch.Generator(device=method.prior.device).manual_seed(seed)
    pick: Any = component
    note = ""
    if class_name is not None:
        pick, note = class_components(method, class_name, n, g)
    with torch.no_grad():
        z, k = method.prior.sample(n, component=pick, scale=scale, generator=g)
        x = generate(method.G, z)
    return x.cpu(), z.cpu(), k.cpu(), note
