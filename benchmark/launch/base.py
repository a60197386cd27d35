"""What a launcher is: ``LaunchOptions``, the ``Launcher`` interface and its registry ``LAUNCHERS``, and the
state of a sweep's runs as the launchers' queues and the run folders tell it."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from benchmark.config.run_config import RunSpec
from benchmark.run.runner import SuiteData
from benchmark.suites import SUITES
from core.errors import BenchmarkError
from core.registry import Registry

#: ``record(jobs, arrays)``: store a submission (run id -> job id, array chunks) in the sweep metadata.
Record = Callable[[dict[str, Any], list[dict[str, Any]]], None]


@dataclass(frozen=True)
class LaunchOptions:
    out: Path
    data_root: Path | None = None
    device: str = "auto"
    progress: bool = True
    threads: int | None = None  # torch threads per run (default: the thread policy, benchmark.run.threads)
    # launcher-specific (None = not given); a launcher lists the ones it accepts in ``options``
    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem_gb: int | None = None
    time: int | None = None
    array_parallelism: int | None = None
    max_array_size: int | None = None
    jobs: int | None = None  # local: runs at once
    runs_per_task: int | None = None  # slurm: runs per array element

    def given(self) -> dict[str, Any]:
        """The launcher-specific options that were set."""
        common = {"out", "data_root", "device", "progress", "threads"}
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in common and getattr(self, f.name) is not None}


class Launcher(abc.ABC):
    name: ClassVar[str]
    #: The launcher-specific ``LaunchOptions`` fields this launcher understands.
    options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: LaunchOptions) -> None:
        self.opts = opts
        stray = sorted(set(opts.given()) - self.options)
        if stray:
            flags = ", ".join("--" + s.replace("_", "-") for s in stray)
            raise BenchmarkError(f"{flags}: not an option of --launcher {self.name}")

    @abc.abstractmethod
    def check(self) -> None:
        """Validate the environment before anything is written (raise BenchmarkError)."""

    @abc.abstractmethod
    def launch(self, sweep_id: str, specs: list[RunSpec], data: SuiteData, record: Record) -> None:
        """Execute (or submit) ``specs``, calling ``record`` with each submission's job ids."""

    @abc.abstractmethod
    def report(self, sweep_id: str, suite: str) -> None:
        """What to print after ``launch``."""

    @classmethod
    def queue_states(cls, jobs: list[str]) -> dict[str, tuple[str, str]]:
        """job id -> (pending | running | failed, detail) for the jobs the scheduler still knows."""
        return {}

    @classmethod
    def log_path(cls, out: Path, job: str | None) -> Path | None:
        return None


LAUNCHERS: Registry[type[Launcher]] = Registry("launcher")


def headline_line(suite_name: str, records: list[dict[str, Any]]) -> str:
    """The run's headline as one line of a launcher's progress ('done' where it has none)."""
    headline = SUITES.get(suite_name).headline
    lead = [r for r in records if headline.matches(r)]
    return f"{headline.metric} = {lead[0]['value']:.4f}" if lead else "done"


def seconds_per_step(records: list[dict[str, Any]]) -> float:
    """A finished run's wall seconds (training, across resumes, and each scoring pass) per training step."""
    scoring = {(r["checkpoint"], r["representation"]): r["eval_wall_s"] for r in records}
    return (records[0]["wall_s"] + sum(scoring.values())) / records[0]["steps"]
