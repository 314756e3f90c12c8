"""Where gmgan keeps what it computes once and reuses: ``$GMGAN_CACHE``, default ``~/.cache/gmgan``.

A low-level module (it imports nothing of gmgan) so that data loading, evaluation and the report all find the
cache without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$GMGAN_CACHE`` or ``~/.cache/gmgan``: cached classifiers, decoded image folders, Inception weights."""
    return Path(os.environ.get("GMGAN_CACHE", Path.home() / ".cache" / "gmgan"))
