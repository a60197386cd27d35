"""Intervals of a mean over seeds that mean what they say at the seed counts benchmarks use.

A percentile bootstrap over 3 seeds is about the min-max range and covers the true mean far less
often than 95%, so small samples get the Student-t interval (exact when seed-to-seed spread is
normal); from ``BOOTSTRAP_MIN_N`` seeds on, the percentile bootstrap, which needs no normality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 10_000, 0
#: From this many seeds on the bootstrap is used: below it, its intervals are too narrow.
BOOTSTRAP_MIN_N = 10
STUDENT_T, BOOTSTRAP, SINGLE = "student-t", "bootstrap", "single seed"
#: The decimals every results CSV is written with; means equal at it share a rank (1.0000 ranked above a
#: 0.99998 would be reading noise the reader cannot see).
CSV_DECIMALS = 4
CSV_FLOAT = f"%.{CSV_DECIMALS}f"


def bootstrap_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (10,000 resamples, seed 0: a rebuild is identical)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = values[rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def student_t_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """mean +- t_{(1+level)/2, n-1} * s / sqrt(n)."""
    values = np.asarray(values, dtype=float)
    n, mean = len(values), float(values.mean())
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return mean - half, mean + half


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, str]:
    """(low, high, method) of the mean over seeds; one seed has no interval (low = high = the value)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return float(values[0]), float(values[0]), SINGLE
    if len(values) < BOOTSTRAP_MIN_N:
        return (*student_t_ci(values, level), STUDENT_T)
    return (*bootstrap_ci(values, level), BOOTSTRAP)


def ranks(mean: pd.Series, lower: pd.Series, groups: list[pd.Series] | pd.Series) -> pd.Series:
    """1 = best within each group (``lower``: smaller means win); means equal at ``CSV_DECIMALS`` share the
    better rank."""
    shown = mean.round(CSV_DECIMALS)
    return shown.where(lower, -shown).groupby(groups, dropna=False).rank(method="min").astype(int)
