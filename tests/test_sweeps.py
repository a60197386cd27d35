"""Sweeps without a cluster: sweep files, plan and its costs, launcher validation, element failures,
concurrent record writers, and a run killed with SIGKILL that resumes to the same final metrics."""

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark.cli import main
from benchmark.launch import base, cost, launchers, planning, slurm, state
from benchmark.records.io import read_records, write_records
from benchmark.run import runner
from benchmark.run.folder import RunFolder
from core.errors import BenchmarkError
from tests import scores

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "slurm" / "examples"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_sweep_file_expands_to_the_cartesian_product_without_duplicates(tmp_path):
    sweep = planning.load_sweep(write(tmp_path / "s.toml", """
suite = "ood"
preset = "smoke"
models = ["vae", "gwae-gmp"]
priors = ["gaussian_mixture", "normal"]
seeds = [0, 1]
[grid]
prior.mode = ["paper", "fixed"]
[train]
max_epochs = 3
"""))
    specs = planning.expand(sweep)
    gwae = [s for s in specs if s.model == "gwae-gmp"]
    # vae: 2 seeds (the prior axes do not apply); gwae: 2 priors x 2 modes x 2 seeds
    assert [s.model for s in specs] == ["vae"] * 2 + ["gwae-gmp"] * 8
    assert len({s.run_id for s in specs}) == 10
    assert {(s.config.model_config.prior.name, s.config.model_config.prior.mode, s.seed)
            for s in gwae} == {(p, m, s) for p in ("gaussian_mixture", "normal") for m in ("paper", "fixed")
                               for s in (0, 1)}
    assert all(s.config.train.max_epochs == 3 for s in specs)
    # the same runs from flags have other ids only because of the [train] override
    plain = planning.plan("ood", "smoke", ["vae"], [0])[0]
    assert plain.run_id != specs[0].run_id and plain.config.train.max_epochs == 2


def test_sweep_id_is_content_addressed():
    a = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0, 1]))
    b = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[1, 0]))
    c = planning.expand(planning.Sweep(suite="ood", preset="smoke", models=["vae"], seeds=[0]))
    assert state.sweep_id("ood", a) == state.sweep_id("ood", b) != state.sweep_id("ood", c)


def test_example_sweeps_are_valid():
    for path in sorted(EXAMPLES.glob("*.toml")):
        assert planning.expand(planning.load_sweep(path)), path


BAD_SWEEPS = [
    ('suite = "ood"\nmodel = ["vae"]\n', "unknown key(s) model"),
    ('preset = "smoke"\n', "suite = \"NAME\" is required"),
    ('suite = "ood"\nseeds = [0, 0]\n', "distinct"),
    ('suite = "ood"\nmodels = "vae"\n', "list of names"),
    ('suite = "ood"\nmodels = ["vae"]\npriors = ["normal"]\n', "priors apply to GWAE models only"),
    ('suite = "ood"\n[grid]\nnope = [1]\n', "match no config field"),
    ('suite = "ood"\n[grid]\nz_dim = []\n', "have no values"),
    ('suite = "ood"\n[train]\nmax_epoch = 3\n', "unknown key(s) max_epoch"),
    ('suite = "ood"\nprecision = "fp16"\n', "precision must be one of fp32, bf16"),
    ('suite = "ood"\npriors = ["nope"]\n', "unknown prior"),
    ('suite = "ood"\n[grid\n', "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SWEEPS, ids=[m for _, m in BAD_SWEEPS])
def test_bad_sweep_file_is_one_line_and_writes_nothing(text, message, tmp_path, capsys):
    out = tmp_path / "out"
    path = write(tmp_path / "bad.toml", text)
    assert main(["run", "--sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: sweep file {path}") and message in err and "\n" not in err
    assert not out.exists()


BAD_RUNS = [
    (["--suite", "ood", "--launcher", "nope"], "unknown launcher 'nope'"),
    (["--suite", "ood", "--partition", "gpu"], "--partition: not an option of --launcher local"),
    (["--sweep", str(EXAMPLES / "ood-smoke.toml"), "--seeds", "0"], "drop --seeds"),
    (["--models", "vae"], "give --suite NAME or --sweep FILE"),
    (["--sweep", "/nonexistent.toml"], "not found"),
]


@pytest.mark.parametrize(("args", "message"), BAD_RUNS, ids=[m for _, m in BAD_RUNS])
def test_bad_run_options_are_one_line_and_write_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not out.exists()


def test_slurm_launcher_without_sbatch_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda tool: None)
    out = tmp_path / "out"
    assert main(["run", "--suite", "ood", "--preset", "smoke", "--launcher", "slurm", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs the SLURM client tools" in err and "sbatch" in err and "\n" not in err
    assert not out.exists()


def test_plan_lists_every_run_with_its_cost_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["plan", "--sweep", str(EXAMPLES / "ood-smoke.toml"), "--out", str(out), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    specs = planning.expand(planning.load_sweep(EXAMPLES / "ood-smoke.toml"))
    assert [r["run_id"] for r in listing["runs"]] == [s.run_id for s in specs]
    assert listing["sweep_id"] == state.sweep_id("ood", specs)
    for row in listing["runs"]:
        assert row["state"] == "missing" and row["steps"] == 3 * 4  # max_epochs x smoke's steps per epoch
        assert row["train_s"] == pytest.approx(row["steps"] * cost.SECONDS_PER_STEP["1x28x28"][row["model"]])
        assert row["est_s"] == pytest.approx(row["train_s"] + row["score_s"])
        assert row["cost_source"].startswith("table")
    assert not out.exists()
    assert main(["plan", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ood-vae-seed0-" in text and "estimated time" in text and "scoring" in text and "s/step" in text


def test_plan_measures_seconds_per_step_from_stored_records(tmp_path):
    spec = planning.plan("ood", "smoke", ["vae"], [0])[0]
    record = {"run_id": "x", "model": "vae", "steps": 100, "wall_s": 12.5,
              "data_config": {"image_shape": [1, 28, 28]}}
    write_records(tmp_path / "x", [record, record])
    (row,) = cost.estimate([spec], n_train=512, out=tmp_path)
    assert row["s_per_step"] == pytest.approx(0.125) and row["steps"] == 8
    assert row["cost_source"] == f"measured: median of 1 run(s) in {tmp_path}"


def test_a_model_without_a_step_cost_is_named_in_one_warning_and_still_estimated(tmp_path, monkeypatch, capsys):
    specs = planning.plan("ood", "smoke", ["vae", "wae"], [0, 1])
    table = {k: v for k, v in cost.SECONDS_PER_STEP["1x28x28"].items() if k not in ("vae", "wae")}
    monkeypatch.setitem(cost.SECONDS_PER_STEP, "1x28x28", table)
    rows = cost.estimate(specs, n_train=512, out=tmp_path)
    assert [r["s_per_step"] for r in rows] == [cost.FALLBACK_SECONDS_PER_STEP] * 4
    assert all(r["cost_source"].startswith("fallback") and r["est_s"] > 0 for r in rows)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("warning:") and "vae, wae" in line


def test_array_element_is_picklable_and_checkpoints_to_itself():
    import pickle

    spec = planning.plan("ood", "smoke", ["vae"], [0])[0]
    element = slurm.ArrayElement("/tmp/out", None, "cpu")
    delayed = element.checkpoint(spec)
    assert delayed.function is element and delayed.args == (spec,)
    again = pickle.loads(pickle.dumps(element))
    assert again == element and pickle.loads(pickle.dumps(spec)) == spec


def _fake_element(out: str, i: int) -> None:
    """One array element whose run writes 16 records after a random delay (runner.execute is faked)."""
    (spec,) = planning.plan("ood", "smoke", ["vae"], [i])

    def fake_execute(spec, out, data, device, progress=False, progress_desc=None):
        time.sleep(0.01 * (i % 5))
        if i == 3:
            raise RuntimeError("boom")
        records = [{"run_id": spec.run_id, "seed": i, "metric": f"m{k}", "value": k, "checkpoint": "last",
                    "representation": "sample"} for k in range(16)]
        write_records(Path(out) / spec.run_id, records)
        return records

    runner.execute, runner.load_suite_data = fake_execute, lambda *a: None
    with contextlib.suppress(RuntimeError):
        slurm.ArrayElement(out, None, "cpu")(spec)


def test_concurrent_array_elements_lose_no_records(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_fake_element, args=(str(tmp_path), i)) for i in range(12)]
    for p in procs:
        p.start()
    seen = 0
    while any(p.is_alive() for p in procs):  # a reader meanwhile never sees a partial file
        seen = max(seen, len(read_records(tmp_path)))
    for p in procs:
        p.join()
        assert p.exitcode == 0
    records = read_records(tmp_path)
    assert len(records) == 11 * 16 and {r["seed"] for r in records} == set(range(12)) - {3}
    failed = [p for p in tmp_path.iterdir() if (p / RunFolder.ERROR).exists()]
    assert [p.name for p in failed] == [planning.plan("ood", "smoke", ["vae"], [3])[0].run_id]
    assert json.loads((failed[0] / RunFolder.ERROR).read_text())["error"] == "RuntimeError: boom"


def values(out: Path) -> dict:
    return {key[1:]: v for key, v in scores.values(read_records(out)).items() if key[0].startswith("ood-")}


@pytest.mark.slow
def test_kill_9_during_training_then_the_same_command_resumes_to_the_same_metrics(tmp_path, spawn):
    sweep = write(tmp_path / "long.toml", """
suite = "ood"
preset = "smoke"
models = ["vae"]
seeds = [0]
[train]
max_epochs = 12
steps_per_epoch = 8
patience = 12
""")
    (spec,) = planning.expand(planning.load_sweep(sweep))
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    command = ["run", "--sweep", str(sweep), "--no-progress", "--device", "cpu", "--out"]

    proc = spawn(*command, str(killed))
    last = killed / spec.run_id / "checkpoint_last.pt"
    deadline = time.monotonic() + 300
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    live = launchers.sweep_states(killed, [spec.run_id])[0]  # in this process: the run has most epochs to go
    os.kill(proc.pid, signal.SIGKILL)
    assert live.state == "running" and "training: epoch" in live.detail, live
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert "run 1 of 1: sweep ETA about" in err
    status = subprocess.run([sys.executable, "-m", "benchmark", "status", "--out", str(killed)], cwd=ROOT,
                            capture_output=True, text=True)
    assert f"missing  {spec.run_id}" in status.stdout, status.stdout  # its process is gone
    epochs_done = torch.load(last, weights_only=True)["result"]["epochs"]
    assert 1 <= epochs_done < 12 and not (killed / spec.run_id / "records.jsonl").exists()

    again = spawn(*command, str(killed))
    uninterrupted = spawn(*command, str(reference))
    for p in (again, uninterrupted):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    train = json.loads((killed / spec.run_id / "train.json").read_text())
    assert train["epochs"] == 12 and train["resumed_at"] == [epochs_done]
    assert json.loads((reference / spec.run_id / "train.json").read_text())["resumed_at"] == []
    assert values(killed) and values(killed) == values(reference)  # exactly, on CPU
    curves = [(d / spec.run_id / "curves_epochs.csv").read_text().splitlines() for d in (killed, reference)]
    assert [line.split(",")[:2] for line in curves[0]] == [line.split(",")[:2] for line in curves[1]]  # epoch, step
    assert not (killed / spec.run_id / "heartbeat.json").exists()


def test_a_live_heartbeat_makes_a_run_running_and_progress_names_run_k_of_n(tmp_path):
    from benchmark.run import heartbeat

    (tmp_path / "r").mkdir()
    heartbeat.beat(tmp_path / "r", "training", epoch=1, step=8, total_steps=96)
    found = state.run_state(tmp_path, "r", {"launcher": "local", "job": None, "time": "t"}, None)
    assert found.state == "running" and "step 8 of at most 96" in found.detail
    costs = [{"steps": 100, "s_per_step": 0.5, "cost_source": "table: 2-core CPU"}] * 3
    line = cost.progress_line(2, costs, ["vae", "vae", "wae"], {"vae": 0.1})
    assert line.startswith("run 2 of 3: sweep ETA about 60 s")  # 100 steps x 0.1 s + 100 steps x 0.5 s
    assert "200 training steps left" in line
    assert "measured in this sweep" in line and "table" in line
    passes = [{"checkpoint": c, "representation": "mean", "eval_wall_s": e, "wall_s": 10.0, "steps": 4}
              for c, e in (("best", 2.0), ("best", 2.0), ("last", 4.0))]  # two rows of one scoring pass
    assert base.seconds_per_step(passes) == (10.0 + 2.0 + 4.0) / 4


def test_run_state_precedence(tmp_path):
    entry = {"launcher": "slurm", "job": "7_1", "time": "t"}
    assert state.run_state(tmp_path, "r", None, None).state == "missing"
    assert state.run_state(tmp_path, "r", entry, ("pending", "PENDING")).state == "pending"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / RunFolder.ERROR).write_text(json.dumps({"error": "ValueError: x"}))
    assert state.run_state(tmp_path, "r", entry, None) == state.RunState("r", "failed", "7_1", "ValueError: x")
    assert state.run_state(tmp_path, "r", entry, ("running", "RUNNING")).state == "running"  # a retry
    write_records(tmp_path / "r", [{"x": 1}])
    assert state.run_state(tmp_path, "r", entry, ("running", "RUNNING")).state == "done"
    with pytest.raises(BenchmarkError):
        planning.load_sweep(tmp_path / "missing.toml")
