"""The SLURM launcher against a real SLURM: submit, status, collect, rerun, retry, requeue.

Needs ``sbatch`` and a running cluster: ``bash slurm/start-local-slurm.sh`` starts a one-node SLURM on
loopback (as root). Skipped only when ``sbatch`` is absent and ``$CI`` is unset: in CI these run.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.launch import planning, state
from benchmark.records.io import read_records
from tests.hold import held

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.slurm,
    pytest.mark.skipif(shutil.which("sbatch") is None and not os.environ.get("CI"),
                       reason="no sbatch on PATH (start a local SLURM: bash slurm/start-local-slurm.sh)"),
]
TIMEOUT = 600
SMOKE = ["--suite", "ood", "--preset", "smoke", "--models", "vae", "--seeds", "0,1,2"]
SLURM = ["--launcher", "slurm", "--cpus-per-task", "1", "--time", "20"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT + 60, env={**os.environ, **(env or {})})


def wait_until(done, what: str) -> None:
    """Until ``done()`` (an event: a file, a job state); no wall-clock budget, so a busy machine only waits longer."""
    while not done():
        time.sleep(0.1)


def collect(out: Path) -> subprocess.CompletedProcess:
    return cli("collect", "--out", str(out), "--wait", "--poll", "1", "--timeout", str(TIMEOUT))


def only_meta(out: Path) -> dict:
    (meta,) = state.all_metas(out)
    return meta


def values(out: Path) -> dict:
    return {(r["checkpoint"], r["representation"], r["metric"]): r["value"] for r in read_records(out)}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Three seeds in arrays of at most 2; seed 2 fails (its run folder holds a checkpoint of the older, unsafe
    format, which is refused). Training is held after epoch 1 until ``run`` has returned."""
    out = tmp_path_factory.mktemp("slurm-smoke")
    specs = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0, 1, 2]))
    broken = out / specs[2].run_id / "checkpoint_last.pt"
    broken.parent.mkdir(parents=True)
    torch.save({"model": {}, "rng": np.random.get_state()}, broken)
    hold = out.parent / f"{out.name}-hold"
    submitted = cli("run", *SMOKE, *SLURM, "--max-array-size", "2", "--out", str(out), env=held(hold))
    assert submitted.returncode == 0, submitted.stderr
    unfinished = [s.run_id for s in specs if not (out / s.run_id / "records.jsonl").exists()]
    (hold / "hold").unlink()
    collected = collect(out)
    return {"out": out, "specs": specs, "submitted": submitted, "unfinished": unfinished,
            "collected": collected, "broken": broken}


def test_smoke_sweep_is_submitted_as_arrays_and_returns_at_once(smoke):
    meta = only_meta(smoke["out"])
    assert smoke["submitted"].stdout.startswith(f"sweep {meta['sweep_id']}: submitted")
    assert f"status --out {smoke['out']}" in smoke["submitted"].stdout
    assert len(smoke["unfinished"]) == 3  # returned while every run was held mid-training (or had failed)
    (submission,) = meta["submissions"]
    assert [a["size"] for a in submission["arrays"]] == [2, 1]  # split at --max-array-size
    assert set(meta["jobs"]) == {s.run_id for s in smoke["specs"]}
    first = submission["arrays"][0]["job_id"]
    assert [meta["jobs"][r]["job"] for r in submission["arrays"][0]["run_ids"]] == [f"{first}_0", f"{first}_1"]


def test_collect_gathers_the_elements_and_reports_the_failing_one(smoke):
    out, specs, collected = smoke["out"], smoke["specs"], smoke["collected"]
    assert collected.returncode == 1, collected.stderr  # not every run finished
    failed = [line for line in collected.stderr.splitlines() if line.strip().startswith("failed")]
    assert len(failed) == 1 and specs[2].run_id in failed[0] and "log:" in failed[0]
    assert "collected 2 of 3 run(s): 2 done, 1 failed" in collected.stderr
    for spec in specs[:2]:  # concurrent elements: every record of every finished run is there
        records = read_records(out / spec.run_id)
        assert {(r["checkpoint"], r["representation"]) for r in records} == {
            *((c, r) for c in ("best", "last") for r in ("mean", "sample")), ("none", "pixels")}  # + references
        assert {r["run_id"] for r in records} == {spec.run_id}
    board = pd.read_csv(out / "ood" / "leaderboard.csv")
    assert set(board.n_seeds) == {2} and (out / "summary.csv").exists()
    status = cli("status", "--out", str(out))
    assert status.returncode == 0 and "1 failed" in status.stdout and "2 done" in status.stdout
    log = Path(failed[0].split("log: ")[1])
    assert log.exists() and "Traceback" in log.read_text()


def test_rerun_submits_nothing(smoke):
    out = smoke["out"]
    before = (len(only_meta(out)["submissions"]), sorted(os.listdir(out / "slurm")))
    again = cli("run", *SMOKE, *SLURM, "--max-array-size", "2", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "nothing to submit" in again.stdout and "1 failed run(s) left alone" in again.stderr
    assert (len(only_meta(out)["submissions"]), sorted(os.listdir(out / "slurm"))) == before


def test_retry_failed_resubmits_the_failed_element_alone(smoke):
    out, specs = smoke["out"], smoke["specs"]
    smoke["broken"].unlink()
    retry = cli("run", *SMOKE, *SLURM, "--retry-failed", "--out", str(out))
    assert retry.returncode == 0, retry.stderr
    assert only_meta(out)["submissions"][-1]["run_ids"] == [specs[2].run_id]
    collected = collect(out)
    assert collected.returncode == 0, collected.stderr
    assert set(pd.read_csv(out / "ood" / "leaderboard.csv").n_seeds) == {3}


#: How an element is interrupted: a plain requeue (SLURM kills it and queues it again), or the signal SLURM
#: sends before preemption or the time limit, on which submitit calls ``ArrayElement.checkpoint`` and requeues.
INTERRUPTIONS = {
    "requeued": ["scontrol", "requeue"],
    "preempted": ["scancel", "--signal=USR2"],
}


def test_requeued_or_preempted_elements_resume_from_their_checkpoint_with_the_same_metrics(tmp_path):
    # each interrupted element is held after epoch 1 (a marker file says so) until it has been requeued, so
    # the interruption always lands mid-training, however loaded the machine
    sweep = tmp_path / "long.toml"
    sweep.write_text('suite = "ood"\npreset = "smoke"\nmodels = ["vae"]\nseeds = [0]\n'
                     "[train]\nmax_epochs = 4\nsteps_per_epoch = 4\npatience = 4\n")
    (spec,) = planning.expand(planning.load_sweep(sweep))
    outs = {name: tmp_path / name for name in (*INTERRUPTIONS, "reference")}
    holds = {name: tmp_path / f"{name}-hold" for name in INTERRUPTIONS}
    for name, out in outs.items():
        proc = cli("run", "--sweep", str(sweep), *SLURM, "--out", str(out),
                   env=held(holds[name]) if name in holds else None)
        assert proc.returncode == 0, proc.stderr
    for name, command in INTERRUPTIONS.items():
        job = only_meta(outs[name])["jobs"][spec.run_id]["job"]
        wait_until((holds[name] / f"{spec.run_id}.epoch1").exists, f"{name}: epoch 1")
        subprocess.run([*command, job], check=True)
        wait_until(lambda job=job: "PENDING" in subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"],
                                                               capture_output=True, text=True).stdout,
                   f"{name}: the job to be requeued")
        (holds[name] / "hold").unlink()  # the requeued element trains to the end
        # SLURM holds a requeued job for about 2 minutes (BeginTime); release it now
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    for out in outs.values():
        proc = collect(out)
        assert proc.returncode == 0, proc.stderr
    reference = values(outs["reference"])
    assert len(reference) >= 16
    for name in INTERRUPTIONS:
        train = json.loads((outs[name] / spec.run_id / "train.json").read_text())
        assert train["resumed_at"] == [1] and train["epochs"] == 4, name
        job = only_meta(outs[name])["jobs"][spec.run_id]["job"]
        assert "restart 1" in (outs[name] / "slurm" / f"{job}_0_log.out").read_text(), name
        assert values(outs[name]) == reference, name  # exactly, on CPU
    job = only_meta(outs["preempted"])["jobs"][spec.run_id]["job"]
    logs = "".join(p.read_text() for p in (outs["preempted"] / "slurm").glob(f"{job}_0_log.*"))
    assert "Calling checkpoint method" in logs  # submitit's checkpointing path was taken


def test_runs_per_task_packs_runs_into_one_element_sharing_its_cpus(tmp_path):
    submitted = cli("run", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--seeds", "0,1", *SLURM,
                    "--runs-per-task", "2", "--out", str(tmp_path))
    assert submitted.returncode == 0, submitted.stderr
    meta = only_meta(tmp_path)
    (submission,) = meta["submissions"]
    assert [a["size"] for a in submission["arrays"]] == [1]  # one element for the two runs
    assert len({meta["jobs"][r]["job"] for r in meta["runs"]}) == 1
    collected = collect(tmp_path)
    assert collected.returncode == 0, collected.stderr
    records = read_records(tmp_path)
    assert {r["seed"] for r in records} == {0, 1}
    assert all(r["hardware"]["thread_policy"].endswith("/ 2 packed run(s))") for r in records)
