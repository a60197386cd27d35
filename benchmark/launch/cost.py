"""What a sweep costs before and while it runs: measured seconds per training step, slot packing, ETA lines."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmark.config.run_config import RunSpec
from benchmark.records.io import iter_runs, read_records
from benchmark.run.folder import RunFolder

#: Training seconds per step (batch 64) by image shape and model, with how each was measured (a data file:
#: remeasuring a model edits numbers, not code). ``plan`` uses them only for models with no records in ``--out``.
STEP_COSTS = json.loads((Path(__file__).parent / "step_costs.json").read_text())
SECONDS_PER_STEP: dict[str, dict[str, float]] = STEP_COSTS["seconds_per_step"]
#: Scoring seconds per run (every checkpoint, code and kept budget) by ``suite/preset``: in the generation suite
#: they are as large as training for the VAE family, so a training-only estimate would halve the suite's cost.
SCORING_SECONDS: dict[str, float] = STEP_COSTS["scoring_seconds_per_run"]
#: The same under ``--precision bf16`` (``scripts/bench_models.py --precision bf16``); a shape or model it lacks
#: falls back to the fp32 table, said in the figure's source.
SECONDS_PER_STEP_BF16: dict[str, dict[str, float]] = STEP_COSTS.get("seconds_per_step_bf16", {})
FALLBACK_SECONDS_PER_STEP = 0.25  # a model missing from the table, at 1x28x28 (named in a warning: a guess)

def train_steps(spec: RunSpec, n_train: int) -> int:
    """Upper bound on training steps: max_epochs x steps per epoch (early stopping may stop sooner)."""
    train = spec.config.train
    per_epoch = n_train // train.batch_size
    return train.max_epochs * min(per_epoch, train.steps_per_epoch or per_epoch)


def _shape_key(spec: RunSpec) -> str:
    return "x".join(str(v) for v in spec.config.data.image_shape)


def measured_seconds_per_step(out: Path) -> dict[tuple[str, str, str], tuple[float, int]]:
    """(model, image shape, precision) -> (median of wall_s / steps over the runs with records in ``out``, runs)."""
    if not Path(out).is_dir():
        return {}
    per_run: dict[str, tuple[tuple[str, str], float]] = {}
    for r in read_records(out, warn=False):
        if r.get("steps") and "data_config" in r and math.isfinite(r["wall_s"]):  # upgraded: NaN if never measured
            shape = "x".join(str(v) for v in r["data_config"]["image_shape"])
            per_run[r["run_id"]] = ((r["model"], shape, r["precision"]), r["wall_s"] / r["steps"])
    by_key: dict[tuple[str, str, str], list[float]] = {}
    for key, value in per_run.values():
        by_key.setdefault(key, []).append(value)
    return {key: (statistics.median(v), len(v)) for key, v in by_key.items()}


def measured_scoring_seconds(out: Path) -> dict[str, tuple[float, int]]:
    """``suite/preset`` -> (median over the runs in ``out`` of their scoring seconds, runs): the evaluation wall
    time of each scored checkpoint, code and kept budget, summed per run."""
    if not Path(out).is_dir():
        return {}
    per_run: dict[str, dict[tuple, float]] = {}
    keys: dict[str, str] = {}
    for name in (RunFolder.RECORDS, RunFolder.TRAJECTORY):
        for _, rows in iter_runs(out, name):
            for r in rows if isinstance(rows, list) else ():  # a damaged run is a string: not counted
                if isinstance(r.get("eval_wall_s"), int | float) and "run_id" in r:
                    passes = per_run.setdefault(r["run_id"], {})
                    passes[(r.get("checkpoint"), r.get("representation"), r.get("step"))] = r["eval_wall_s"]
                    keys[r["run_id"]] = f"{r.get('suite')}/{r.get('preset')}"
    by_key: dict[str, list[float]] = {}
    for run_id, passes in per_run.items():
        by_key.setdefault(keys[run_id], []).append(sum(passes.values()))
    return {key: (statistics.median(v), len(v)) for key, v in by_key.items()}


def estimate(specs: list[RunSpec], n_train: int, out: Path) -> list[dict[str, Any]]:
    """Steps, seconds per step (and where that figure comes from), scoring seconds and estimated seconds of each
    run; models with neither records in ``out`` nor a table entry get ``FALLBACK_SECONDS_PER_STEP``, named in
    one warning."""
    measured = measured_seconds_per_step(out)
    scoring = {**{k: (v, 0) for k, v in SCORING_SECONDS.items()}, **measured_scoring_seconds(out)}
    rows = []
    guessed: list[str] = []
    for spec in specs:
        shape, precision = _shape_key(spec), spec.config.train.precision
        if (spec.model, shape, precision) in measured:
            per_step, n = measured[(spec.model, shape, precision)]
            source = f"measured: median of {n} run(s) in {out}"
        else:
            tables = SECONDS_PER_STEP_BF16 if precision == "bf16" else SECONDS_PER_STEP
            if spec.model not in tables.get(shape, tables.get("1x28x28", {})):
                tables, precision = SECONDS_PER_STEP, "fp32"  # a bf16 figure not measured: the fp32 one
            table = tables.get(shape)
            scale = 1.0
            if table is None:
                c, h, w = spec.config.data.image_shape
                table, scale = tables["1x28x28"], c * h * w / 784
            per_step = table.get(spec.model, FALLBACK_SECONDS_PER_STEP) * scale
            source = f"table: 2-core CPU, {precision}" if spec.model in table else "fallback: not measured"
            source += "" if scale == 1.0 else f", scaled x{scale:.1f} by pixels"
            if spec.model not in table and spec.model not in guessed:
                guessed.append(spec.model)
        steps = train_steps(spec, n_train)
        score_s, n_scored = scoring.get(f"{spec.suite}/{spec.preset}", (0.0, 0))
        rows.append({"run_id": spec.run_id, "steps": steps, "s_per_step": per_step, "train_s": steps * per_step,
                     "score_s": score_s, "est_s": steps * per_step + score_s, "cost_source": source,
                     "score_source": (f"measured: median of {n_scored} run(s) in {out}" if n_scored
                                      else "table: 2-core CPU" if score_s else "not estimated: no figure")})
    if guessed:
        print(f"warning: no measured step cost for {', '.join(guessed)}: estimated at {FALLBACK_SECONDS_PER_STEP} s "
              "per step (at 1x28x28); measure them with scripts/bench_models.py and add them to "
              "benchmark/launch/cost.py", file=sys.stderr)
    return rows


def pack(seconds: list[float], jobs: int) -> tuple[list[int], float]:
    """Slot of each run when ``jobs`` run at once in the launcher's order (each takes the first free
    slot), and the wall time if packed runs do not slow each other (a lower bound: on shared cores each
    run gets cores / jobs threads, so the upper bound is the sequential sum)."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    free = [0.0] * jobs
    slots = []
    for t in seconds:
        k = min(range(jobs), key=free.__getitem__)
        slots.append(k)
        free[k] += t
    return slots, max(free, default=0.0)


def progress_line(k: int, costs: list[dict[str, Any]], models: list[str], measured: dict[str, float]) -> str:
    """'run k of n' and the ETA of runs k..n: their step budgets times the seconds per step measured in this
    sweep (``measured``: model -> wall seconds of its finished runs, scoring included, per training step),
    else ``estimate``'s training-only figure."""
    left = list(zip(costs[k - 1:], models[k - 1:], strict=True))
    eta = sum(c["steps"] * measured.get(m, c["s_per_step"]) for c, m in left)
    sources = sorted({"measured in this sweep" if m in measured else c["cost_source"].split(":")[0] for c, m in left})
    steps = sum(c["steps"] for c, _ in left)
    return (f"run {k} of {len(costs)}: sweep ETA about {duration(eta)} ({steps:,} training steps left; "
            f"seconds per step: {', '.join(sources)})")


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
