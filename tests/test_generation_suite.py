"""The generation suite runs the paper's comparison: its models, the official settings, fixed modes beside paper."""

from pathlib import Path

from benchmark.launch.planning import plan
from benchmark.suites import SUITES
from core.config import to_dict
from models import MODELS

OFFICIAL_BASELINES = ("vae", "beta-vae", "beta-tcvae", "factorvae", "dip-vae-i", "dip-vae-ii", "wae-infovae", "geco",
                      "sigma-vae", "vampprior-vae", "two-stage-vae", "ladder-vae", "vlae", "guided-vae", "u-vitae",
                      "ali", "avb", "vae-gan")
COMMITTED = Path(__file__).resolve().parents[1] / "results" / "records" / "generation"


def _configs(preset: str = "default", **kwargs) -> dict[tuple[str, str], list]:
    out: dict[tuple[str, str], list] = {}
    for spec in plan("generation", preset, **kwargs):
        out.setdefault((spec.model, spec.config.labels.hparams), []).append(spec)
    return out


def test_the_suite_runs_gwae_np_and_the_18_official_baselines_and_our_wae_mmd():
    assert set(SUITES.get("generation").models) == {"gwae-np", "wae", *OFFICIAL_BASELINES}


def test_the_official_settings_are_set_by_the_suite_and_recorded_in_hparams():
    configs = _configs()
    (beta_vae,) = [specs for (model, _), specs in configs.items() if model == "beta-vae"]
    assert {s.config.model_config.beta for s in beta_vae} == {0.1}  # settings/bvae.yaml, not the registry's 4
    assert beta_vae[0].config.labels.hparams == "beta=0.1"
    assert to_dict(configs["wae-infovae", "-"][0].config.model_config)["alpha"] == 0.9  # vaetc's wae = InfoVAE


def test_the_models_whose_method_vaetc_changes_most_run_the_fixed_mode_beside_paper_with_every_seed():
    configs = _configs()
    with_modes = {m for m in SUITES.get("generation").models if "mode" in to_dict(MODELS.get(m).cls.config_cls())}
    both = {"sigma-vae", "vampprior-vae", "ladder-vae", "vae-gan"}
    for model in with_modes:
        modes = {s.config.labels.mode: len(specs) for (m, _), specs in configs.items() if m == model for s in specs}
        assert modes == ({"paper": 3, "fixed": 3} if model in both else {"paper": 3}), model
    assert sum(len(specs) for specs in configs.values()) == 3 * (20 + len(both))


def test_a_user_override_of_the_variant_field_collapses_the_variant_instead_of_running_it_twice():
    specs = plan("generation", "smoke", models=["sigma-vae"], overrides={"mode": "fixed"})
    assert [s.config.labels.mode for s in specs] == ["fixed"]


def test_every_committed_run_is_one_the_suite_plans_so_unchanged_configs_kept_their_run_ids():
    committed = {d.name for d in COMMITTED.iterdir() if d.is_dir()}
    assert {"generation-vae-seed0-482c163c1ecb", "generation-wae-seed0-a11fcd3656af",
            "generation-gwae-np-seed0-2c5f9a9dc338"} <= committed  # trained before the suite had its 18 baselines
    assert committed <= {s.run_id for s in plan("generation", "default")}


def test_the_paper_preset_trains_each_model_as_its_settings_file_stops_it():
    train = {s.model: s.config.train for s in plan("generation", "paper", seeds=[0])}
    assert (train["geco"].max_epochs, train["two-stage-vae"].max_epochs, train["ladder-vae"].max_epochs) == (150, 200,
                                                                                                               100)
    assert all(train[m].patience >= train[m].max_epochs for m in ("geco", "two-stage-vae", "ladder-vae"))
    assert {train[m].patience for m in ("sigma-vae", "vlae", "ali", "avb", "vae-gan")} == {5}
    assert train["vae"].patience == train["gwae-np"].patience == 10
