"""User-facing errors.

Every problem a user can fix (a missing file, an impossible option, a diverged run) is raised as a
:class:`GmganError` whose message names the problem and the fix. The CLI prints the message alone, without
a traceback; library users catch the class.
"""


class GmganError(Exception):
    """A problem the user can fix; the message says what and how."""


class ConfigError(GmganError):
    """An option has an impossible value, an unknown name or a wrong type."""


class DataError(GmganError):
    """A data file is missing, truncated or not in the expected format."""


class CheckpointError(GmganError):
    """A checkpoint is missing, corrupt, or belongs to a different model."""


class DivergenceError(GmganError):
    """A loss became non-finite during training."""


class EvaluationError(GmganError):
    """A metric cannot be computed as asked (too few samples, a missing extractor, mismatched shapes)."""


class TrainingInterrupted(GmganError):
    """SIGINT (Ctrl-C) or SIGTERM stopped training after a checkpoint of the current step was written.

    ``exit_code`` is the shell's convention for the signal: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self, message: str, signum: int, step: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
        self.step = step
