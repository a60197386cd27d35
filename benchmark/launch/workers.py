"""Packed runs: several runs of a sweep at once on one machine, each in its own process.

One run rarely fills a machine: a GWAE step on an H200 is bound by kernel launches, and on a
CPU torch's threads stop scaling after a few cores. ``run --jobs N`` (and ``--runs-per-task K``
inside a SLURM array element) trains up to N runs at once in separate processes, each with
``cores / N`` torch threads (``benchmark.run.threads``) and, where several GPUs are visible, its own
GPU in turn (runs may share one). A run's records do not depend on what runs beside it: every
run seeds itself from its config, exactly as when the runs go one by one (tested).
"""

from __future__ import annotations

import multiprocessing
import socket
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.launch import state
from benchmark.launch.planning import RunSpec
from benchmark.records.io import write_json
from benchmark.run import threads
from benchmark.run.folder import RunFolder
from core.errors import BenchmarkError, OutputError

if TYPE_CHECKING:
    from benchmark.run.runner import SuiteData

_DATA_CACHE: dict[tuple[str, str, str | None], Any] = {}


@dataclass(frozen=True)
class Outcome:
    run_id: str
    records: list[dict[str, Any]] | None  # None when the run failed
    error: str = ""


def device_slots(device: str, jobs: int) -> list[str]:
    """The device of each of ``jobs`` slots: GPUs in turn where several are visible, else one device for all."""
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(jobs)] if n > 1 else ["cuda"] * jobs
    return [device] * jobs


def record_failure(run_dir: Path, run_id: str, job: str, exc: BaseException) -> str:
    """Keep why a run failed in its folder (``error.json``, shown by ``status``); return the one-line reason."""
    reason = (str(exc) if isinstance(exc, BenchmarkError) else f"{type(exc).__name__}: {exc}").splitlines()[0][:300]
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(RunFolder(run_dir).error, {
        "run_id": run_id, "job": job, "host": socket.gethostname(), "time": state.now(),
        "error": reason, "traceback": traceback.format_exc(),
    })
    return reason


def run_one(
    spec: RunSpec, out: str | Path, data_root: str | Path | None, device: str, job: str = "local",
    data: SuiteData | None = None, progress: bool = False, progress_desc: str | None = None,
) -> Outcome:
    """Train and score one run in this process: the one place a run is executed and its failure recorded
    (serial runs, packed workers and SLURM elements all come here), so every path fails alike.

    An ``OutputError`` is raised: the results folder itself is unusable, so every later run would fail the same
    way and the sweep stops (from a worker it reaches the parent through its future). Any other failure is kept
    in the run folder (``error.json``) and returned: one failing run never stops the others.
    """
    from benchmark.run import runner
    from benchmark.run.trainer import resolve_device

    try:
        if data is None:
            key = (spec.suite, spec.preset, data_root and str(data_root))
            if key not in _DATA_CACHE:
                _DATA_CACHE[key] = runner.load_suite_data(spec.config, data_root and Path(data_root))
            data = _DATA_CACHE[key]
        records = runner.execute(spec, Path(out), data, resolve_device(device), progress=progress,
                                 progress_desc=progress_desc)
    except OutputError:
        raise
    except Exception as exc:
        return Outcome(spec.run_id, None, record_failure(Path(out) / spec.run_id, spec.run_id, job, exc))
    return Outcome(spec.run_id, records)


def _init_worker(policy: threads.ThreadPolicy) -> None:
    threads.apply(policy)


def run_packed(
    specs: list[RunSpec], out: Path, data_root: Path | None, device: str, jobs: int,
    policy: threads.ThreadPolicy, job: str = "local",
) -> Iterator[Outcome]:
    """Run ``specs`` in ``jobs`` worker processes (spawned: no CUDA or thread state inherited); yields
    each run's outcome as it finishes. Slot i's runs use ``device_slots(device, jobs)[i % jobs]``. A worker's
    ``OutputError`` is raised here and stops the others, as it stops a serial sweep."""
    slots = device_slots(device, jobs)
    ctx = multiprocessing.get_context("spawn")
    root = data_root and str(data_root)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(policy,)) as pool:
        futures = [pool.submit(run_one, spec, str(out), root, slots[i % jobs], job) for i, spec in enumerate(specs)]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:  # interrupted (SIGINT, SIGTERM) or the output unusable: no worker trains on without us
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            raise
