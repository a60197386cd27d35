"""Thread policy: how many torch threads a run gets, from the cores this process may use.

torch's default is one thread per visible core whatever else runs there; on 2 cores shared
with another job a step was 6-7.5x slower than with one thread. So a run takes the cores it
may use (CPU affinity, capped by ``SLURM_CPUS_PER_TASK`` where SLURM set it) divided among the
runs packed beside it (``--jobs`` / ``--runs-per-task``), unless ``--threads`` says otherwise.
The policy applied is recorded in every record (``hardware.thread_policy``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_applied: ThreadPolicy | None = None


@dataclass(frozen=True)
class ThreadPolicy:
    threads: int
    reason: str  # e.g. "2 cores (affinity) / 2 packed runs"

    def describe(self) -> str:
        return f"{self.threads} ({self.reason})"


def usable_cores() -> tuple[int, str]:
    """Cores this process may run on, and where the number comes from."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    source = "affinity"
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and 0 < int(slurm) < cores:
        cores, source = int(slurm), "SLURM_CPUS_PER_TASK"
    return cores, source


def policy(packed: int = 1, threads: int | None = None) -> ThreadPolicy:
    """Threads per run: ``threads`` if given, else usable cores // ``packed`` (at least 1)."""
    if packed < 1:
        raise ValueError(f"packed runs must be >= 1, got {packed}")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        return ThreadPolicy(threads, "--threads")
    cores, source = usable_cores()
    per_run = max(1, cores // packed)
    return ThreadPolicy(per_run, f"{cores} cores ({source}) / {packed} packed run(s)")


def apply(p: ThreadPolicy) -> ThreadPolicy:
    """Set torch's intra-op threads (and the BLAS pools' via the usual variables, for child processes)."""
    global _applied
    import torch

    torch.set_num_threads(p.threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(p.threads)
    _applied = p
    return p


def applied() -> str:
    """The policy in force, for records ('torch default' where none was applied)."""
    return _applied.describe() if _applied is not None else "torch default"
