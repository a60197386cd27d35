"""Suite registry. Importing this package registers every suite."""

from benchmark.suites import ood  # noqa: F401  (registers "ood")
from benchmark.suites.base import SUITES, EvalContext, Preset, Suite

__all__ = ["SUITES", "EvalContext", "Preset", "Suite"]
