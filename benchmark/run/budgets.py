"""Training budgets: weights kept at listed steps, and the records that score them (``trajectory.jsonl``).

A run asked to score at budgets (``--score-at 200,400,600`` or the preset's ``budgets``) keeps its
weights at each listed step in ``<run>/budgets/`` while it trains, and scores each of them with
the suite's cheap trajectory pass (or its full evaluation). Budgets are not part of the run id:
asking for more of them never retrains a run. A budget that already has records is never
scored again; one whose weights were not kept (the run finished before it was asked for) is
named in one warning line. Resuming keeps the files: they are written once, atomically, and a
resumed run rewrites a budget it had not passed with the same weights (batches are seeded).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmark.records.io import run_records
from benchmark.run.folder import RunFolder
from core.errors import BenchmarkError

#: How a budget is scored: the suite's trajectory pass (headline metric, cheap spec) or every metric.
SCORINGS = ("cheap", "full")
OFF = ("", "off", "none")


def parse_steps(text: str) -> tuple[int, ...]:
    """``"200,400,600"`` -> (200, 400, 600); ``off`` -> (); every step a positive integer, listed once."""
    if text.strip().lower() in OFF:
        return ()
    try:
        steps = [int(part) for part in text.split(",")]
    except ValueError:
        raise BenchmarkError(f"--score-at {text!r}: give comma-separated training steps, e.g. 200,400,600, "
                             "or off") from None
    return checked_steps(steps, f"--score-at {text!r}")


def checked_steps(steps: list[int], where: str) -> tuple[int, ...]:
    """Distinct positive training steps, sorted (the flag's and the sweep file's ``score_at``)."""
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in steps) or len(set(steps)) != len(steps):
        raise BenchmarkError(f"{where}: steps must be distinct positive integers")
    return tuple(sorted(steps))


def check_steps(steps: tuple[int, ...], max_steps: int | None, where: str) -> None:
    """A budget past the last step the run can reach would never be scored: say so before training."""
    late = [s for s in steps if s > max_steps] if max_steps is not None else []
    if late:
        raise BenchmarkError(f"{where}: budget(s) {', '.join(map(str, late))} exceed the run's "
                             f"{max_steps} training steps")


def scored(run_dir: Path) -> list[dict[str, Any]]:
    """The budget records of a run ([] if none, or if the file is damaged: its budgets are scored again)."""
    path = RunFolder(run_dir).trajectory
    if not path.exists():
        return []
    try:
        return run_records(path)
    except BenchmarkError as exc:
        print(f"warning: {path}: {exc}; scoring its budgets again", file=sys.stderr)
        return []


def _unscored(run_dir: Path, steps: tuple[int, ...], scoring: str, kept: bool) -> list[int]:
    done = {r["step"] for r in scored(run_dir) if r.get("budget_scoring") == scoring}
    return [s for s in steps if s not in done and RunFolder(run_dir).checkpoint(s).exists() == kept]


def pending(run_dir: Path, steps: tuple[int, ...], scoring: str) -> list[int]:
    """Budgets asked for, kept on disk, and not yet scored this way."""
    return _unscored(run_dir, steps, scoring, kept=True)


def unreachable(run_dir: Path, steps: tuple[int, ...], scoring: str) -> list[int]:
    """Budgets asked for that a finished run has no weights for (asked for after it passed them, or past
    the step where early stopping ended it) and no records of."""
    return _unscored(run_dir, steps, scoring, kept=False)
