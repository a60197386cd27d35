"""Execute planned runs (``benchmark.config.run_config.RunSpec``): train, score, write records; score kept budgets.

A run is content-addressed: its id ends in a hash of its resolved config, so rerunning a
command skips what already has records and resumes what has a last checkpoint. Everything here
reads the run's typed ``RunConfig``, never the live preset. Scoring sees the model through the run's precision
(``models.precision.of``): bf16 forward passes, fp32 outputs, so every metric is computed in fp32.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from benchmark.config.run_config import RunConfig, RunSpec
from benchmark.data import load_dataset
from benchmark.records.io import run_records, write_json, write_records
from benchmark.records.schema import RunInfo, record, run_fields
from benchmark.run import budgets, heartbeat, provenance
from benchmark.run.curves import Curves
from benchmark.run.folder import RunFolder
from benchmark.run.trainer import Trainer
from benchmark.suites import SUITES, EvalContext
from benchmark.suites.base import gw_diagnostic
from core.config import to_dict
from core.errors import BenchmarkError
from core.storage import run_lock
from models import precision as mixed


@dataclass
class SuiteData:
    train: Any
    val: Any
    eval: dict[str, Any]


def load_suite_data(run: RunConfig, data_root: Path | None) -> SuiteData:
    """Load (and checksum) every dataset a run needs, as its config says, before anything is written.
    The runs of one sweep share their data config, so one load serves them all."""
    common = {"data_root": data_root, "image_shape": run.data.image_shape, "seed": 0}
    return SuiteData(
        train=load_dataset(run.data.dataset, "train", n=run.data.n_train, **common),
        val=load_dataset(run.data.dataset, "val", n=run.data.n_val, **common),
        eval=SUITES.get(run.suite).load_eval_data(run.data, run.eval.params, data_root),
    )


def execute(
    spec: RunSpec, out: Path, data: SuiteData, device: torch.device, progress: bool = True,
    progress_desc: str | None = None,
) -> list[dict[str, Any]]:
    """Train (or resume) one run and score it; returns its records. Skips a run that has whole records.

    Holds the run's lock throughout: a second process for the same run waits, then finds the records.
    """
    run_dir = Path(out) / spec.run_id
    records = _whole_records(run_dir, warn=True)
    if records is not None and not budgets.pending(run_dir, spec.budgets, spec.budget_scoring):
        _warn_unreachable(spec, run_dir)
        return records
    with run_lock(run_dir):
        try:
            records = _whole_records(run_dir) or _train_and_score(spec, run_dir, data, device, progress,
                                                                  progress_desc)
            score_budgets(spec, run_dir, data, device, records)
            return records
        finally:  # finished, failed or interrupted: no longer running (a SIGKILL leaves it to heartbeat.running)
            heartbeat.clear(run_dir)


def _whole_records(run_dir: Path, warn: bool = False) -> list[dict[str, Any]] | None:
    path = RunFolder(run_dir).records
    if not path.exists():
        return None
    try:
        return run_records(path)
    except BenchmarkError as exc:
        if warn:
            print(f"warning: {path}: {exc}; re-scoring the run from its checkpoints", file=sys.stderr)
        return None


def _warn_unreachable(spec: RunSpec, run_dir: Path) -> None:
    missing = budgets.unreachable(run_dir, spec.budgets, spec.budget_scoring)
    if missing:
        print(f"warning: {spec.run_id} has no weights kept at step(s) {', '.join(map(str, missing))} (it trained "
              "before they were asked for, or stopped early before them): not scored", file=sys.stderr)


def score_budgets(spec: RunSpec, run_dir: Path, data: SuiteData, device: torch.device,
                  records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score every kept, not yet scored budget of a run; returns all its budget records (``trajectory.jsonl``).

    Each budget is written as soon as it is scored, so an interrupted scoring keeps what it did.
    """
    todo = budgets.pending(run_dir, spec.budgets, spec.budget_scoring)
    found = budgets.scored(run_dir)
    _warn_unreachable(spec, run_dir)
    if not todo:
        return found
    suite, run = SUITES.get(spec.suite), spec.config
    folder = RunFolder(run_dir)
    model = folder.new_model(run)
    base = run_fields(records[0])
    per_epoch = records[0]["steps"] / max(records[0]["epochs"], 1)
    heartbeat.beat(run_dir, "scoring budgets")
    for step in todo:
        folder.load(model, step, device)
        torch.manual_seed(run.eval.eval_seed)
        start = time.perf_counter()
        ctx = EvalContext(mixed.of(model, run.train.precision), data.eval, suite.trajectory.encode_as, device,
                          run.train.batch_size, run.eval.eval_seed, params=run.eval.params, run_dir=None,
                          checkpoint=f"step{step}")
        scores = suite.trajectory.score(ctx) if spec.budget_scoring == "cheap" else suite.evaluate(ctx)
        wall = round(time.perf_counter() - start, 2)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for row in scores.rows:  # the numbers only: no curves or files per budget
            found.append(record(base, {
                "checkpoint": "step", "step": step, "checkpoint_epoch": round(step / per_epoch, 3),
                "representation": suite.trajectory.encode_as, "budget_scoring": spec.budget_scoring,
                "eval_wall_s": wall, "timestamp": stamp}, row))
        write_records(run_dir, found, folder.TRAJECTORY)
    return found


def _train_and_score(spec: RunSpec, run_dir: Path, data: SuiteData, device: torch.device, progress: bool,
                     progress_desc: str | None) -> list[dict[str, Any]]:
    suite, run = SUITES.get(spec.suite), spec.config
    folder = RunFolder(run_dir)
    if run.train.precision == "bf16" and not provenance.has_bf16_units(device):
        print(f"warning: {run.run_id}: this {device.type} has no bf16 units; --precision bf16 runs emulated, slower "
              "than fp32", file=sys.stderr, flush=True)
    if not folder.config_file.exists():
        write_json(folder.config_file, {"run_id": run.run_id, **run.to_dict()})
    curves = Curves(run_dir, folder.tensorboard(run))
    model = folder.new_model(run)
    trainer = Trainer(model, data.train, data.val, run.train, run_dir, device, run.seed, progress, curves,
                      progress_desc, keep_at=spec.budgets)
    result = trainer.fit()
    write_json(folder.train_file, to_dict(result))
    heartbeat.beat(run_dir, "scoring")

    hardware = provenance.hardware(device)
    base = RunInfo.of(run, result, provenance.versions(), hardware, provenance.describe(hardware),
                      provenance.model_source(run.model)).fields()
    records = []
    for checkpoint in run.eval.checkpoints:
        folder.load(model, checkpoint, device)
        diagnostics = model.diagnostics()
        epoch = result.best_epoch if checkpoint == "best" else result.epochs
        step = round(result.steps * epoch / max(result.epochs, 1))  # epochs are whole: the steps at that epoch
        for rep in run.eval.representations:
            torch.manual_seed(run.eval.eval_seed)
            start = time.perf_counter()
            ctx = EvalContext(mixed.of(model, run.train.precision), data.eval, rep, device, run.train.batch_size,
                              run.eval.eval_seed, params=run.eval.params, run_dir=run_dir, checkpoint=checkpoint)
            rows = suite.evaluate(ctx).records() + gw_diagnostic(ctx, data.eval[suite.gw_set], run.eval.n_gw)
            eval_wall = round(time.perf_counter() - start, 2)
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            for row in rows:
                context = {"checkpoint": checkpoint, "checkpoint_epoch": epoch, "step": step, "representation": rep,
                           "eval_wall_s": eval_wall, "timestamp": stamp}
                records.append(record(base, context, {**({"model_diagnostics": diagnostics} if diagnostics else {}),
                                                      **row}))
    write_records(run_dir, records)
    return records
