"""Suite registry. Importing this package registers every suite."""

from benchmark.suites import disentanglement, generation, ood  # noqa: F401  (each registers its suite)
from benchmark.suites.base import SUITES, EvalContext, Headline, Preset, Suite

__all__ = ["SUITES", "EvalContext", "Headline", "Preset", "Suite"]
