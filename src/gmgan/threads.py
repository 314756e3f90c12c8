"""OpenMP defaults for gmgan's processes, set before torch is imported.

PyTorch's CPU kernels run on an OpenMP thread pool whose idle threads, by default, spin for a while before
they sleep. Alone on a machine that wins a little; with a second CPU-heavy process on the same cores the
spinning threads take the cores from the other process's working ones, and both slow down many times over
(measured in ``bench/threads.py``; docs/RESULTS.md). gmgan's command line therefore sets a wait policy of
its own unless the user has chosen one (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the environment) or
turned this off (``GMGAN_THREADING=off``). ``train.threads`` sets the number of threads of a training run.
Under torchrun each process already gets ``OMP_NUM_THREADS=1`` from torchrun unless that is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}
USER_CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def apply_defaults(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set :data:`DEFAULTS` in ``environ`` (os.environ) unless the user chose, or torch is already imported
    (too late: OpenMP read its settings then). Returns what was set."""
    env = os.environ if environ is None else environ
    if env.get("GMGAN_THREADING", "").lower() == "off" or any(k in env for k in USER_CHOICES):
        return {}
    if environ is None and "torch" in sys.modules:
        return {}
    env.update(DEFAULTS)
    return dict(DEFAULTS)
