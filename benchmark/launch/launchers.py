"""Every launcher, registered (``local``, ``slurm``), and what their queues and the run folders say of a sweep."""

from __future__ import annotations

from pathlib import Path

from benchmark.launch import local, slurm, state  # noqa: F401  (each registers its launcher)
from benchmark.launch.base import LAUNCHERS

__all__ = ["LAUNCHERS", "log_path", "sweep_states"]


def sweep_states(out: Path, run_ids: list[str]) -> list[state.RunState]:
    """The state of each run: its files, and the queue of the launcher that last launched it."""
    jobs = state.latest_jobs(out)
    by_launcher: dict[str, list[str]] = {}
    for run_id in run_ids:
        entry = jobs.get(run_id)
        if entry and entry["job"]:
            by_launcher.setdefault(entry["launcher"], []).append(entry["job"])
    queue: dict[str, tuple[str, str]] = {}
    for name, ids in by_launcher.items():
        queue.update(LAUNCHERS.get(name).queue_states(ids))
    return [state.run_state(out, r, jobs.get(r), queue.get((jobs.get(r) or {}).get("job"))) for r in run_ids]


def log_path(out: Path, run_id: str) -> Path | None:
    entry = state.latest_jobs(out).get(run_id)
    return LAUNCHERS.get(entry["launcher"]).log_path(out, entry["job"]) if entry else None
