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

from benchmark import heartbeat, provenance
from benchmark.config import config_hash, from_dict, to_dict
from benchmark.curves import Curves
from benchmark.data import load_dataset
from benchmark.errors import BenchmarkError
from benchmark.records import RECORDS, run_records, write_json, write_records
from benchmark.storage import run_lock
from benchmark.suites import SUITES, EvalContext, Preset, Suite
from benchmark.suites.base import gw_diagnostic
from benchmark.trainer import TrainConfig, Trainer, load_checkpoint
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
) -> list[RunSpec]:
    """Every run of a suite invocation, validated, without touching the disk.

    ``train_overrides`` (a sweep file's ``[train]`` table) change the preset's training budget;
    they are part of the resolved config, so they change the run ids.
    """
    suite = SUITES.get(suite_name)
    preset = suite_preset(suite, preset_name)
    train = from_dict(TrainConfig, {**to_dict(preset.train), **(train_overrides or {})}, where="train")
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
            specs.append(RunSpec(suite_name, preset_name, model, seed, resolved))
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
    if (run_dir / RECORDS).exists():
        try:
            return run_records(run_dir / RECORDS)
        except BenchmarkError as exc:
            print(f"warning: {run_dir / RECORDS}: {exc}; re-scoring the run from its checkpoints", file=sys.stderr)
    with run_lock(run_dir):
        try:
            return run_records(run_dir / RECORDS)
        except BenchmarkError:
            pass
        try:
            return _train_and_score(spec, Path(out), run_dir, data, device, progress, progress_desc)
        finally:  # finished, failed or interrupted: no longer running (a SIGKILL leaves it to heartbeat.running)
            heartbeat.clear(run_dir)


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
    trainer = Trainer(model, data.train, data.val, train, run_dir, device, spec.seed, progress, curves, progress_desc)
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
    params = {k: v for k, v in cfg["eval"].items()
              if k not in ("checkpoints", "representations", "eval_seed", "n_gw")}
    records = []
    for checkpoint in cfg["eval"]["checkpoints"]:
        load_checkpoint(model, run_dir, checkpoint, device)
        diagnostics = model.diagnostics()
        epoch = result.best_epoch if checkpoint == "best" else result.epochs
        for rep in cfg["eval"]["representations"]:
            torch.manual_seed(cfg["eval"]["eval_seed"])
            start = time.perf_counter()
            ctx = EvalContext(model, data.eval, rep, device, train.batch_size, cfg["eval"]["eval_seed"],
                              params=dict(params), run_dir=run_dir, checkpoint=checkpoint)
            rows = suite.evaluate(ctx) + gw_diagnostic(ctx, data.eval[suite.gw_set], cfg["eval"]["n_gw"])
            eval_wall = round(time.perf_counter() - start, 2)
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            for row in rows:
                records.append({
                    **base, "checkpoint": checkpoint, "checkpoint_epoch": epoch, "representation": rep,
                    "eval_wall_s": eval_wall, "timestamp": stamp,
                    **({"model_diagnostics": diagnostics} if diagnostics else {}), **row,
                })
    write_records(run_dir, records)
    return records
