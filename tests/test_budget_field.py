"""Models whose schedules follow the run's step budget get it from the planner (``BenchmarkModel.budget_field``)."""

from benchmark.launch.planning import plan
from models import MODELS


def test_the_planner_sets_the_budget_field_to_the_presets_step_budget():
    smoke = plan("generation", "smoke", ["geco"])[0]
    train = smoke.config.train
    assert smoke.config.model_config.total_steps == train.max_epochs * train.steps_per_epoch == 8


def test_an_explicit_override_wins_and_an_uncapped_epoch_keeps_the_models_default():
    assert plan("generation", "smoke", ["geco"], overrides={"total_steps": 5})[0].config.model_config.total_steps == 5
    paper = plan("generation", "paper", ["geco"])[0]
    assert paper.config.train.steps_per_epoch is None
    assert paper.config.model_config.total_steps == MODELS.get("geco").cls.config_cls().total_steps


def test_models_without_a_budget_field_are_untouched():
    assert all(not hasattr(s.config.model_config, "total_steps") for s in plan("ood", "smoke", ["vae", "dagmm"]))
