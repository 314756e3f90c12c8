"""The ``gmgan`` command and ``python -m gmgan``: gmgan's OpenMP defaults are set first, before anything
imports torch (:mod:`gmgan.threads`), then the command line runs (:mod:`gmgan.cli`)."""

import os
import sys

from gmgan.threads import apply_defaults

apply_defaults()

from gmgan.cli import main  # noqa: E402  (after the defaults: this imports torch)


def _run() -> None:
    code = main()
    if os.environ.get("WORLD_SIZE", "1") != "1":
        # a torchrun worker, its process group already destroyed and its files written: leave without the
        # interpreter's teardown, where gloo's threads occasionally abort the process ("terminate called
        # without an active exception") after a run that succeeded
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    _run()
