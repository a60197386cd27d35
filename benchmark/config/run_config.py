"""The typed run: ``RunConfig`` (everything that determines a run's numbers) and ``RunSpec`` (it, and what is
asked of it besides). ``RunConfig.to_dict()`` is both the run id's input and ``config.json``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from core.config import config_hash, from_dict, plain, to_dict
from core.errors import BenchmarkError
from models import prior_of, resolve_config
from models.precision import check as check_precision


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64  # official
    max_epochs: int = 100  # the official code has no cap (early stopping only)
    patience: int = 10  # official: stop after 10 epochs without a new best validation loss
    #: Cap on steps per epoch (None: one full pass over the training set).
    steps_per_epoch: int | None = None
    #: ``fp32`` (the paper's) or ``bf16``: forward passes under bf16 autocast (``models.precision``). Out of the
    #: hashed config when fp32, so every run id from before the option stays as it was.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.batch_size < 2 or self.max_epochs < 1 or self.patience < 1:
            raise ValueError("batch_size >= 2, max_epochs >= 1 and patience >= 1 are required")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError("steps_per_epoch must be >= 1")


@dataclass(frozen=True)
class DataConfig:
    dataset: str
    source: str  # "embedded" or "data_root"
    image_shape: tuple[int, int, int]
    n_train: int | None
    n_val: int | None
    n_eval: int | None


@dataclass(frozen=True)
class EvalConfig:
    checkpoints: tuple[str, ...]
    representations: tuple[str, ...]
    eval_seed: int
    n_gw: int
    #: The suite's typed evaluation parameters (``Suite`` presets): their fields are checked when the
    #: preset is built, so a misspelt one fails before training, never after.
    params: Any


@dataclass(frozen=True)
class RunLabels:
    """What tells runs apart in records and leaderboards: the prior, the GMP mode, the non-default hparams (and
    a precision other than fp32, e.g. ``precision=bf16``: fp32 rows read as before the option existed)."""

    prior: str
    mode: str
    hparams: str


@dataclass(frozen=True)
class RunConfig:
    """One run, resolved: the model's typed config, the training budget, the data and the evaluation."""

    suite: str
    preset: str
    model: str
    seed: int
    model_config: Any
    train: TrainConfig
    data: DataConfig
    eval: EvalConfig

    def to_dict(self) -> dict[str, Any]:
        """The run id's input and ``config.json``; the layout every earlier run id was hashed from."""
        evaluation = {k: v for k, v in to_dict(self.eval).items() if k != "params"}
        train = to_dict(self.train)
        if train["precision"] == "fp32":  # the default hashes as before the option existed
            del train["precision"]
        return plain({
            "suite": self.suite, "preset": self.preset, "model": self.model,
            "model_config": to_dict(self.model_config), "seed": self.seed, "train": train,
            "data": to_dict(self.data), "eval": {**evaluation, **to_dict(self.eval.params)},
        })

    @classmethod
    def from_dict(cls, data: dict[str, Any], eval_params: type) -> RunConfig:
        """The typed run back from ``to_dict()`` or a run folder's ``config.json`` (which adds ``run_id``).

        ``eval_params`` is the suite's evaluation parameters class (its presets' ``eval_params``): config sits
        below suites, so the caller names it. A stored ``run_id`` must match the rebuilt one, else the file is
        not the run it claims to be.
        """
        data = dict(data)
        stored = data.pop("run_id", None)
        where = f"config of {stored or data.get('suite')}"
        evaluation = dict(data.pop("eval"))
        fields = {f.name for f in dataclasses.fields(EvalConfig)} - {"params"}
        params = from_dict(eval_params, {k: v for k, v in evaluation.items() if k not in fields}, f"{where}.eval")
        run = cls(
            suite=data["suite"], preset=data["preset"], model=data["model"], seed=data["seed"],
            model_config=resolve_config(data["model"], data["model_config"]),
            train=from_dict(TrainConfig, data["train"], f"{where}.train"),
            data=from_dict(DataConfig, data["data"], f"{where}.data"),
            eval=from_dict(EvalConfig, {**{k: v for k, v in evaluation.items() if k in fields}, "params": params},
                           f"{where}.eval"),
        )
        if stored is not None and stored != run.run_id:
            raise BenchmarkError(f"{where}: rebuilds as {run.run_id}, not the stored run id")
        return run

    @functools.cached_property
    def run_id(self) -> str:
        return f"{self.suite}-{self.model}-seed{self.seed}-{config_hash(self.to_dict())}"

    @functools.cached_property
    def labels(self) -> RunLabels:
        prior, mode = prior_of(self.model, self.model_config)
        defaults = to_dict(resolve_config(self.model, {"z_dim": self.model_config.z_dim}))
        hparams = hparams_label(to_dict(self.model_config), defaults)
        if self.train.precision != "fp32":  # its own row, never pooled with fp32 seeds
            hparams = " ".join(p for p in (hparams, f"precision={self.train.precision}") if p != "-")
        return RunLabels(prior, mode, hparams)


def _of_config(name: str) -> property:
    return property(lambda self: getattr(self.config, name), doc=f"``config.{name}``")


@dataclass(frozen=True)
class RunSpec:
    """A run config and what is asked of it besides: the steps scored along training (not in the run id)."""

    config: RunConfig
    budgets: tuple[int, ...] = ()
    budget_scoring: str = "cheap"

    run_id = _of_config("run_id")
    suite = _of_config("suite")
    preset = _of_config("preset")
    model = _of_config("model")
    seed = _of_config("seed")

    def describe(self) -> dict[str, Any]:
        """The run as a sweep's metadata lists it."""
        return {"suite": self.suite, "preset": self.preset, "model": self.model, "seed": self.seed,
                "config": self.config.to_dict(), "budgets": list(self.budgets), "budget_scoring": self.budget_scoring}


def hparams_label(config: dict[str, Any], defaults: dict[str, Any], prefix: str = "") -> str:
    """What differs from the model's registry defaults, e.g. ``beta=8 prior.mode=fixed`` ('-' if nothing).

    Leaderboards group by it, so runs of a hyperparameter sweep never share a row.
    """
    parts = []
    for key in sorted(config):
        value, default = config[key], defaults.get(key)
        if isinstance(value, dict) and isinstance(default, dict):
            sub = hparams_label(value, default, f"{prefix}{key}.")
            parts += [] if sub == "-" else [sub]
        elif value != default:
            parts.append(f"{prefix}{key}={value}")
    return " ".join(parts) or "-"
