"""Plan and execute the runs of a suite: resolve configs, train, evaluate, write records.

A run is content-addressed: its id ends in a hash of its resolved config, so rerunning a
command skips what already has records and resumes what has a last checkpoint.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from benchmark import budgets, heartbeat, provenance
from benchmark.curves import Curves
from benchmark.data import load_dataset
from benchmark.records import RECORDS, run_records, write_json, write_records
from benchmark.storage import run_lock
from benchmark.suites import SUITES, EvalContext, Preset, Suite
from benchmark.suites.base import gw_diagnostic
from benchmark.trainer import TrainConfig, Trainer, load_checkpoint
from core.config import config_hash, from_dict, to_dict
from core.errors import BenchmarkError
from models import build_model, merge, overrides_for, prior_of, resolve_config

#: TensorBoard event files live under ``<out>/tensorboard/``, one folder per run named by what tells runs apart,
#: so ``tensorboard --logdir <out>`` lists a sweep as suite/model/prior/hparams/seed.
TENSORBOARD_DIR = "tensorboard"


@dataclass(frozen=True)
class RunSpec:
    suite: str
    preset: str
    model: str
    seed: int
    config: dict[str, Any]  # the resolved config: everything that determines the result
    #: Steps whose weights are kept and scored (``benchmark.budgets``), and how; not part of the run id.
    budgets: tuple[int, ...] = ()
    budget_scoring: str = "cheap"

    @property
    def run_id(self) -> str:
        return f"{self.suite}-{self.model}-seed{self.seed}-{config_hash(self.config)}"


def plan(
    suite_name: str,
    preset_name: str,
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
    train = from_dict(TrainConfig, {**to_dict(preset.train), **(train_overrides or {})}, where="train")
    steps = preset.budgets if score_at is None else tuple(score_at)
    budgets.check_steps(steps, train.max_epochs * train.steps_per_epoch if train.steps_per_epoch else None,
                        f"--score-at of suite {suite_name} ({preset_name})")
    if budget_scoring not in budgets.SCORINGS:
        raise BenchmarkError(f"--score-with {budget_scoring!r}: use one of {', '.join(budgets.SCORINGS)}")
    specs = []
    overrides = overrides or {}
    used: set[str] = set()
    for model in models or list(suite.models):
        mine = overrides_for(model, overrides)
        used |= set(mine)
        params = merge({"z_dim": preset.z_dim}, preset.model_overrides.get(model, {}))
        cfg = resolve_config(model, merge(params, mine))
        for seed in seeds if seeds is not None else list(preset.seeds):
            resolved = {
                "suite": suite_name,
                "preset": preset_name,
                "model": model,
                "model_config": to_dict(cfg),
                "seed": seed,
                "train": to_dict(train),
                "data": {
                    "dataset": suite.train_dataset(data_source != "embedded"), "source": data_source,
                    "image_shape": list(preset.image_shape),
                    "n_train": preset.n_train, "n_val": preset.n_val, "n_eval": preset.n_eval,
                },
                "eval": {
                    "checkpoints": list(preset.checkpoints), "representations": list(preset.representations),
                    "eval_seed": seed, "n_gw": preset.n_gw, **preset.eval_params,
                },
            }
            specs.append(RunSpec(suite_name, preset_name, model, seed, resolved, steps, budget_scoring))
    unused = sorted(set(overrides) - used)
    if unused:
        raise BenchmarkError(f"override key(s) {', '.join(unused)} match no config field of the selected models")
    return specs


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


def tensorboard_name(spec: RunSpec, prior: str, mode: str, hparams: str) -> str:
    """``ood/gwae-gmp/gaussian_mixture-paper/default/seed0-1a2b3c4d``: the run's TensorBoard folder."""
    safe = "".join(c if c.isalnum() or c in "-_.=," else "_" for c in hparams.replace(" ", ","))
    prior_part = prior if mode in ("-", None) else f"{prior}-{mode}"
    hparams_part = "default" if hparams == "-" else safe
    return f"{spec.suite}/{spec.model}/{prior_part}/{hparams_part}/seed{spec.seed}-{spec.run_id.rsplit('-', 1)[-1]}"


def suite_preset(suite: Suite, name: str) -> Preset:
    if name not in suite.presets:
        raise BenchmarkError(f"unknown preset {name!r} for suite {suite.name} (known: {', '.join(suite.presets)})")
    return suite.presets[name]


@dataclass
class SuiteData:
    train: Any
    val: Any
    eval: dict[str, Any]


def load_suite_data(suite: Suite, preset: Preset, data_root: Path | None) -> SuiteData:
    """Load (and checksum) every dataset the suite needs, before anything is written."""
    common = {"data_root": data_root, "image_shape": preset.image_shape, "seed": 0}
    name = suite.train_dataset(data_root is not None)
    return SuiteData(
        train=load_dataset(name, "train", n=preset.n_train, **common),
        val=load_dataset(name, "val", n=preset.n_val, **common),
        eval=suite.load_eval_data(preset, data_root),
    )


def execute(
    spec: RunSpec, out: Path, data: SuiteData, device: torch.device, progress: bool = True,
    progress_desc: str | None = None,
) -> list[dict[str, Any]]:
    """Train (or resume) one run and score it; returns its records. Skips a run that has whole records.

    Holds the run's lock throughout: a second process for the same run waits, then finds the records.
    """
    run_dir = Path(out) / spec.run_id
    records = _whole_records(run_dir, warn=True)
    if records is not None and not budgets.pending(run_dir, spec.budgets, spec.budget_scoring):
        _warn_unreachable(spec, run_dir)
        return records
    with run_lock(run_dir):
        try:
            records = _whole_records(run_dir) or _train_and_score(spec, Path(out), run_dir, data, device, progress,
                                                                  progress_desc)
            score_budgets(spec, run_dir, data, device, records)
            return records
        finally:  # finished, failed or interrupted: no longer running (a SIGKILL leaves it to heartbeat.running)
            heartbeat.clear(run_dir)


def _whole_records(run_dir: Path, warn: bool = False) -> list[dict[str, Any]] | None:
    if not (run_dir / RECORDS).exists():
        return None
    try:
        return run_records(run_dir / RECORDS)
    except BenchmarkError as exc:
        if warn:
            print(f"warning: {run_dir / RECORDS}: {exc}; re-scoring the run from its checkpoints", file=sys.stderr)
        return None


def _warn_unreachable(spec: RunSpec, run_dir: Path) -> None:
    missing = budgets.unreachable(run_dir, spec.budgets, spec.budget_scoring)
    if missing:
        print(f"warning: {spec.run_id} has no weights kept at step(s) {', '.join(map(str, missing))} (it trained "
              "before they were asked for, or stopped early before them): not scored", file=sys.stderr)


#: Fields of a run's records that describe the run, not one score: budget records copy them.
RUN_FIELDS = ("run_id", "suite", "preset", "model", "prior", "mode", "hparams", "dataset", "seed", "eval_seed",
              "model_config", "train_config", "data_config", "epochs", "best_epoch", "stopped_early", "steps",
              "wall_s", "peak_rss_mb", "peak_cuda_mb", "versions", "hardware", "hardware_summary")


def score_budgets(spec: RunSpec, run_dir: Path, data: SuiteData, device: torch.device,
                  records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score every kept, not yet scored budget of a run; returns all its budget records (``trajectory.jsonl``).

    Each budget is written as soon as it is scored, so an interrupted scoring keeps what it did.
    """
    todo = budgets.pending(run_dir, spec.budgets, spec.budget_scoring)
    found = budgets.scored(run_dir)
    _warn_unreachable(spec, run_dir)
    if not todo:
        return found
    suite = SUITES.get(spec.suite)
    cfg = spec.config
    model = build_model(spec.model, resolve_config(spec.model, cfg["model_config"]), tuple(cfg["data"]["image_shape"]))
    base = {k: records[0][k] for k in RUN_FIELDS if k in records[0]}
    per_epoch = records[0]["steps"] / max(records[0]["epochs"], 1)
    batch_size = cfg["train"]["batch_size"]
    heartbeat.beat(run_dir, "scoring budgets")
    for step in todo:
        load_checkpoint(model, run_dir, step, device)
        torch.manual_seed(cfg["eval"]["eval_seed"])
        start = time.perf_counter()
        ctx = EvalContext(model, data.eval, suite.trajectory.encode_as, device, batch_size, cfg["eval"]["eval_seed"],
                          params=_eval_params(cfg), run_dir=None, checkpoint=f"step{step}")
        scores = suite.trajectory.score(ctx) if spec.budget_scoring == "cheap" else suite.evaluate(ctx)
        wall = round(time.perf_counter() - start, 2)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for row in scores.rows:  # the numbers only: no curves or files per budget
            found.append({**base, "checkpoint": "step", "step": step, "checkpoint_epoch": round(step / per_epoch, 3),
                          "representation": suite.trajectory.encode_as, "budget_scoring": spec.budget_scoring,
                          "eval_wall_s": wall, "timestamp": stamp, **row})
        write_records(run_dir, found, budgets.TRAJECTORY)
    return found


def _eval_params(cfg: dict[str, Any]) -> dict[str, Any]:
    """The suite-specific evaluation parameters of a resolved config (what ``EvalContext.params`` holds)."""
    return {k: v for k, v in cfg["eval"].items() if k not in ("checkpoints", "representations", "eval_seed", "n_gw")}


def _train_and_score(spec: RunSpec, out: Path, run_dir: Path, data: SuiteData, device: torch.device, progress: bool,
                     progress_desc: str | None) -> list[dict[str, Any]]:
    suite = SUITES.get(spec.suite)
    cfg = spec.config  # everything below reads the hashed config, never the live preset
    train = from_dict(TrainConfig, cfg["train"], where="train")
    model_cfg = resolve_config(spec.model, cfg["model_config"])
    image_shape = tuple(cfg["data"]["image_shape"])
    if not (run_dir / "config.json").exists():
        write_json(run_dir / "config.json", {"run_id": spec.run_id, **cfg})

    prior, mode = prior_of(spec.model, model_cfg)
    defaults = to_dict(resolve_config(spec.model, {"z_dim": model_cfg.z_dim}))
    hparams = hparams_label(cfg["model_config"], defaults)
    curves = Curves(run_dir, out / TENSORBOARD_DIR / tensorboard_name(spec, prior, mode, hparams))

    torch.manual_seed(spec.seed)  # model initialisation depends on the seed only
    model = build_model(spec.model, model_cfg, image_shape)
    trainer = Trainer(model, data.train, data.val, train, run_dir, device, spec.seed, progress, curves, progress_desc,
                      keep_at=spec.budgets)
    result = trainer.fit()
    write_json(run_dir / "train.json", to_dict(result))
    heartbeat.beat(run_dir, "scoring")

    hardware = provenance.hardware(device)
    base = {
        "run_id": spec.run_id, "suite": spec.suite, "preset": spec.preset, "model": spec.model,
        "prior": prior, "mode": mode, "hparams": hparams,
        "dataset": cfg["data"]["dataset"], "seed": spec.seed,
        "eval_seed": cfg["eval"]["eval_seed"], "model_config": cfg["model_config"], "train_config": cfg["train"],
        "data_config": cfg["data"], "epochs": result.epochs, "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early, "steps": result.steps, "wall_s": round(result.wall_s, 2),
        "peak_rss_mb": round(result.peak_rss_mb, 1), "peak_cuda_mb": round(result.peak_cuda_mb, 1),
        "versions": provenance.versions(), "hardware": hardware, "hardware_summary": provenance.describe(hardware),
    }
    params = _eval_params(cfg)
    records = []
    for checkpoint in cfg["eval"]["checkpoints"]:
        load_checkpoint(model, run_dir, checkpoint, device)
        diagnostics = model.diagnostics()
        epoch = result.best_epoch if checkpoint == "best" else result.epochs
        step = round(result.steps * epoch / max(result.epochs, 1))  # epochs are whole: the steps at that epoch
        for rep in cfg["eval"]["representations"]:
            torch.manual_seed(cfg["eval"]["eval_seed"])
            start = time.perf_counter()
            ctx = EvalContext(model, data.eval, rep, device, train.batch_size, cfg["eval"]["eval_seed"],
                              params=dict(params), run_dir=run_dir, checkpoint=checkpoint)
            rows = suite.evaluate(ctx).records() + gw_diagnostic(ctx, data.eval[suite.gw_set], cfg["eval"]["n_gw"])
            eval_wall = round(time.perf_counter() - start, 2)
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            for row in rows:
                records.append({
                    **base, "checkpoint": checkpoint, "checkpoint_epoch": epoch, "step": step, "representation": rep,
                    "eval_wall_s": eval_wall, "timestamp": stamp,
                    **({"model_diagnostics": diagnostics} if diagnostics else {}), **row,
                })
    write_records(run_dir, records)
    return records
