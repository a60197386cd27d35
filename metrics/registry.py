"""The metric registry, filled by importing every module of the ``metrics`` package (each registers its metrics
where they are defined, ``metrics.base.metric``, so a new metric is one new module and no edit here), then the
modules other distributions declare in entry point group ``gwae_bench.metrics`` (``core.plugins``: a failure or
a clashing name is one warning line), and the direction of every record name: ``better`` refuses a name nobody
declared, so no name is ever ranked backwards.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from core import plugins
from core.errors import BenchmarkError
from metrics.base import HIGHER, LOWER, METRICS, Better, Metric, _check
from metrics.generation import FID_SPEC, INCEPTION_SUFFIX, KID_SPEC, PSNR_SPEC
from metrics.gw import GW_SPEC
from metrics.ood import OOD_SPEC

#: Modules of the package that define no metric: the machinery, the feature networks (loaded where used), and the
#: OoD scorers (their own registry, ``metrics.scorers``).
NOT_METRICS = frozenset({"base", "registry", "extractors", "fid_inception", "scorers"})
for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _module.name not in NOT_METRICS:
        importlib.import_module(f"metrics.{_module.name}")
PLUGINS = plugins.import_modules(plugins.METRICS_GROUP)

#: Record name -> the direction that wins, over every registered metric.
DIRECTIONS: dict[str, Better] = {name: d for entry in METRICS for name, d in entry.obj.yields.items()}
LOWER_IS_BETTER = frozenset(name for name, d in DIRECTIONS.items() if d == LOWER)

__all__ = ["FID_SPEC", "GW_SPEC", "HIGHER", "INCEPTION_SUFFIX", "KID_SPEC", "LOWER", "LOWER_IS_BETTER", "METRICS",
           "OOD_SPEC", "PSNR_SPEC", "Better", "Metric", "_check", "better"]


def better(name: str) -> Better:
    """Which direction wins for a record's metric name; an undeclared name is an error, never a guess."""
    try:
        return DIRECTIONS[name]
    except KeyError:
        raise BenchmarkError(f"metric {name!r} is not declared by any registered metric (metrics/registry.py): "
                             "its direction is unknown") from None
