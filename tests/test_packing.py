"""Packed runs (--jobs, --runs-per-task) and the thread policy."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.launch import cost, planning
from benchmark.records.io import read_records
from benchmark.run import threads
from benchmark.run.folder import RunFolder
from tests.scores import values

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--suite", "ood", "--preset", "smoke", "--models", "vae,dagmm", "--seeds", "0,1", "--no-progress"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


def test_policy_divides_the_usable_cores_among_packed_runs(monkeypatch):
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert threads.policy(1).threads == 8
    assert threads.policy(3).threads == 2 and "8 cores (affinity) / 3" in threads.policy(3).reason
    assert threads.policy(16).threads == 1  # never below one
    assert threads.policy(4, threads=5) == threads.ThreadPolicy(5, "--threads")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    assert threads.policy(2).threads == 2 and "SLURM_CPUS_PER_TASK" in threads.policy(2).reason
    with pytest.raises(ValueError):
        threads.policy(0)


def test_pack_fills_the_first_free_slot_and_bounds_the_wall_time():
    slots, wall = cost.pack([10, 4, 4, 4, 2], jobs=2)
    assert slots == [0, 1, 1, 1, 0] and wall == 12  # slot 1 takes 4, 4, 4 while slot 0 runs the 10
    assert cost.pack([3, 3], jobs=1) == ([0, 0], 6)
    assert cost.pack([], jobs=3) == ([], 0.0)


def _values(out: Path) -> dict:
    return values(read_records(out))


@pytest.mark.slow
def test_packed_runs_write_the_records_of_one_by_one_runs(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    first = cli("run", *SMOKE, "--threads", "1", "--out", str(one))
    assert first.returncode == 0, first.stderr
    packed = cli("run", *SMOKE, "--threads", "1", "--jobs", "2", "--out", str(two))
    assert packed.returncode == 0, packed.stderr
    assert "4 run(s) to train on cpu, 2 at a time, 1 (--threads)" in packed.stderr
    records = read_records(two)
    assert _values(one) == _values(two)
    assert {r["hardware"]["thread_policy"] for r in records} == {"1 (--threads)"}
    assert {r["hardware"]["torch_threads"] for r in records} == {1}


@pytest.mark.slow
def test_one_failing_packed_run_leaves_the_others_finished_and_its_reason_in_status(tmp_path):
    specs = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0, 1]))
    broken = tmp_path / specs[1].run_id
    broken.mkdir(parents=True)
    # a checkpoint holding an object that is not a tensor, number or string is refused: seed 1 fails
    torch.save({"epoch": 1, "payload": argparse.Namespace(a=1)}, broken / "checkpoint_last.pt")
    proc = cli("run", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--seeds", "0,1", "--jobs", "2",
               "--threads", "1", "--no-progress", "--out", str(tmp_path))
    assert proc.returncode == 1 and "1 run(s) failed" in proc.stderr
    assert (tmp_path / specs[0].run_id / "records.jsonl").exists()
    error = json.loads((broken / RunFolder.ERROR).read_text())
    assert error["run_id"] == specs[1].run_id and error["error"]
    status = cli("status", "--out", str(tmp_path))
    assert specs[1].run_id in status.stdout and "failed" in status.stdout


def test_plan_shows_the_packing(tmp_path, capsys):
    from benchmark.cli import main

    out = tmp_path / "runs"  # an empty results folder: every run is to launch, whatever the checkout's runs/ holds
    assert main(["plan", "--suite", "ood", "--preset", "smoke", "--jobs", "2", "--json", "--out", str(out)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["jobs"] == 2 and {r["slot"] for r in plan["runs"]} == {0, 1}
    assert 0 < plan["packed_wall_s_lower"] < sum(r["est_s"] for r in plan["runs"])


def test_jobs_is_an_option_of_the_local_launcher_only(tmp_path, capsys):
    from benchmark.cli import main

    assert main(["run", "--suite", "ood", "--preset", "smoke", "--launcher", "slurm", "--jobs", "2",
                 "--out", str(tmp_path)]) == 2
    assert "--jobs: not an option of --launcher slurm" in capsys.readouterr().err


@pytest.mark.parametrize("jobs", [1, pytest.param(2, marks=pytest.mark.slow)], ids=["serial", "jobs2"])
def test_an_unusable_output_stops_the_sweep_on_every_path_and_other_failures_are_kept_per_run(tmp_path, jobs):
    """The one failure rule of ``workers.run_one``: an ``OutputError`` reaches the caller (from a worker too);
    any other failure is recorded in its run folder and the sweep goes on."""
    from benchmark.launch.base import LaunchOptions
    from benchmark.launch.local import LocalLauncher
    from benchmark.run import runner
    from core.errors import OutputError

    specs = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0, 1]))
    data = runner.load_suite_data(specs[0].config, None)
    launcher = LocalLauncher(LaunchOptions(out=tmp_path, device="cpu", progress=False, threads=1, jobs=jobs))
    launcher.check()
    for spec in specs:  # a run folder that is a file: the folder cannot be created
        (tmp_path / spec.run_id).write_text("")
    with pytest.raises(OutputError, match="cannot create folder"):
        launcher.launch("sweep", specs, data, lambda jobs, arrays: None)
    for spec in specs:  # ... and a refused checkpoint: that run fails, alone
        (tmp_path / spec.run_id).unlink()
        (tmp_path / spec.run_id).mkdir()
        torch.save({"epoch": 1, "payload": argparse.Namespace(a=1)}, tmp_path / spec.run_id / "checkpoint_last.pt")
    launcher.launch("sweep", specs, data, lambda jobs, arrays: None)
    assert sorted(launcher.failed) == sorted(s.run_id for s in specs)
    for spec in specs:
        assert json.loads(RunFolder(tmp_path / spec.run_id).error.read_text())["run_id"] == spec.run_id


def test_scoring_seconds_are_each_runs_distinct_passes_summed_and_the_median_over_runs(tmp_path):
    from benchmark.records.io import write_records

    def passes(run_id, walls, budget_walls):
        common = {"run_id": run_id, "suite": "generation", "preset": "default"}
        rows = [{**common, "checkpoint": c, "representation": r, "metric": m, "eval_wall_s": w}
                for (c, r), w in walls.items() for m in ("fid", "psnr")]  # two rows per pass: counted once
        write_records(tmp_path / run_id, rows)
        write_records(tmp_path / run_id, [{**common, "checkpoint": "step", "representation": "mean", "step": s,
                                           "eval_wall_s": w} for s, w in budget_walls.items()], RunFolder.TRAJECTORY)

    passes("a", {("best", "mean"): 10.0, ("last", "mean"): 20.0}, {100: 5.0, 200: 5.0})  # 40 s
    passes("b", {("best", "mean"): 30.0}, {})  # 30 s
    passes("c", {("best", "mean"): 100.0}, {100: 0.5})  # 100.5 s
    assert cost.measured_scoring_seconds(tmp_path) == {"generation/default": (40.0, 3)}
    spec = planning.plan("generation", "smoke", models=["vae"])[0]
    (row,) = cost.estimate([spec], 512, tmp_path / "empty")
    assert row["score_s"] == cost.SCORING_SECONDS["generation/smoke"] and row["score_source"].startswith("table")
    assert row["est_s"] == row["train_s"] + row["score_s"]
