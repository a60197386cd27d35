"""Score trajectories: weights kept at budgets, their scoring, and the ranking along the budget."""

import io
import json

import pandas as pd
import pytest
import torch

from benchmark.config.run_config import TrainConfig
from benchmark.launch import planning
from benchmark.records.io import run_records, write_records
from benchmark.records.schema import REFERENCE_MODEL
from benchmark.results import trajectories
from benchmark.run import budgets
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES
from core.errors import BenchmarkError

CFG = TrainConfig(batch_size=8, max_epochs=3, patience=5, steps_per_epoch=3)


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_parse_steps():
    assert budgets.parse_steps("600,200,400") == (200, 400, 600)
    assert budgets.parse_steps("off") == ()
    for bad in ("1,x", "0,5", "3,3", "-2"):
        with pytest.raises(BenchmarkError, match="--score-at"):
            budgets.parse_steps(bad)


@pytest.mark.parametrize("name", ["vae", pytest.param("gwae-gmp", marks=pytest.mark.slow)])
def test_kept_weights_equal_the_last_checkpoint_of_a_run_trained_for_that_many_steps(tmp_path, make_trainer, name):
    long = make_trainer(tmp_path / "long", name=name, cfg=CFG)
    long.keep_at = frozenset({2, 3, 6, 9})
    long.fit()
    assert sorted(p.name for p in (tmp_path / "long" / RunFolder.BUDGET_DIR).iterdir()) == [
        f"step{s:08d}.pt" for s in (2, 3, 6, 9)]
    for epochs in (1, 2):
        short = make_trainer(tmp_path / f"short{epochs}", name=name,
                             cfg=TrainConfig(batch_size=8, max_epochs=epochs, patience=5, steps_per_epoch=3))
        short.fit()
        kept = RunFolder(tmp_path / "long").checkpoint(3 * epochs)
        assert_same(weights(kept), weights(tmp_path / f"short{epochs}" / RunFolder.LAST))
    assert_same(weights(RunFolder(tmp_path / "long").checkpoint(9)), weights(tmp_path / "long" / RunFolder.LAST))


def test_resume_keeps_the_budgets_and_writes_the_same_weights(tmp_path, make_trainer, crash_on_step):
    reference = make_trainer(tmp_path / "a", name="vae", cfg=CFG)
    reference.keep_at = frozenset({2, 5, 8})
    reference.fit()

    crashing = make_trainer(tmp_path / "b", name="vae", cfg=CFG)
    crashing.keep_at = frozenset({2, 5, 8})
    restore = crash_on_step(type(crashing.model), 6)  # epoch 2, step 3: budget 5 is kept, epoch 2 is not saved
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    restore()
    kept_before = RunFolder(tmp_path / "b").checkpoint(5).read_bytes()
    resumed = make_trainer(tmp_path / "b", name="vae", cfg=CFG)
    resumed.keep_at = frozenset({2, 5, 8})
    resumed.fit()
    assert RunFolder(tmp_path / "b").checkpoint(2).exists()
    for step in (2, 5, 8):
        want, got = RunFolder(tmp_path / "a").checkpoint(step), RunFolder(tmp_path / "b").checkpoint(step)
        assert_same(weights(want), weights(got))
    assert_same(weights(RunFolder(tmp_path / "b").checkpoint(5)), weights(io.BytesIO(kept_before)))


def test_budgets_are_not_part_of_the_run_id_and_are_checked_against_the_training_length():
    plain = {s.run_id for s in planning.plan("ood", "smoke")}
    assert {s.run_id for s in planning.plan("ood", "smoke", score_at=(2, 4, 6))} == plain
    assert all(s.budgets == (2, 4, 6) for s in planning.plan("ood", "smoke", score_at=(2, 4, 6)))
    with pytest.raises(BenchmarkError, match="budget\\(s\\) 9 exceed the run's 8 training steps"):
        planning.plan("ood", "smoke", score_at=(4, 9))
    with pytest.raises(BenchmarkError, match="--score-with"):
        planning.plan("ood", "smoke", budget_scoring="most")


def test_every_default_preset_scores_its_headline_at_four_or_more_budgets():
    from benchmark.suites import SUITES

    for name in ("ood", "disentanglement", "generation"):
        preset = SUITES.get(name).presets["default"]
        total = preset.train.max_epochs * preset.train.steps_per_epoch
        assert len({*preset.budgets, total}) >= 4 and max(preset.budgets) < total, name


def test_sweep_file_score_at(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('suite = "ood"\npreset = "smoke"\nmodels = ["vae"]\nscore_at = [4, 2]\nscore_with = "full"\n')
    sweep = planning.load_sweep(path)
    assert (sweep.score_at, sweep.budget_scoring) == ((2, 4), "full")
    assert planning.expand(sweep)[0].budgets == (2, 4)
    path.write_text('suite = "ood"\nscore_at = [0]\n')
    with pytest.raises(BenchmarkError, match="score_at"):
        planning.load_sweep(path)


@pytest.mark.slow
def test_cli_scores_each_budget_once_and_only_the_missing_ones(tmp_path, cli):
    out = tmp_path / "runs"
    args = ["run", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--out", str(out), "--no-progress",
            "--score-at", "2,4,6"]
    cli(*args)
    (run_dir,) = [p for p in out.iterdir() if p.name.startswith("ood-vae")]
    records = run_records(run_dir / RunFolder.TRAJECTORY)
    assert {r["step"] for r in records} == {2, 4, 6}
    assert {r["checkpoint"] for r in records} == {"step"} and {r["metric"] for r in records} >= {"auroc"}
    final = run_records(run_dir / "records.jsonl")
    assert {(r["checkpoint"], r["step"]) for r in final if r["model"] == "vae"} == {("best", 8), ("last", 8)}
    assert {(r["checkpoint"], r["step"]) for r in final if r["model"] == REFERENCE_MODEL} == {("none", 0)}
    before = (run_dir / RunFolder.TRAJECTORY).read_bytes()
    cli(*args)
    assert (run_dir / RunFolder.TRAJECTORY).read_bytes() == before  # nothing scored again

    # scoring interrupted after budget 4: the rerun scores budget 6 only
    write_records(run_dir, [r for r in records if r["step"] != 6], RunFolder.TRAJECTORY)
    result = cli(*args)
    again = run_records(run_dir / RunFolder.TRAJECTORY)
    assert [r for r in again if r["step"] != 6] == [r for r in records if r["step"] != 6]
    assert {r["step"] for r in again} == {2, 4, 6}
    assert "1 done to score at new budgets" in result.stderr

    result = cli(*args[:-1], "1,2,4,6")  # never kept: one warning line, nothing else scored
    assert "kept no weights at some of the asked budgets" in result.stderr and "step(s) 1" in result.stderr
    assert run_records(run_dir / RunFolder.TRAJECTORY) == again

    cli("leaderboard", "--out", str(out))
    table = pd.read_csv(out / "ood" / trajectories.TABLE)
    assert sorted(table["step"]) == [2, 4, 6, 8] and set(table["rank"]) == {1}
    assert (out / "ood" / "trajectory_auroc.png").stat().st_size > 0
    ranks = pd.read_csv(out / "ood" / trajectories.RANKS)
    assert list(ranks.columns) == ["model configuration", *(f"rank at {s} steps" for s in (2, 4, 6, 8))]
    assert "Along the training budget" in (out / "index.html").read_text()


def _table(rows):
    frame = pd.DataFrame(rows, columns=["model", "step", "value"]).assign(
        prior="normal", mode="-", hparams="-", metric="auroc", metric_spec="s", seed=0)
    return trajectories.aggregate(frame)


def test_ranks_per_budget_and_the_stability_sentence():
    same = _table([("a", 100, 0.9), ("b", 100, 0.5), ("a", 200, 0.8), ("b", 200, 0.6)])
    assert list(same[same.step == 100].sort_values("rank")["model"]) == ["a", "b"]
    assert trajectories.stability(same) == "the ranking is the same at all 2 budgets (100-200 steps): a > b"
    swap = _table([("a", 100, 0.9), ("b", 100, 0.5), ("c", 100, 0.4), ("a", 200, 0.5), ("b", 200, 0.6),
                   ("c", 200, 0.1), ("a", 300, 0.5), ("b", 300, 0.7), ("c", 300, 0.2)])
    assert trajectories.stability(swap) == (
        "the ranking changes 1 time(s) over 3 budgets (100-300 steps): first a > b > c, last b > a > c; "
        "held to the end: b 1st from 200; a 2nd from 200; c 3rd from 100")


def test_means_equal_at_the_csv_decimals_tie_in_the_stability_sentence():
    """b and c differ by 2e-5 at 200 steps (both 0.6000 in trajectory.csv): a tie, and a tie that forms is a change."""
    tie = _table([("a", 100, 0.9), ("b", 100, 0.6), ("c", 100, 0.5), ("a", 200, 0.9), ("b", 200, 0.60002),
                  ("c", 200, 0.6)])
    assert tie[tie.step == 200].set_index("model")["rank"].to_dict() == {"a": 1, "b": 2, "c": 2}
    assert trajectories.stability(tie) == (
        "the ranking changes 1 time(s) over 2 budgets (100-200 steps): first a > b > c, last a > b = c; "
        "held to the end: a 1st from 100; b 2nd from 100; c 2nd from 200")


def test_lower_is_better_metrics_rank_ascending():
    frame = pd.DataFrame({"model": ["a", "b"], "step": [5, 5], "value": [10.0, 3.0]}).assign(
        prior="normal", mode="-", hparams="-", metric="fid_samples", metric_spec="s", seed=0)
    table = trajectories.aggregate(frame)
    assert dict(zip(table["model"], table["rank"], strict=True)) == {"b": 1, "a": 2}


def test_trajectory_points_prefer_the_budget_record_and_take_the_last_checkpoint_as_the_final_budget():
    common = {"prior": "normal", "mode": "-", "hparams": "-", "metric": "auroc", "metric_spec": "s", "seed": 0,
              "suite": "ood", "representation": "sample", **dict(SUITES.get("ood").trajectory.where)}
    records = pd.DataFrame([{**common, "model": "vae", "run_id": "r", "checkpoint": "last", "step": 8, "steps": 8,
                             "value": 0.7},
                            {**common, "model": "vae", "run_id": "r", "checkpoint": "last", "step": 8, "steps": 8,
                             "value": 0.1, "representation": "mean"}])
    budget = [{**common, "model": "vae", "run_id": "r", "checkpoint": "step", "step": 4, "value": 0.6}]
    pts = trajectories.points(records, budget, "ood")
    assert list(zip(pts["step"], pts["value"], pts["source"], strict=True)) == [
        (4, 0.6, "kept budget"), (8, 0.7, "last checkpoint")]
    assert json.loads(pts.to_json(orient="records"))[0]["run_id"] == "r"
