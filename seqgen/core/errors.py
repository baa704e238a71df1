"""The errors a user can act on: a leaf module that every layer may import.

Each message names the file or key at fault and what was expected. The scripts print these as one
line and exit with status 2 (seqgen.app.cli); anything else is a bug and keeps its traceback.
"""


class SeqgenError(Exception):
    """Base of every error that is the input's fault, not the code's."""


class ConfigError(SeqgenError, ValueError):
    """A config key is missing, unknown, of the wrong type or out of range."""


class DataError(SeqgenError, ValueError):
    """Bad or missing input data; the message names the file or key and what was expected."""


class CheckpointError(SeqgenError, ValueError):
    """A checkpoint file is missing, unreadable, unsafe or from another model."""


class Diverged(SeqgenError, FloatingPointError):
    """The training loss stopped being a finite number."""


class Stopped(SeqgenError):
    """Training was stopped by a signal after saving a checkpoint; exit with 128 + the signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum
