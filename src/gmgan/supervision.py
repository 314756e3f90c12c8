"""The map f between mixture components and class labels (GM-GAN, papers/001, Section 2).

f : [K] -> [N] sends the k-th Gaussian to the class its samples should belong to. With K = N it is a bijection
(the default: component k makes class k); with K > N several components share a class (default: k mod N,
so every class gets ceil(K/N) or floor(K/N) components); with K < N one component stands for several
classes (the paper's "clustering of class labels"), which has no sensible default and must be given.

A mapping is written as K comma-separated entries, one per component, each a class or several joined by
'+': ``"0,0,1,1"`` (K=4, N=2), ``"0+1,2+3,4+5,6+7,8+9"`` (K=5, N=10). Classes are the dataset's own labels
(after a class subset they are the kept labels, e.g. "3,5,8"), translated to indices here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmgan.errors import ConfigError


class ClassMapping:
    """A (K, N) boolean table: ``table[k, m]`` is True when component k may produce class m.

    Example:
        >>> f = ClassMapping.parse(None, K=4, num_classes=2)
        >>> f.classes_of(3), f.components_of(0)
        ([1], [0, 2])
    """

    def __init__(self, table: Tensor, class_names: list[str] | None = None) -> None:
        self.table = table.bool()
        self.K, self.num_classes = self.table.shape
        self.class_names = class_names or [str(m) for m in range(self.num_classes)]
        uncovered = [self.class_names[m] for m in range(self.num_classes) if not self.table[:, m].any()]
        if uncovered:
            raise ConfigError(
                f"supervision.mapping leaves class(es) {', '.join(uncovered)} without a component, so the "
                "generator could never make them. Map every class to at least one component."
            )

    @classmethod
    def parse(cls, spec: str | None, K: int, num_classes: int, class_names: list[str] | None = None) -> ClassMapping:
        """Read a mapping spec (module docstring); None gives the default for K >= N and refuses K < N."""
        names = class_names or [str(m) for m in range(num_classes)]
        table = torch.zeros(K, num_classes, dtype=torch.bool)
        if spec is None or str(spec).strip() == "":
            if K < num_classes:
                raise ConfigError(
                    f"K={K} components for {num_classes} classes: with K < N each component must stand for "
                    f"several classes, and which ones is your choice. Give supervision.mapping with {K} entries, "
                    f"e.g. --mapping {_example(K, names)!r}, or set K >= {num_classes}."
                )
            table[torch.arange(K), torch.arange(K) % num_classes] = True
            return cls(table, names)
        entries = [e.strip() for e in str(spec).split(",")]
        if len(entries) != K:
            raise ConfigError(
                f"supervision.mapping has {len(entries)} entries but prior.K is {K}: give one entry per component "
                f"(a class, or classes joined by '+'), e.g. {_example(K, names)!r}."
            )
        index = {name: m for m, name in enumerate(names)}
        for k, entry in enumerate(entries):
            for name in entry.split("+"):
                name = name.strip()
                if name not in index:
                    raise ConfigError(
                        f"supervision.mapping entry {k} names class {name!r}, which the data does not have. "
                        f"Its classes are {', '.join(names)}."
                    )
                table[k, index[name]] = True
        return cls(table, names)

    def classes_of(self, k: int) -> list[int]:
        return torch.nonzero(self.table[k]).flatten().tolist()

    def components_of(self, m: int) -> list[int]:
        return torch.nonzero(self.table[:, m]).flatten().tolist()

    @property
    def is_function(self) -> bool:
        """True when every component targets exactly one class (K >= N, the paper's f)."""
        return bool((self.table.sum(1) == 1).all())

    def targets(self, k: Tensor) -> Tensor:
        """(B, N) boolean targets of components k (B,)."""
        return self.table.to(k.device)[k]

    def target_class(self, k: Tensor) -> Tensor:
        """f(k) for a mapping where each component has one class, (B,) -> (B,)."""
        if not self.is_function:
            raise ConfigError("this mapping gives some component several classes; f(k) is not a single class.")
        return self.table.to(k.device).float().argmax(1)[k]

    def sample_components(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """For each class label, a component uniformly among those mapped to it, (B,) -> (B,)."""
        weights = self.table.T.to(labels.device).float()[labels]  # (B, K)
        return torch.multinomial(weights, 1, generator=generator).squeeze(1)

    def class_index(self, name: str | int) -> int:
        """Index of a class given by its label as the user sees it (e.g. '3')."""
        name = str(name)
        if name not in self.class_names:
            raise ConfigError(f"class {name!r} is not one of this run's classes: {', '.join(self.class_names)}.")
        return self.class_names.index(name)

    def spec(self) -> str:
        return ",".join("+".join(self.class_names[m] for m in self.classes_of(k)) for k in range(self.K))


def _example(K: int, names: list[str]) -> str:
    groups: list[list[str]] = [[] for _ in range(K)]
    for m, name in enumerate(names):
        groups[m * K // len(names)].append(name)
    return ",".join("+".join(g) if g else names[k % len(names)] for k, g in enumerate(groups))
