"""The one writer of a results folder: leaderboards, plots, trajectories, best-seed artifacts, summary, page.

Everything is rebuilt from stored records (``benchmark.records``); building twice gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.results import cross, leaderboard, report, trajectories
from benchmark.results.stats import CSV_FLOAT
from benchmark.suites import SUITES
from core.errors import BenchmarkError
from core.storage import write_text_atomic


def write_all(out: Path, to: Path | None = None) -> list[Path]:
    """Write ``<to>/<suite>/leaderboard.csv`` and plots for every suite with records under ``out``,
    ``<to>/summary.csv`` across suites, and the page of them all, ``<to>/index.html`` (``benchmark.results.report``)."""
    records = leaderboard.usable_records(out)
    if not records:
        raise BenchmarkError(f"no result records under {out} that can be used (run a suite first)")
    frame = pd.DataFrame(records)
    dest_root = Path(to) if to is not None else Path(out)
    by_suite: dict[str, list[Path]] = {}
    stable: dict[str, str] = {}
    for suite_name, sub in frame.groupby("suite"):
        dest = dest_root / str(suite_name)
        path = dest / "leaderboard.csv"
        write_text_atomic(path, leaderboard.aggregate(sub).to_csv(index=False, float_format=CSV_FLOAT))
        along, stable[str(suite_name)] = trajectories.build(sub, Path(out), str(suite_name), dest)
        by_suite[str(suite_name)] = [path, *SUITES.get(str(suite_name)).plot(sub, dest), *along,
                                     *cross.build(sub, str(suite_name), dest),
                                     *leaderboard.copy_best_artifacts(sub, Path(out), dest / "artifacts")]
    path = dest_root / "summary.csv"
    write_text_atomic(path, leaderboard.summary(frame).to_csv(index=False, float_format=CSV_FLOAT))
    page = report.write(frame, Path(out), dest_root, by_suite, stable)
    return [*(p for files in by_suite.values() for p in files), path, page]
