"""Planning: CLI flags, a preset and a sweep file resolved once into typed, frozen run configs.

``RunConfig`` is everything that determines a run's numbers; its ``to_dict()`` is both the input
of the run id's hash and ``config.json``, and it is the only thing execution, the cost estimate
and the labels read. ``RunSpec`` adds what is asked of a run without changing its numbers (the
budgets to score along training). This module is the one place runs are resolved.

A sweep file (``slurm/examples/ood-sweep.toml``)::

    suite = "ood"
    preset = "smoke"                        # default: "default"
    models = ["vae", "gwae-gmp"]            # default: the suite's models
    priors = ["gaussian_mixture", "neural"] # GWAE models only: the config override prior.name
    seeds = [0, 1, 2]                       # default: the preset's seeds
    score_at = [250, 500]                   # steps scored along training (default: the preset's budgets)
    score_with = "cheap"                    # "cheap": the suite's trajectory pass; "full": every metric
    precision = "bf16"                      # default: the preset's ("fp32"); part of the run id

    [grid]                                  # dotted model-config keys -> values (cartesian product);
    "prior.mode" = ["paper", "fixed"]       # a key applies to the selected models that have the field
    z_dim = [8, 16]

    [train]                                 # optional: the preset's training budget, overridden
    max_epochs = 4                          # (part of the resolved config, so it changes the run ids)

expands to one run per model x prior x grid point x seed (runs that resolve to the same config,
e.g. a VAE under two priors, are one run). The sweep id is content-addressed too: the suite and
a hash of the sorted run ids, so rerunning the same sweep finds its metadata again.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.config.run_config import DataConfig, EvalConfig, RunConfig, RunSpec, TrainConfig
from benchmark.run import budgets
from benchmark.suites import SUITES, Preset, Suite
from core.config import flatten, from_dict, merge, nest, to_dict
from core.errors import BenchmarkError
from models import MODELS, overrides_for, resolve_config

DEFAULT_PRESET = "default"
FILE_KEYS = ("suite", "preset", "models", "priors", "seeds", "grid", "train", "score_at", "score_with", "precision")


@dataclass(frozen=True)
class Sweep:
    suite: str
    preset: str = DEFAULT_PRESET
    models: list[str] | None = None
    priors: list[str] | None = None
    seeds: list[int] | None = None
    grid: dict[str, list[Any]] = field(default_factory=dict)  # dotted model-config key -> values
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides
    overrides: dict[str, Any] = field(default_factory=dict)  # fixed (nested) model-config overrides
    score_at: tuple[int, ...] | None = None  # budgets scored along training (None: the preset's)
    budget_scoring: str = "cheap"  # ``cheap`` (the suite's trajectory pass) or ``full``
    source: str = ""  # "sweep file PATH" when read from a file, for error messages


def load_sweep(path: Path) -> Sweep:
    """Read and check a sweep file; every problem is one ``BenchmarkError`` line naming the file."""
    where = f"sweep file {path}"
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchmarkError(f"{where}: not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BenchmarkError(f"{where}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise BenchmarkError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(FILE_KEYS)})")

    def strings(key: str) -> list[str] | None:
        value = data.get(key)
        if value is not None and (not isinstance(value, list) or not value
                                  or not all(isinstance(v, str) for v in value)):
            raise BenchmarkError(f"{where}: {key} must be a non-empty list of names, got {value!r}")
        return value

    if not isinstance(data.get("suite"), str):
        raise BenchmarkError(f"{where}: suite = \"NAME\" is required")
    preset = data.get("preset", DEFAULT_PRESET)
    if not isinstance(preset, str):
        raise BenchmarkError(f"{where}: preset must be a name, got {preset!r}")
    seeds = data.get("seeds")
    if seeds is not None and (
        not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds)
    ):
        raise BenchmarkError(f"{where}: seeds must be a non-empty list of distinct integers in 0..{2**32 - 1}")
    for key in ("grid", "train"):
        if not isinstance(data.get(key, {}), dict):
            raise BenchmarkError(f"{where}: [{key}] must be a table")
    grid = {k: v if isinstance(v, list) else [v] for k, v in flatten(data.get("grid", {})).items()}
    empty = [k for k, v in grid.items() if not v]
    if empty:
        raise BenchmarkError(f"{where}: grid key(s) {', '.join(empty)} have no values")
    score_at = data.get("score_at")
    if score_at is not None and not isinstance(score_at, list):
        raise BenchmarkError(f"{where}: score_at must be a list of training steps, got {score_at!r}")
    steps = None if score_at is None else budgets.checked_steps(score_at, f"{where}: score_at {score_at!r}")
    train = dict(data.get("train", {}))
    if "precision" in data:  # the same as [train] precision: a run's training, said at the top
        if "precision" in train:
            raise BenchmarkError(f"{where}: precision is given twice (top level and [train])")
        train["precision"] = data["precision"]
    return Sweep(
        suite=data["suite"], preset=preset, models=strings("models"), priors=strings("priors"), seeds=seeds,
        grid=grid, train=train, score_at=steps,
        budget_scoring=str(data.get("score_with", "cheap")), source=where,
    )


def expand(sweep: Sweep, data_source: str = "embedded") -> list[RunSpec]:
    """Every run of the sweep, validated (names, values, override keys), in model order, no duplicates."""
    try:
        return _expand(sweep, data_source)
    except BenchmarkError as exc:
        raise BenchmarkError(f"{sweep.source}: {exc}" if sweep.source else str(exc)) from None


def _expand(sweep: Sweep, data_source: str) -> list[RunSpec]:
    models = sweep.models or list(SUITES.get(sweep.suite).models)
    if sweep.priors:
        with_prior = [m for m in models if "prior" in to_dict(MODELS.get(m).cls.config_cls())]
        if not with_prior:
            raise BenchmarkError(f"priors apply to GWAE models only, and none of {', '.join(models)} has a prior")
    keys = list(sweep.grid)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*sweep.grid.values())]
    specs: dict[str, RunSpec] = {}
    for point in points:
        for prior in sweep.priors or [None]:
            overrides = merge(sweep.overrides, nest(point))
            if prior is not None:
                overrides = merge(overrides, {"prior": {"name": prior}})
            for spec in plan(sweep.suite, sweep.preset, models, sweep.seeds, overrides, data_source, sweep.train,
                             sweep.score_at, sweep.budget_scoring):
                specs.setdefault(spec.run_id, spec)
    return sorted(specs.values(), key=lambda s: models.index(s.model))


def plan(
    suite_name: str,
    preset_name: str = DEFAULT_PRESET,
    models: list[str] | None = None,
    seeds: list[int] | None = None,
    overrides: dict[str, Any] | None = None,
    data_source: str = "embedded",
    train_overrides: dict[str, Any] | None = None,
    score_at: tuple[int, ...] | None = None,
    budget_scoring: str = "cheap",
) -> list[RunSpec]:
    """Every run of a suite invocation, validated, without touching the disk.

    ``train_overrides`` (a sweep file's ``[train]`` table) change the preset's training budget;
    they are part of the resolved config, so they change the run ids. ``score_at`` (default: the
    preset's budgets) lists the steps scored along training; it is not part of the run id.
    """
    suite = SUITES.get(suite_name)
    preset = suite_preset(suite, preset_name)
    if budget_scoring not in budgets.SCORINGS:
        raise BenchmarkError(f"--score-with {budget_scoring!r}: use one of {', '.join(budgets.SCORINGS)}")
    data = DataConfig(suite.train_dataset(data_source != "embedded"), data_source, preset.image_shape,
                      preset.n_train, preset.n_val, preset.n_eval)
    specs: dict[str, RunSpec] = {}
    overrides = overrides or {}
    used: set[str] = set()
    for model in models or list(suite.models):
        train = from_dict(TrainConfig, {**to_dict(preset.train), **preset.model_train.get(model, {}),
                                        **(train_overrides or {})}, where="train")
        steps = preset.budgets if score_at is None else tuple(score_at)
        budgets.check_steps(steps, train.max_epochs * train.steps_per_epoch if train.steps_per_epoch else None,
                            f"--score-at of suite {suite_name} ({preset_name})")
        mine = overrides_for(model, overrides)
        used |= set(mine)
        params = merge(merge({"z_dim": preset.z_dim, **budget_of(model, train)}, suite.settings.get(model, {})),
                       preset.model_overrides.get(model, {}))
        for variant in ({}, *suite.variants.get(model, ())):
            cfg = resolve_config(model, merge(merge(params, variant), mine))
            for seed in seeds if seeds is not None else list(preset.seeds):
                evaluation = EvalConfig(preset.checkpoints, preset.representations, seed, preset.n_gw,
                                        preset.eval_params)
                run = RunConfig(suite_name, preset_name, model, seed, cfg, train, data, evaluation)
                specs.setdefault(run.run_id, RunSpec(run, steps, budget_scoring))  # a variant the user overrode
    unused = sorted(set(overrides) - used)
    if unused:
        raise BenchmarkError(f"override key(s) {', '.join(unused)} match no config field of the selected models")
    return list(specs.values())


def budget_of(model: str, train: TrainConfig) -> dict[str, int]:
    """The run's step budget for a model whose schedules follow it (``BenchmarkModel.budget_field``), where the
    preset caps its epochs' steps; an uncapped epoch's length depends on the data, so the model's default stays."""
    field_name = MODELS.get(model).cls.budget_field
    if field_name is None or train.steps_per_epoch is None:
        return {}
    return {field_name: train.max_epochs * train.steps_per_epoch}


def suite_preset(suite: Suite, name: str) -> Preset:
    if name not in suite.presets:
        raise BenchmarkError(f"unknown preset {name!r} for suite {suite.name} (known: {', '.join(suite.presets)})")
    return suite.presets[name]
