"""Sweeps at run time: their metadata (runs, submissions, job ids) and the state of their runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmark.config.run_config import RunSpec
from benchmark.launch.planning import Sweep
from benchmark.records.io import run_records, write_json
from benchmark.run import heartbeat
from benchmark.run.folder import RunFolder
from core.config import config_hash
from core.errors import BenchmarkError

SWEEPS_DIR = "sweeps"
STATES = ("done", "running", "pending", "failed", "missing")


def sweep_id(suite: str, specs: list[RunSpec]) -> str:
    return f"{suite}-{config_hash({'runs': sorted(s.run_id for s in specs)}, 10)}"



# -- metadata ----------------------------------------------------------------------------------
def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def meta_path(out: Path, sid: str) -> Path:
    return Path(out) / SWEEPS_DIR / f"{sid}.json"


def new_meta(sid: str, sweep: Sweep, specs: list[RunSpec]) -> dict[str, Any]:
    return {
        "sweep_id": sid, "suite": sweep.suite, "preset": sweep.preset, "created": now(),
        "source": sweep.source or "command-line flags", "runs": {s.run_id: s.describe() for s in specs},
        "submissions": [], "jobs": {},
    }


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
        meta["created"], meta["runs"], meta["jobs"]  # noqa: B018 - the fields every reader needs
        return meta
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchmarkError(f"{path}: not valid sweep metadata ({type(exc).__name__}); move it away") from None


def load_meta(out: Path, sid: str) -> dict[str, Any] | None:
    path = meta_path(out, sid)
    return _read_meta(path) if path.exists() else None


def all_metas(out: Path) -> list[dict[str, Any]]:
    """Every sweep stored under ``out``, oldest first."""
    paths = sorted((Path(out) / SWEEPS_DIR).glob("*.json"))
    return sorted((_read_meta(p) for p in paths), key=lambda m: m["created"])


def record_submission(out: Path, meta: dict[str, Any], launcher: str, options: dict[str, Any],
                      jobs: dict[str, str | None], arrays: list[dict[str, Any]],
                      submission: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store the runs, job ids and array chunks of a submission in the sweep metadata, atomically.

    A launcher that submits several arrays records each as soon as it is accepted (so a later
    refusal loses no job id); passing the returned ``submission`` back adds them to the same one.
    """
    stamp = now()
    if submission is None:
        submission = {"time": stamp, "launcher": launcher, "options": options, "run_ids": [], "arrays": []}
        meta["submissions"].append(submission)
    submission["run_ids"] += list(jobs)
    submission["arrays"] += arrays
    for run_id, job in jobs.items():
        meta["jobs"][run_id] = {"launcher": launcher, "job": job, "time": stamp}
    write_json(meta_path(out, meta["sweep_id"]), meta)
    return submission


def latest_jobs(out: Path) -> dict[str, dict[str, Any]]:
    """run id -> its most recent job across every sweep in ``out`` (a run can belong to several)."""
    jobs: dict[str, dict[str, Any]] = {}
    for meta in all_metas(out):
        for run_id, job in meta["jobs"].items():
            if run_id not in jobs or job["time"] >= jobs[run_id]["time"]:
                jobs[run_id] = job
    return jobs


# -- state -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunState:
    run_id: str
    state: str  # one of STATES
    job: str | None = None
    detail: str = ""


def run_state(out: Path, run_id: str, entry: dict[str, Any] | None, queued: tuple[str, str] | None) -> RunState:
    """done (records exist) > pending/running (in the queue, or a live heartbeat) > failed (error file or
    failed job) > missing.

    ``entry`` is the run's latest submission (``latest_jobs``), ``queued`` its queue state from the launcher.
    """
    folder = RunFolder(Path(out) / run_id)
    job = entry["job"] if entry else None
    damaged = ""
    if folder.records.exists():
        try:
            run_records(folder.records)
            return RunState(run_id, "done", job)
        except BenchmarkError as exc:
            damaged = f"; {folder.RECORDS}: {exc} (`run` re-scores it)"
    if queued and queued[0] in ("pending", "running"):
        return RunState(run_id, queued[0], job, queued[1])
    live = heartbeat.running(folder.path)
    if live:
        return RunState(run_id, "running", job, live)
    if folder.error.exists():
        try:
            error = json.loads(folder.error.read_text()).get("error", "see the log")
        except (OSError, ValueError, AttributeError):
            error = f"see the log ({folder.ERROR} is unreadable)"
        return RunState(run_id, "failed", job, error)
    if queued and queued[0] == "failed":
        return RunState(run_id, "failed", job, queued[1])
    partial = f"; {folder.LAST} kept for resuming" if folder.checkpoint("last").exists() else ""
    why = "never submitted" if entry is None else f"launched ({entry['launcher']}), not queued, no whole records"
    return RunState(run_id, "missing", job, why + partial + damaged)


def counts(states: list[RunState]) -> dict[str, int]:
    return {name: sum(s.state == name for s in states) for name in STATES}


def counts_line(states: list[RunState]) -> str:
    """'2 done, 1 failed': the states that occur, in ``STATES`` order."""
    return ", ".join(f"{n} {name}" for name, n in counts(states).items() if n)
