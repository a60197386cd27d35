"""Leaderboards rebuilt from stored records alone: one CSV and the suite's plots per suite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.errors import BenchmarkError
from benchmark.records import read_records, write_text_atomic
from benchmark.suites import SUITES

GROUP = [
    "model", "prior", "mode", "hparams", "dataset", "eval_dataset", "checkpoint", "representation", "metric",
    "metric_spec",
]


def aggregate(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds for every (model, prior, protocol, metric) group."""
    keyed = records.copy()
    for column in ("eval_dataset", "hparams"):  # records from before a column existed
        keyed[column] = keyed[column].fillna("-") if column in keyed else "-"
    grouped = keyed.groupby(GROUP, dropna=False)
    table = grouped["value"].agg(mean="mean", std="std", min="min", max="max", n_seeds="count")
    table["std"] = table["std"].fillna(0.0)
    table["seeds"] = grouped["seed"].agg(lambda s: " ".join(str(v) for v in sorted(s)))
    table["preset"] = grouped["preset"].agg(lambda s: " ".join(sorted(set(s))))
    table["train_wall_s_mean"] = grouped["wall_s"].mean().round(1)
    table["hardware"] = grouped["hardware_summary"].agg(lambda s: "; ".join(sorted(set(s))))
    table["versions"] = grouped["versions"].agg(
        lambda s: "; ".join(sorted({f"torch {v.get('torch')}, sklearn {v.get('scikit-learn')}, git {v.get('git')}"
                                    for v in s}))
    )
    table = table.reset_index()
    return table.sort_values(["metric", "checkpoint", "representation", "mean"], ascending=[True, True, True, False])


def build(out: Path, to: Path | None = None) -> list[Path]:
    """Write ``<to>/<suite>/leaderboard.csv`` and plots for every suite with records under ``out``."""
    records = read_records(out)
    if not records:
        raise BenchmarkError(f"no result records under {out} (run a suite first)")
    frame = pd.DataFrame(records)
    dest_root = Path(to) if to is not None else Path(out)
    written: list[Path] = []
    for suite_name, sub in frame.groupby("suite"):
        dest = dest_root / str(suite_name)
        path = dest / "leaderboard.csv"
        write_text_atomic(path, aggregate(sub).to_csv(index=False, float_format="%.4f"))
        written.append(path)
        written += SUITES.get(str(suite_name)).plot(sub, dest)
    return written


def headline(out_or_frame: Path | pd.DataFrame, suite_name: str) -> pd.DataFrame:
    """The suite's headline rows (its lead metric under its lead protocol), best first."""
    frame = out_or_frame if isinstance(out_or_frame, pd.DataFrame) else pd.DataFrame(read_records(out_or_frame))
    metric, checkpoint, rep = SUITES.get(suite_name).headline
    table = aggregate(frame[frame.suite == suite_name])
    sel = table[(table.metric == metric) & (table.checkpoint == checkpoint) & (table.representation == rep)]
    return sel[["model", "prior", "mode", "hparams", "metric", "mean", "std", "n_seeds"]]
