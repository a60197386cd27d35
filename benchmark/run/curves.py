"""Training curves of one run: CSVs in its run folder always, TensorBoard event files when installed.

CSV is what every tool reads; TensorBoard is an optional extra (``pip install -e '.[tensorboard]'``).
Step rows hold the mean of each loss term over the last ``log_every`` steps (and over an epoch's
last, shorter interval), so every step counts and short smoke epochs still have points.
Rows are buffered and each CSV is rewritten whole (temp file + rename) at each flush. On resume
the rows past the checkpoint's step are dropped, and TensorBoard is given ``purge_step``, so a run
killed and resumed is one curve without duplicated steps.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path
from typing import Any

from benchmark.run.folder import RunFolder
from core.storage import write_text_atomic

#: Steps per logged point: every step of a smoke run would be noise, fewer would hide a paper run's start.
LOG_EVERY = 10
#: Seconds between flushes inside an epoch, so long epochs show progress without rewriting on every step.
FLUSH_EVERY_S = 30.0
TENSORBOARD_HINT = ("TensorBoard curves off (package `tensorboard` not installed): pip install -e '.[tensorboard]'; "
                    "CSV curves are written to each run folder")
_hint_shown = False


def tensorboard_writer(log_dir: Path, purge_step: int | None) -> Any | None:
    """A SummaryWriter, or None (and the install hint, once per process) without the package."""
    global _hint_shown
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _hint_shown:
            print(TENSORBOARD_HINT, file=sys.stderr)
            _hint_shown = True
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _csv_text(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _read_csv(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _fmt(value: float) -> str | float:
    return float(f"{value:.7g}")


class Curves:
    """Collects a run's per-step and per-epoch scalars; see the module docstring for the layout."""

    def __init__(self, run_dir: Path, tensorboard_dir: Path | None = None, log_every: int = LOG_EVERY,
                 flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.folder, self.tensorboard_dir = RunFolder(run_dir), tensorboard_dir
        self.log_every, self.flush_every_s = log_every, flush_every_s
        self.steps: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self.writer: Any | None = None
        self._sums: dict[str, float] = {}
        self._n = 0
        self._t0 = self._last_flush = time.perf_counter()

    def start(self, step: int) -> None:
        """Open the curves of a run whose checkpoint is at ``step``: keep earlier rows, drop later ones."""
        self.steps = [r for r in _read_csv(self.folder.steps_csv) if int(r["step"]) <= step]
        self.epochs = [r for r in _read_csv(self.folder.epochs_csv) if int(r["step"]) <= step]
        if self.tensorboard_dir is not None:
            self.writer = tensorboard_writer(self.tensorboard_dir, step + 1)  # also drops a killed first epoch

    def epoch_start(self) -> None:
        self._sums, self._n = {}, 0
        self._t0 = time.perf_counter()

    def add_step(self, step: int, epoch: int, terms: dict[str, float], lrs: dict[str, float], last: bool) -> None:
        """Accumulate one step; log the interval's means every ``log_every`` steps and at an epoch's end."""
        for k, v in terms.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._n += 1
        if step % self.log_every and not last:
            return
        elapsed = time.perf_counter() - self._t0
        row = {"step": step, "epoch": epoch, **{k: _fmt(v / self._n) for k, v in self._sums.items()},
               **{f"lr_{k}": v for k, v in lrs.items()}, "steps_per_s": _fmt(self._n / max(elapsed, 1e-9))}
        self.steps.append(row)
        self._scalars(step, {f"train/{k}": row[k] for k in self._sums}
                      | {f"lr/{k}": v for k, v in lrs.items()} | {"speed/steps_per_s": row["steps_per_s"]})
        self.epoch_start()
        if time.perf_counter() - self._last_flush >= self.flush_every_s:
            self.flush()

    def add_epoch(self, epoch: int, step: int, train: dict[str, float], val: dict[str, float],
                  lrs: dict[str, float], steps_per_s: float, wall_s: float) -> None:
        row = {"epoch": epoch, "step": step, **{f"train_{k}": _fmt(v) for k, v in train.items()},
               **{f"val_{k}": _fmt(v) for k, v in val.items()}, **{f"lr_{k}": v for k, v in lrs.items()},
               "steps_per_s": _fmt(steps_per_s), "wall_s": round(wall_s, 2)}
        self.epochs.append(row)
        self._scalars(step, {f"epoch/{k}": v for k, v in row.items() if k not in ("epoch", "step", "wall_s")})
        self.flush()

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        if self.steps:
            write_text_atomic(self.folder.steps_csv, _csv_text(self.steps))
        if self.epochs:
            write_text_atomic(self.folder.epochs_csv, _csv_text(self.epochs))
        if self.writer is not None:
            self.writer.flush()
        self._last_flush = time.perf_counter()

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
