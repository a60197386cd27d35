"""RunFolder: the one owner of a run folder's file names, its config read back and its model rebuilt."""

import json
from pathlib import Path

import pytest
import torch

from benchmark.cli import main
from benchmark.config.run_config import RunConfig
from benchmark.launch.planning import plan
from benchmark.records.io import RECORDS
from benchmark.run.checkpoints import load_state
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES
from core.errors import BenchmarkError
from models import build_model


def test_file_names():
    folder = RunFolder("out/ood-vae-seed0-abc")
    assert folder.run_id == "ood-vae-seed0-abc"
    names = {p.relative_to(folder.path).as_posix() for p in (
        folder.config_file, folder.train_file, folder.records, folder.trajectory, folder.heartbeat, folder.error,
        folder.steps_csv, folder.epochs_csv, folder.checkpoint("best"), folder.checkpoint("last"),
        folder.checkpoint(40))}
    assert names == {"config.json", "train.json", RECORDS, "trajectory.jsonl", "heartbeat.json", "error.json",
                     "curves_steps.csv", "curves_epochs.csv", "checkpoint_best.pt", "checkpoint_last.pt",
                     "budgets/step00000040.pt"}
    with pytest.raises(BenchmarkError):
        folder.checkpoint("middle")


@pytest.mark.parametrize("suite_name", SUITES.names())
def test_every_preset_config_round_trips_with_its_run_id(suite_name, tmp_path):
    suite = SUITES.get(suite_name)
    for preset in suite.presets:
        for spec in plan(suite_name, preset):
            run = spec.config
            stored = {"run_id": run.run_id, **run.to_dict()}
            assert RunConfig.from_dict(run.to_dict(), type(suite.presets[preset].eval_params)) == run
            folder = RunFolder(tmp_path / run.run_id)
            folder.path.mkdir()
            folder.config_file.write_text(json.dumps(stored))
            back = folder.config()
            assert back == run and back.run_id == run.run_id


def test_a_config_that_does_not_hash_to_its_run_id_is_refused(tmp_path):
    (spec,) = plan("ood", "smoke", ["vae"], [0])
    folder = RunFolder(tmp_path / spec.run_id)
    folder.path.mkdir()
    folder.config_file.write_text(json.dumps({**spec.config.to_dict(), "seed": 1, "run_id": spec.run_id}))
    with pytest.raises(BenchmarkError, match="not the stored run id"):
        folder.config()


@pytest.mark.slow
def test_the_model_is_rebuilt_at_last_best_and_a_kept_step(tmp_path: Path):
    out = tmp_path / "out"
    assert main(["run", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--out", str(out),
                 "--no-progress", "--score-at", "4"]) == 0
    (path,) = [p for p in out.iterdir() if p.name.startswith("ood-vae")]
    folder = RunFolder(path)
    (spec,) = plan("ood", "smoke", ["vae"], [0])
    assert folder.config() == spec.config
    for which in ("last", "best", 4):
        model = folder.model(which)
        state = load_state(folder.checkpoint(which))["model"]
        assert not model.training
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key]), (which, key)
    # one implementation: the runner's own fresh model is the folder's, seeded the same
    fresh = folder.new_model()
    torch.manual_seed(spec.config.seed)
    independent = build_model("vae", spec.config.model_config, spec.config.data.image_shape)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, independent.state_dict()[key])
