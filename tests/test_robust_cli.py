"""The CLI under damage and interruption (issue 13): output locations, damaged records, older record schemas,
a failing run in a local sweep, two identical processes, SIGTERM/SIGINT, Ctrl-C of an in-process run.

Tests that interrupt a run synchronise on events (``tests.hold`` holds training after an epoch and leaves a
marker file), never on wall-clock budgets.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.cli import main
from benchmark.launch import planning, state
from benchmark.records.io import RECORDS, read_records, run_records, write_records
from tests import scores
from tests.hold import held, pythonpath

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--suite", "ood", "--preset", "smoke", "--models", "vae", "--no-progress", "--device", "cpu"]
RUN_ID = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0]))[0].run_id
pytestmark = pytest.mark.slow
IS_ROOT = os.geteuid() == 0


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until ``path`` exists (an event), failing if the process ends first (no wall-clock budget)."""
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    assert main(["run", *SMOKE, "--out", str(out)]) == 0
    return out


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")


@pytest.fixture
def location(request, tmp_path):
    """(--out, expected message) for each output-location problem; unmounts what it mounted."""
    kind = request.param
    mounted = tmp_path / "mnt"
    if kind == "file":
        (tmp_path / "f").write_text("mine")
        yield tmp_path / "f", "is a file, not a directory"
    elif kind == "file-parent":
        (tmp_path / "f").write_text("mine")
        yield tmp_path / "f" / "runs", "is a file, not a directory"
    elif kind == "read-only":
        if IS_ROOT:
            _mount_tmpfs(mounted, "size=2m,ro")
            yield mounted / "runs", "read-only file system"
        else:
            mounted.mkdir(mode=0o555)
            yield mounted / "runs", "permission denied"
    else:
        if not IS_ROOT:
            pytest.skip("a full disk needs a small tmpfs, which needs root")
        _mount_tmpfs(mounted, "size=2m")
        yield mounted / "runs", "no space left on the device (disk full)"
    if mounted.is_mount():
        subprocess.run(["umount", str(mounted)], check=True)


@pytest.mark.parametrize("location", ["file", "file-parent", "read-only", "full"], indirect=True)
def test_an_output_location_problem_is_one_line_and_leaves_nothing_half_written(location, capsys):
    out, message = location
    before = sorted(p for p in out.parent.rglob("*")) if out.parent.exists() else []
    assert main(["run", *SMOKE, "--out", str(out)]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert message in line
    if message.startswith("no space"):  # found at the failing write: complete files only, no temporary ones
        assert line.startswith("error: cannot write ") and ".pt: " in line
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
        for path in out.rglob("*.pt"):
            torch.load(path, weights_only=True)
    else:  # found before anything is written
        assert sorted(p for p in out.parent.rglob("*")) == before


DAMAGE = {
    "cut-at-a-line": lambda text: "".join(text.splitlines(keepends=True)[:-3]),
    "empty": lambda text: "",
    "malformed-line": lambda text: text.replace('"metric"', '"metric', 1),
    "edited-value": lambda text: text.replace('"value": ', '"value": 1', 1),
    "no-marker": lambda text: "".join(text.splitlines(keepends=True)[:-1]),
}


def _copy_run(src: Path, out: Path, seed: int | None = None) -> Path:
    run = shutil.copytree(src / RUN_ID, out / (RUN_ID if seed is None else f"{RUN_ID}-copy{seed}"))
    if seed is not None:  # a second, good run under another seed
        records = [{**r, "seed": seed, "run_id": run.name} for r in run_records(run / RECORDS)]
        write_records(run, records)
    return run


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_records_file_is_skipped_by_leaderboard_and_rescored_by_run(damage, smoke_run, tmp_path, capsys):
    out = tmp_path / "out"
    run = _copy_run(smoke_run, out)
    _copy_run(smoke_run, out, seed=1)
    (run / RECORDS).write_text(DAMAGE[damage]((run / RECORDS).read_text()))
    found = state.run_state(out, RUN_ID, None, None)
    assert found.state == "missing" and "re-scores it" in found.detail

    assert main(["leaderboard", "--out", str(out)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: skipping {run / RECORDS}: ")
    assert set(pd.read_csv(out / "ood" / "leaderboard.csv").seeds.astype(str)) == {"1"}

    last = (run / "checkpoint_last.pt").stat().st_mtime_ns
    assert main(["run", *SMOKE, "--out", str(out)]) == 0
    assert (run / "checkpoint_last.pt").stat().st_mtime_ns == last  # re-scored, not retrained
    assert values(run) == values(smoke_run / RUN_ID)


def values(run: Path) -> list[tuple]:
    return [(r["checkpoint"], r["representation"], r["metric"], r["value"]) for r in run_records(run / RECORDS)]


@pytest.mark.parametrize("size", [0, 1000], ids=["empty", "cut-to-1000-bytes"])
def test_a_corrupt_last_checkpoint_costs_one_warning_and_the_run_ends_as_uninterrupted(size, smoke_run, tmp_path,
                                                                                     capsys):
    out = tmp_path / "out"
    run = _copy_run(smoke_run, out)
    for name in (RECORDS, "train.json"):  # killed after training, before scoring
        (run / name).unlink()
    os.truncate(run / "checkpoint_last.pt", size)
    best = torch.load(run / "checkpoint_best.pt", weights_only=True)["epoch"]
    assert main(["run", *SMOKE, "--out", str(out)]) == 0
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("warning", "error"))]
    assert line.startswith(f"warning: {run / 'checkpoint_last.pt'} is unreadable (truncated or corrupt")
    assert line.endswith(f"resuming from checkpoint_best.pt (epoch {best})")
    assert values(run) == values(smoke_run / RUN_ID)


@pytest.mark.parametrize(("field", "skipped"), [("versions", False), ("hardware_summary", False), ("value", True),
                                                 ("prior", True), ("seed", True)])
def test_older_record_schemas_are_read_or_named(field, skipped, smoke_run, tmp_path, capsys):
    out = tmp_path / "out"
    run = _copy_run(smoke_run, out)
    _copy_run(smoke_run, out, seed=1)
    write_records(run, [{k: v for k, v in r.items() if k != field} for r in run_records(run / RECORDS)])
    assert main(["leaderboard", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    seeds = set(pd.read_csv(out / "ood" / "leaderboard.csv").seeds.astype(str))
    if skipped:
        assert err.strip() == f"warning: skipping {run / RECORDS}: record 1 has no {field!r} field (an older or " \
                              "damaged schema)"
        assert seeds == {"1"}
    else:
        assert err == "" and seeds == {"0 1"}


def test_one_failing_run_never_stops_the_local_sweep_and_status_keeps_why(tmp_path, capsys):
    out = tmp_path / "out"
    (spec0, spec1) = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0, 1]))
    (out / spec0.run_id).mkdir(parents=True)
    torch.save({"model": {}, "rng": np.random.get_state()}, out / spec0.run_id / "checkpoint_last.pt")
    assert main(["run", *SMOKE, "--seeds", "0,1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"[1/2] {spec0.run_id}: failed: {out / spec0.run_id / 'checkpoint_last.pt'} is a checkpoint of an older" \
           in err
    assert "1 run(s) failed" in err and {r["seed"] for r in read_records(out)} == {1}
    assert "older gwae-bench format" in json.loads((out / spec0.run_id / "error.json").read_text())["error"]
    assert main(["status", "--out", str(out)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if spec0.run_id in line]
    assert line.strip().startswith("failed") and "older gwae-bench format" in line


def test_two_identical_runs_never_train_the_same_run_folder(tmp_path, spawn):
    out, hold = tmp_path / "out", tmp_path / "hold"
    first = spawn("run", *SMOKE, "--out", str(out), env=held(hold))
    wait_for(hold / f"{RUN_ID}.epoch1", first)  # the first holds the lock, mid-training
    second = spawn("run", *SMOKE, "--out", str(out))
    _, err = second.communicate(timeout=600)  # the first's heartbeat shows the run as running: skipped
    assert second.returncode == 0 and "1 running; 0 to launch" in err, err
    (hold / "hold").unlink()
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    train = json.loads((out / RUN_ID / "train.json").read_text())
    assert train["resumed_at"] == [] and train["epochs"] == 2  # ...and then finds the records: trained once
    assert scores.values(run_records(out / RUN_ID / RECORDS))  # scored once: no record twice


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                   (signal.SIGINT, 130, "interrupted")], ids=["SIGTERM", "SIGINT"])
def test_a_signal_is_one_line_and_the_rerun_resumes(sig, code, word, tmp_path, spawn):
    out, hold = tmp_path / "out", tmp_path / "hold"
    proc = spawn("run", *SMOKE, "--out", str(out), env=held(hold))
    wait_for(hold / f"{RUN_ID}.epoch1", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == code and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"{word}: rerun the same command to resume from the last checkpoint"
    assert (out / RUN_ID / "checkpoint_last.pt").exists() and not (out / RUN_ID / RECORDS).exists()
    again = spawn("run", *SMOKE, "--out", str(out))
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert json.loads((out / RUN_ID / "train.json").read_text())["resumed_at"] == [1]


INNER = """
import os, time
from pathlib import Path
import pytest

def test_interrupted(spawn, tmp_path):
    hold = tmp_path / "hold"
    hold.mkdir()
    (hold / "hold").touch()
    proc = spawn("run", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--no-progress",
                 "--out", str(tmp_path / "out"), env={"GWAE_BENCH_HOLD": str(hold)})
    while not list(hold.glob("*.epoch1")):
        assert proc.poll() is None
        time.sleep(0.05)
    Path(os.environ["PID_FILE"]).write_text(str(proc.pid))
    raise KeyboardInterrupt  # what Ctrl-C raises in pytest's own process
"""


def test_ctrl_c_of_pytest_leaves_no_cli_child(pytester, tmp_path, monkeypatch):
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyfile(INNER)
    monkeypatch.setenv("PID_FILE", str(tmp_path / "pid"))
    monkeypatch.setenv("PYTHONPATH", pythonpath())  # the hold's sitecustomize and the repository
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    with pytest.raises(ProcessLookupError):  # the held CLI child was killed and reaped
        os.kill(int((tmp_path / "pid").read_text()), 0)


def test_ctrl_c_of_an_in_process_run_reaches_the_caller(tmp_path, crash_on_step, capsys):
    from models.vae import VAE

    crash_on_step(VAE, 2)
    with pytest.raises(KeyboardInterrupt):  # so pytest itself stops on Ctrl-C
        main(["run", *SMOKE, "--out", str(tmp_path)])
    assert capsys.readouterr().err.splitlines()[-1].startswith("interrupted: rerun the same command")


def test_sigterm_of_packed_runs_stops_their_workers(tmp_path, spawn):
    """``run --jobs 2`` terminated: one line, and no worker process trains on after the parent has gone."""
    out, hold = tmp_path / "out", tmp_path / "hold"
    proc = spawn("run", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--seeds", "0,1", "--jobs", "2",
                 "--threads", "1", "--no-progress", "--out", str(out), env=held(hold))
    specs = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0, 1]))
    for spec in specs:  # both workers are held mid-training
        wait_for(hold / f"{spec.run_id}.epoch1", proc)
    pids = [json.loads((out / s.run_id / "heartbeat.json").read_text())["pid"] for s in specs]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 143 and "terminated (SIGTERM): rerun the same command" in err
    for pid in pids:  # the pool was shut down after terminating them, so they are gone (or zombies)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            continue
        assert state == "Z", f"worker {pid} still running (state {state})"
