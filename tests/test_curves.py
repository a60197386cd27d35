"""Training curves (CSV always, TensorBoard when installed) and the heartbeat that ``status`` reads."""

import csv
import json
import subprocess
import sys

import pytest

from benchmark.run import curves, heartbeat
from benchmark.run.curves import Curves
from benchmark.run.folder import RunFolder

GWAE_TERMS = ("loss", "gw", "w", "entropy", "critic_gap", "critic_loss", "gradient_penalty", "distance_coef")
TIMING = ("steps_per_s", "wall_s")


def read(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def values(rows):
    """The rows without their timing columns (which differ between any two runs)."""
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def fit(make_trainer, run_dir, tb=None, flush_every_s=curves.FLUSH_EVERY_S):
    trainer = make_trainer(run_dir, critic_steps=1)
    trainer.curves = Curves(run_dir, tb, log_every=2, flush_every_s=flush_every_s)
    return trainer


def test_gwae_curves_hold_every_loss_term_learning_rates_speed_and_validation(tmp_path, make_trainer):
    fit(make_trainer, tmp_path).fit()
    steps, epochs = read(tmp_path / RunFolder.STEPS_CSV), read(tmp_path / RunFolder.EPOCHS_CSV)
    # 3 epochs of 3 steps, a point every 2 steps and at each epoch's end
    assert [int(r["step"]) for r in steps] == [2, 3, 4, 6, 8, 9]
    assert set(GWAE_TERMS) | {"lr_main", "lr_critic", "steps_per_s", "epoch"} <= set(steps[0])
    assert [int(r["epoch"]) for r in epochs] == [1, 2, 3] and [int(r["step"]) for r in epochs] == [3, 6, 9]
    assert {f"train_{t}" for t in GWAE_TERMS} | {"val_loss", "val_gw", "lr_main", "steps_per_s", "wall_s"} <= set(
        epochs[0])
    assert all(float(r["steps_per_s"]) > 0 for r in steps + epochs)
    history = json.loads(json.dumps(make_trainer(tmp_path).fit().history))  # the finished run, as train.json
    assert [float(r["val_loss"]) for r in epochs] == pytest.approx([h["val_loss"] for h in history], rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("killed_at", [3, 5])  # in the first epoch (no checkpoint yet), in the second
def test_killed_and_resumed_run_is_one_curve_without_duplicated_steps(tmp_path, make_trainer, crash_on_step,
                                                                      killed_at):
    fit(make_trainer, tmp_path / "a").fit()
    crashing = fit(make_trainer, tmp_path / "b", flush_every_s=0.0)  # flush at every point: rows past the checkpoint
    restore = crash_on_step(type(crashing.model), killed_at)
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    restore()
    logged = [int(r["step"]) for r in read(tmp_path / "b" / RunFolder.STEPS_CSV)]
    assert killed_at - 1 in logged  # logged, not checkpointed
    fit(make_trainer, tmp_path / "b").fit()
    for name in (RunFolder.STEPS_CSV, RunFolder.EPOCHS_CSV):
        got, want = read(tmp_path / "b" / name), read(tmp_path / "a" / name)
        assert [r["step"] for r in got] == [r["step"] for r in want]
        for g, w in zip(values(got), values(want), strict=True):
            assert {k: float(v) for k, v in g.items()} == pytest.approx({k: float(v) for k, v in w.items()})


@pytest.mark.slow
@pytest.mark.parametrize("killed_at", [3, 5])  # in the first epoch (no checkpoint yet), in the second
def test_tensorboard_event_files_resume_without_duplicated_steps(tmp_path, make_trainer, crash_on_step, killed_at):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    crashing = fit(make_trainer, tmp_path / "run", tmp_path / "tb")
    restore = crash_on_step(type(crashing.model), killed_at)
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()  # the points before the kill reached the event file (closed on the way out)
    restore()
    fit(make_trainer, tmp_path / "run", tmp_path / "tb").fit()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert {"train/gw", "train/gradient_penalty", "lr/critic", "speed/steps_per_s", "epoch/val_loss"} <= set(
        events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/loss")] == [2, 3, 4, 6, 8, 9]
    assert [e.step for e in events.Scalars("epoch/val_loss")] == [3, 6, 9]


@pytest.mark.slow
def test_without_tensorboard_one_line_says_how_to_get_it_and_csv_still_works(tmp_path, make_trainer, monkeypatch,
                                                                             capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    monkeypatch.setattr(curves, "_hint_shown", False)
    for name in ("a", "b"):
        fit(make_trainer, tmp_path / name, tmp_path / "tb" / name).fit()
    err = capsys.readouterr().err
    assert err.count("pip install -e '.[tensorboard]'") == 1
    assert (tmp_path / "b" / RunFolder.STEPS_CSV).exists() and not (tmp_path / "tb").exists()


def test_heartbeat_says_running_only_while_its_process_lives(tmp_path, monkeypatch):
    heartbeat.beat(tmp_path, "training", epoch=2, step=40, total_steps=300)
    assert "epoch 2, step 40 of at most 300" in heartbeat.running(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    beat = json.loads((tmp_path / RunFolder.HEARTBEAT).read_text())
    (tmp_path / RunFolder.HEARTBEAT).write_text(json.dumps({**beat, "pid": int(dead.stdout)}))
    assert heartbeat.running(tmp_path) is None
    (tmp_path / RunFolder.HEARTBEAT).write_text(json.dumps({**beat, "host": "elsewhere"}))
    assert heartbeat.running(tmp_path) is not None
    (tmp_path / RunFolder.HEARTBEAT).write_text(json.dumps({**beat, "host": "elsewhere",
                                                            "time": beat["time"] - 2 * heartbeat.STALE_S}))
    assert heartbeat.running(tmp_path) is None
    heartbeat.clear(tmp_path)
    assert heartbeat.running(tmp_path) is None


def test_tensorboard_folder_names_suite_model_prior_hparams_and_seed():
    from benchmark.launch.planning import plan

    (spec,) = plan("ood", "smoke", ["gwae-gmp"], [2], {"prior": {"mode": "fixed"}, "drift": 8.0})
    assert RunFolder("out/x").tensorboard(spec.config).relative_to("out/tensorboard").as_posix() == (
        f"ood/gwae-gmp/gaussian_mixture-fixed/drift=8.0,prior.mode=fixed/seed2-{spec.run_id.rsplit('-', 1)[-1]}")
    (plain,) = plan("ood", "smoke", ["vae"], [0])
    assert RunFolder("out/x").tensorboard(plain.config).parts[4:6] == ("normal", "default")


def test_a_run_that_fails_leaves_no_heartbeat_behind(tmp_path, monkeypatch):
    from benchmark.launch import planning
    from benchmark.run import runner

    (spec,) = planning.plan("ood", "smoke", ["vae"], [0])

    def dies(spec, run_dir, *args):
        run_dir.mkdir(parents=True, exist_ok=True)  # execute holds the run's lock file in it already
        heartbeat.beat(run_dir, "training", epoch=1, step=1, total_steps=2)
        raise RuntimeError("out of memory")

    monkeypatch.setattr(runner, "_train_and_score", dies)
    with pytest.raises(RuntimeError):
        runner.execute(spec, tmp_path, None, None)
    assert not (tmp_path / spec.run_id / RunFolder.HEARTBEAT).exists()
