"""The SLURM launcher: job arrays through submitit, one checkpointable element per run (or per pack of runs).

Every element is an ``ArrayElement``: a picklable submitit ``Checkpointable`` whose ``checkpoint()`` resubmits
itself, so a preempted, timed-out or requeued element runs the same runs again, which resume from
``checkpoint_last.pt`` in their run folders (no finished epoch is lost). With ``--runs-per-task K`` an element
trains K runs at once, sharing its CPUs and GPU (``benchmark.launch.workers``).
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submitit.helpers import Checkpointable, DelayedSubmission

from benchmark.config.run_config import RunSpec
from benchmark.launch import workers
from benchmark.launch.base import LAUNCHERS, Launcher, Record, headline_line
from benchmark.run import runner, threads
from benchmark.run.folder import RunFolder
from benchmark.run.runner import SuiteData
from core.errors import BenchmarkError


@dataclass
class ArrayElement(Checkpointable):
    """One array element: train (or resume) and score one run; on failure, leave ``error.json`` behind.

    Picklable (plain fields) and checkpointable: submitit calls ``checkpoint`` on preemption or
    timeout and requeues what it returns, i.e. this same element for the same run.
    """

    out: str
    data_root: str | None
    device: str = "auto"
    threads: int | None = None

    def __call__(self, specs: RunSpec | list[RunSpec]) -> dict[str, Any]:
        """Train (or resume) one run, or a packed list of runs in as many worker processes."""
        pack = specs if isinstance(specs, list) else [specs]
        for spec in pack:
            RunFolder(Path(self.out) / spec.run_id).error.unlink(missing_ok=True)
        policy = threads.policy(len(pack), self.threads)
        job = os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", "?"))
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        job = f"{job}_{task}" if task else job
        print(f"{' '.join(s.run_id for s in pack)}: job {job} on {socket.gethostname()}, restart "
              f"{os.environ.get('SLURM_RESTART_COUNT', '0')}, {policy.describe()} torch thread(s) per run", flush=True)
        if len(pack) == 1:
            threads.apply(policy)
            outcomes = [workers.run_one(pack[0], self.out, self.data_root, self.device, job)]
        else:
            outcomes = list(workers.run_packed(pack, Path(self.out), self.data_root and Path(self.data_root),
                                               self.device, len(pack), policy, job))
        for o in outcomes:
            print(f"{o.run_id}: {headline_line(pack[0].suite, o.records) if o.records is not None else o.error}",
                  flush=True)
        failed = [o for o in outcomes if o.records is None]
        if failed:  # the element fails (SLURM shows it); each run's reason is in its error.json
            raise RuntimeError("; ".join(f"{o.run_id}: {o.error}" for o in failed))
        return {"run_ids": [o.run_id for o in outcomes], "records": sum(len(o.records or []) for o in outcomes)}

    def checkpoint(self, specs: RunSpec | list[RunSpec]) -> DelayedSubmission:
        """Requeue this element as it is: unfinished runs resume from their last checkpoint, finished ones skip."""
        return DelayedSubmission(self, specs)


#: SLURM job states (squeue %T) -> our states; anything not listed that is not COMPLETED is a failure.
SLURM_ACTIVE = {
    "PENDING": "pending", "REQUEUED": "pending", "REQUEUE_HOLD": "pending", "REQUEUE_FED": "pending",
    "CONFIGURING": "pending", "SUSPENDED": "pending", "RESV_DEL_HOLD": "pending",
    "RUNNING": "running", "COMPLETING": "running", "STAGE_OUT": "running", "SIGNALING": "running",
    "RESIZING": "running", "STOPPED": "running",
}
DEFAULT_TIME_MIN = 60
MAX_TIMEOUT_REQUEUES = 10  # submitit's max_num_timeout: time-limit requeues per element
SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's own default, when scontrol cannot tell


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return proc.stdout if proc.returncode == 0 else ""


@LAUNCHERS.register("slurm", "submit SLURM job arrays through submitit and return at once")
class SlurmLauncher(Launcher):
    name = "slurm"
    options = frozenset({"partition", "gpus_per_task", "cpus_per_task", "mem_gb", "time", "array_parallelism",
                         "max_array_size", "runs_per_task"})

    def check(self) -> None:
        missing = [tool for tool in ("sbatch", "srun", "squeue", "scontrol") if shutil.which(tool) is None]
        if missing:
            raise BenchmarkError(f"--launcher slurm needs the SLURM client tools; not on PATH: {', '.join(missing)} "
                                 "(run it on a login node, or start a local cluster: slurm/README.md)")
        if self.opts.device not in ("auto", "cpu", "cuda"):
            raise BenchmarkError(f"unknown device {self.opts.device!r} (use cpu, cuda or auto)")
        for name in ("gpus_per_task", "cpus_per_task", "mem_gb", "time", "array_parallelism", "max_array_size",
                     "runs_per_task"):
            value = getattr(self.opts, name)
            if value is not None and value < (0 if name == "gpus_per_task" else 1):
                raise BenchmarkError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        partition = self.opts.partition
        if partition and not _run(["sinfo", "-h", "-p", partition, "-o", "%P"]).strip():
            known = " ".join(_run(["sinfo", "-h", "-o", "%P"]).replace("*", "").split()) or "none"
            raise BenchmarkError(f"unknown SLURM partition {partition!r} (known: {known})")

    def max_array_size(self) -> int:
        """Elements per array: the cluster's MaxArraySize (or --max-array-size, if smaller)."""
        found = re.search(r"MaxArraySize\s*=\s*(\d+)", _run(["scontrol", "show", "config"]))
        size = int(found.group(1)) if found else SLURM_DEFAULT_MAX_ARRAY_SIZE
        return min(size, self.opts.max_array_size or size)

    def executor(self, sweep_id: str) -> Any:
        import submitit

        opts = self.opts
        ex = submitit.SlurmExecutor(folder=opts.out.resolve() / "slurm", max_num_timeout=MAX_TIMEOUT_REQUEUES)
        project = Path(runner.__file__).resolve().parents[1]
        setup = [f"export PYTHONPATH={project}${{PYTHONPATH:+:$PYTHONPATH}}"]
        params: dict[str, Any] = {"job_name": sweep_id, "time": opts.time or DEFAULT_TIME_MIN, "setup": setup}
        optional = {"partition": opts.partition, "gpus_per_task": opts.gpus_per_task,
                    "cpus_per_task": opts.cpus_per_task, "array_parallelism": opts.array_parallelism,
                    "mem": f"{opts.mem_gb}GB" if opts.mem_gb else None}
        ex.update_parameters(**params, **{k: v for k, v in optional.items() if v is not None})
        return ex

    def launch(self, sweep_id: str, specs: list[RunSpec], data: SuiteData, record: Record) -> None:
        from submitit.core.utils import FailedJobError, FailedSubmissionError

        self.submitted: list[str] = []
        if not specs:
            return
        ex = self.executor(sweep_id)
        element = ArrayElement(str(self.opts.out.resolve()), self.opts.data_root and str(self.opts.data_root.resolve()),
                               self.opts.device, self.opts.threads)
        k = self.opts.runs_per_task or 1
        packs = [specs[i:i + k] for i in range(0, len(specs), k)]
        size = self.max_array_size()
        for start in range(0, len(packs), size):
            chunk = packs[start:start + size]
            try:
                jobs = ex.map_array(element, chunk if k > 1 else [p[0] for p in chunk])
            except (FailedJobError, FailedSubmissionError, OSError) as exc:
                message = " ".join(str(exc).split())[:400]
                raise BenchmarkError(f"sbatch refused the array ({len(self.submitted)} array(s) were submitted "
                                     f"before): {message}") from None
            array_id = jobs[0].job_id.split("_")[0]
            self.submitted.append(array_id)
            record({s.run_id: j.job_id for p, j in zip(chunk, jobs, strict=True) for s in p},
                   [{"job_id": array_id, "size": len(chunk), "run_ids": [s.run_id for p in chunk for s in p]}])

    def report(self, sweep_id: str, suite: str) -> None:
        out = self.opts.out
        if not self.submitted:
            print(f"sweep {sweep_id}: nothing to submit")
            return
        print(f"sweep {sweep_id}: submitted as SLURM job array(s) {', '.join(self.submitted)}")
        print(f"  follow:  python -m benchmark status --out {out} --sweep-id {sweep_id}")
        print(f"  collect: python -m benchmark collect --out {out} --wait")
        print(f"  logs:    {out / 'slurm'}/<job>_<element>_0_log.{{out,err}}")

    @classmethod
    def queue_states(cls, jobs: list[str]) -> dict[str, tuple[str, str]]:
        if not jobs or shutil.which("squeue") is None:
            return {}
        wanted = set(jobs)
        states = {}
        listing = _run(["squeue", "-h", "-r", "-t", "all", "-u", getpass.getuser(), "-o", "%i|%T|%r"])
        for line in listing.splitlines():
            job, _, rest = line.partition("|")
            state, _, reason = rest.partition("|")
            if job not in wanted or state == "COMPLETED":
                continue
            detail = f"{state}" + (f" ({reason})" if reason and reason != "None" else "")
            states[job] = (SLURM_ACTIVE.get(state, "failed"), detail)
        return states

    @classmethod
    def log_path(cls, out: Path, job: str | None) -> Path | None:
        return None if job is None else Path(out) / "slurm" / f"{job}_0_log.err"
