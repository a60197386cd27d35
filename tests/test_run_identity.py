"""Every preset field that shapes a number is part of the hashed run config, so changing it changes the run id."""

import dataclasses

import pytest

from benchmark.config.run_config import TrainConfig
from benchmark.launch.planning import plan
from benchmark.suites import SUITES


@dataclasses.dataclass(frozen=True)
class Knob:
    """Typed evaluation parameters with one field (the ood suite has none)."""

    extra_knob: int = 1


#: a changed value for every Preset field; a field missing here fails the coverage test below
CHANGES = {
    "image_shape": (1, 32, 32),
    "train": TrainConfig(batch_size=32, max_epochs=2, patience=2, steps_per_epoch=4),
    "z_dim": 5,
    "n_train": 500,
    "n_val": 100,
    "n_eval": 200,
    "checkpoints": ("last",),
    "representations": ("mean",),
    "n_gw": 64,
    "eval_params": Knob(),
    "model_overrides": {"vae": {"beta": 2.0}, "dagmm": {"lr": 1e-3}, "dagmm-zong": {"lr": 1e-3},
                        "gwae-gmp": {"lr": 1e-3}},
    "model_train": {m: {"patience": 1} for m in ("vae", "dagmm", "dagmm-zong", "gwae-gmp")},
}
NOT_HASHED = {"seeds": "each seed has its own run id by name",
              "budgets": "which kept steps are scored: asking for more never retrains a run (tests/test_budgets.py)"}


def test_every_preset_field_is_either_hashed_or_named_as_not_shaping_results():
    from benchmark.suites.base import Preset

    assert {f.name for f in dataclasses.fields(Preset)} == set(CHANGES) | set(NOT_HASHED)


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_changing_a_preset_field_changes_every_run_id(monkeypatch, field):
    suite = SUITES.get("ood")
    before = {s.model: s.run_id for s in plan("ood", "smoke")}
    changed = dataclasses.replace(suite.presets["smoke"], **{field: CHANGES[field]})
    monkeypatch.setitem(suite.presets, "smoke", changed)
    after = {s.model: s.run_id for s in plan("ood", "smoke")}
    assert before.keys() == after.keys()
    assert all(before[m] != after[m] for m in before), field
