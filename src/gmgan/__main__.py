"""The ``gmgan`` command and ``python -m gmgan``: gmgan's OpenMP defaults are set first, before anything
imports torch (:mod:`gmgan.threads`), then the command line runs (:mod:`gmgan.cli`)."""

from gmgan.threads import apply_defaults

apply_defaults()

from gmgan.cli import main  # noqa: E402  (after the defaults: this imports torch)

if __name__ == "__main__":
    raise SystemExit(main())
