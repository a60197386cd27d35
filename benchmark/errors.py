"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class BenchmarkError(Exception):
    """A problem with the user's input or data (bad name, bad value, missing or corrupt file)."""


class NonFiniteLossError(BenchmarkError):
    """Training produced a NaN or infinite loss term."""
