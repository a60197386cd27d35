"""A run's folder, ``<out>/<run id>/``: the one place that names its files and rebuilds its run from them.

Launchers, the status table, the leaderboard and the tools all find a run's files through ``RunFolder``,
so a renamed file is renamed once. The folder reads its ``RunConfig`` back from ``config.json`` and
rebuilds the trained model at ``best``, ``last`` or a kept budget step.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from benchmark.config.run_config import RunConfig
from benchmark.records.io import RECORDS
from benchmark.run.checkpoints import load_state
from benchmark.suites import SUITES
from core.errors import BenchmarkError, CheckpointError, UnsafeCheckpointError
from models import BenchmarkModel, build_model

#: TensorBoard event files live under ``<out>/tensorboard/``, one folder per run named by what tells runs apart,
#: so ``tensorboard --logdir <out>`` lists a sweep as suite/model/prior/hparams/seed.
TENSORBOARD_DIR = "tensorboard"


class RunFolder:
    """The files of one run folder (names as constants, paths as properties) and what is rebuilt from them."""

    CONFIG = "config.json"
    TRAIN = "train.json"
    RECORDS = RECORDS
    TRAJECTORY = "trajectory.jsonl"
    HEARTBEAT = "heartbeat.json"
    ERROR = "error.json"
    BEST = "checkpoint_best.pt"
    LAST = "checkpoint_last.pt"
    BUDGET_DIR = "budgets"
    STEPS_CSV, EPOCHS_CSV = "curves_steps.csv", "curves_epochs.csv"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def run_id(self) -> str:
        return self.path.name

    config_file = property(lambda self: self.path / self.CONFIG, doc="``config.json``: ``run_id`` and the config")
    train_file = property(lambda self: self.path / self.TRAIN, doc="``train.json``: the training result")
    records = property(lambda self: self.path / self.RECORDS, doc="``records.jsonl``: the run's scores")
    trajectory = property(lambda self: self.path / self.TRAJECTORY, doc="``trajectory.jsonl``: budget scores")
    heartbeat = property(lambda self: self.path / self.HEARTBEAT, doc="``heartbeat.json``: the live process")
    error = property(lambda self: self.path / self.ERROR, doc="``error.json``: why the run last failed")
    budget_dir = property(lambda self: self.path / self.BUDGET_DIR, doc="weights kept at budget steps")
    steps_csv = property(lambda self: self.path / self.STEPS_CSV, doc="per-step training curves")
    epochs_csv = property(lambda self: self.path / self.EPOCHS_CSV, doc="per-epoch training curves")

    def checkpoint(self, which: str | int) -> Path:
        """``best`` or ``last`` (the training checkpoints), or the weights kept at a budget step (an int)."""
        if isinstance(which, int):
            return self.budget_dir / f"step{which:08d}.pt"
        if which not in ("best", "last"):
            raise BenchmarkError(f"checkpoint {which!r}: use best, last or a kept step")
        return self.path / (self.BEST if which == "best" else self.LAST)

    def tensorboard(self, run: RunConfig) -> Path:
        """``<out>/tensorboard/ood/gwae-gmp/gaussian_mixture-paper/default/seed0-1a2b3c4d``: beside the run folders
        (one ``--logdir`` for a sweep), named by what tells runs apart."""
        prior, mode, hparams = run.labels.prior, run.labels.mode, run.labels.hparams
        safe = "".join(c if c.isalnum() or c in "-_.=," else "_" for c in hparams.replace(" ", ","))
        prior_part = prior if mode in ("-", None) else f"{prior}-{mode}"
        hparams_part = "default" if hparams == "-" else safe
        name = f"{run.suite}/{run.model}/{prior_part}/{hparams_part}/seed{run.seed}-{run.run_id.rsplit('-', 1)[-1]}"
        return self.path.parent / TENSORBOARD_DIR / name

    def config(self) -> RunConfig:
        """The run's typed config from ``config.json`` (its suite's presets give the evaluation parameters' type)."""
        try:
            data = json.loads(self.config_file.read_text())
            presets = SUITES.get(data["suite"]).presets
            return RunConfig.from_dict(data, type(presets[data["preset"]].eval_params))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # absent, not JSON, missing a key
            raise BenchmarkError(f"{self.config_file}: unreadable ({type(exc).__name__}: {exc})") from None

    def new_model(self, run: RunConfig | None = None) -> BenchmarkModel:
        """The run's model, freshly initialised as training initialised it (the seed decides)."""
        run = run or self.config()
        torch.manual_seed(run.seed)
        return build_model(run.model, run.model_config, run.data.image_shape)

    def load(self, model: BenchmarkModel, which: str | int, device: torch.device | str) -> BenchmarkModel:
        """Load the weights at ``which`` (see ``checkpoint``) into ``model``; on ``device``, in eval mode."""
        path = self.checkpoint(which)
        try:
            model.load_state_dict(load_state(path, device)["model"])
        except UnsafeCheckpointError:
            raise
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: does not fit this run ({type(exc).__name__})") from None
        return model.to(device).eval()

    def model(self, which: str | int, device: torch.device | str = "cpu") -> BenchmarkModel:
        """The trained model at ``best``, ``last`` or a kept budget step, rebuilt from ``config.json``."""
        return self.load(self.new_model(), which, device)
