"""One record schema: run fields, evaluation fields, and ``upgrade`` as the only reader of older formats."""

import json
import math
from pathlib import Path

import pytest

from benchmark.records import schema
from benchmark.records.io import run_records, write_records
from benchmark.records.schema import CONFIG_KEYS, DEFAULTS, RUN_FIELDS, record, run_fields, schema_problem, upgrade
from benchmark.run.folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]

CURRENT = {
    "run_id": "ood-vae-seed0-abc", "suite": "ood", "preset": "smoke", "model": "vae",
    "model_source": "gwae-bench 0.1.0", "prior": "normal", "mode": "-",
    "hparams": "-", "precision": "fp32", "dataset": "mnist", "seed": 0, "eval_seed": 0, "model_config": {},
    "train_config": {}, "data_config": {}, "epochs": 4, "best_epoch": 2, "stopped_early": False, "steps": 8,
    "wall_s": 1.5,
    "peak_rss_mb": 1.0, "peak_cuda_mb": 0.0, "versions": {"torch": "2"}, "hardware": {}, "hardware_summary": "cpu",
    "checkpoint": "best", "checkpoint_epoch": 2, "step": 4, "representation": "mean", "eval_wall_s": 0.5,
    "timestamp": "2026-01-01T00:00:00+00:00", "metric": "auroc", "metric_spec": "auroc/v1", "value": 0.9,
    "eval_dataset": "mnist-test",
}


def _raw(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[:-1]]  # all but the completion marker


#: Fields added after the committed records were written (they stay as written: their markers seal them).
ADDED_SINCE = {"precision": "fp32"}


def test_the_committed_records_pass_unchanged_but_for_fields_added_since():
    roots = [ROOT / "results" / "records", ROOT / "results" / "records-long"]
    paths = sorted(p for root in roots for name in (RunFolder.RECORDS, RunFolder.TRAJECTORY) for p in root.rglob(name))
    assert paths
    for path in paths:
        raw = _raw(path)
        expected = [_own_scorer_on_inverted_omniglot({**ADDED_SINCE, **r}) for r in raw]
        assert [upgrade(r) for r in raw] == expected, path
        assert run_records(path) == expected and schema_problem(raw) == ""


def _own_scorer_on_inverted_omniglot(record: dict) -> dict:
    """What an ood record from before the scorer axis stands for: the model's own scorer on inverted Omniglot."""
    if record["suite"] != "ood" or "scorer" not in record or "scorer_spec" in record:
        return record
    assert record["eval_dataset"] == "mnist-test vs omniglot"
    return {**record, "scorer": "own", "scorer_spec": f"own:{record['scorer']}", "ood_set": "omniglot-inverted",
            "ood_kind": "near", "eval_dataset": "mnist-test vs omniglot-inverted"}


def test_a_current_record_is_unchanged():
    assert upgrade(CURRENT) == CURRENT


@pytest.mark.parametrize("field", sorted(DEFAULTS))
def test_a_record_from_before_a_field_gets_what_it_stood_for(field):
    old = {k: v for k, v in CURRENT.items() if k != field}
    got = upgrade(old)
    if isinstance(DEFAULTS[field], float) and math.isnan(DEFAULTS[field]):
        assert math.isnan(got[field])
    else:
        assert got[field] == DEFAULTS[field]
    assert upgrade({**CURRENT, field: None})[field] is not None


def test_a_record_without_metric_spec_used_the_metric_itself():
    old = {k: v for k, v in CURRENT.items() if k != "metric_spec"}
    assert upgrade(old)["metric_spec"] == "auroc"


@pytest.mark.parametrize(("checkpoint", "epoch", "step"), [("last", 4, 8), ("best", 2, 4)])
def test_a_record_from_before_step_fields_was_scored_where_its_checkpoint_was_saved(checkpoint, epoch, step):
    old = {k: v for k, v in CURRENT.items() if k not in ("step", "checkpoint_epoch")}
    got = upgrade({**old, "checkpoint": checkpoint})
    assert (got["checkpoint_epoch"], got["step"]) == (epoch, step)
    without_steps = upgrade({k: v for k, v in old.items() if k != "steps"})
    assert "step" not in without_steps  # nothing to say where: trajectories leave it out


def test_records_are_read_upgraded(tmp_path):
    old = {k: v for k, v in CURRENT.items() if k not in ("step", "checkpoint_epoch", "mode", "hparams")}
    write_records(tmp_path, [old])
    (got,) = run_records(tmp_path / RunFolder.RECORDS)
    assert got == {**CURRENT, "step": 4, "checkpoint_epoch": 2}


def test_run_fields_and_evaluation_fields():
    assert RUN_FIELDS[0] == "run_id" and set(CONFIG_KEYS) <= set(RUN_FIELDS)
    assert set(RUN_FIELDS) == set(schema.RunInfo.__dataclass_fields__)
    assert run_fields(CURRENT) == {k: CURRENT[k] for k in RUN_FIELDS}
    assert not set(schema.EVAL_FIELDS) & set(RUN_FIELDS)
    row = record(run_fields(CURRENT), {"checkpoint": "last", "step": 8}, {"metric": "auroc", "value": 1.0})
    assert row["checkpoint"] == "last" and row["value"] == 1.0 and row["run_id"] == CURRENT["run_id"]
    with pytest.raises(ValueError, match="metric"):
        record({}, {"metric": "auroc"}, {})


def test_an_incomplete_record_is_named():
    assert schema_problem([{k: v for k, v in CURRENT.items() if k != "prior"}]) == (
        "record 1 has no 'prior' field (an older or damaged schema)")
