"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class BenchmarkError(Exception):
    """A problem with the user's input or data (bad name, bad value, missing or corrupt file)."""


class NonFiniteLossError(BenchmarkError):
    """Training produced a NaN or infinite loss term."""


class OutputError(BenchmarkError):
    """The results folder cannot be written (not a directory, read-only, disk full, quota)."""


class CheckpointError(BenchmarkError):
    """A checkpoint that is refused (unsafe or of an older format) or unreadable (corrupt)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holding objects other than tensors, numbers and strings: never loaded."""

