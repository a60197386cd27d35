"""The shared training loop: devices, seeding, early stopping, checkpoints, resume, progress.

Models step their own optimizers (``BenchmarkModel.train_batch``); the trainer decides which
batches they see, when to validate, what to save and when to stop. Batches of epoch ``e`` come
from a generator seeded by (seed, e) and the global RNG state is checkpointed, so a resumed run
continues the exact batch and noise sequence of an uninterrupted one. Training and validation steps run under
the run's precision (``models.precision``: bf16 autocast and channels-last images and weights, or nothing for
fp32). Every loss term, the
learning rates, steps/s and the validation terms go to the run's curves (``benchmark.run.curves``);
a heartbeat file tells ``status`` that the run is alive (``benchmark.run.heartbeat``).
"""

from __future__ import annotations

import copy
import io
import math
import random
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from benchmark.config.run_config import TrainConfig
from benchmark.data import identity_collate
from benchmark.run import heartbeat
from benchmark.run.checkpoints import CHECKPOINT_FORMAT, load_state, pack_rng, unpack_rng
from benchmark.run.curves import Curves
from benchmark.run.folder import RunFolder
from core.errors import BenchmarkError, CheckpointError, NonFiniteLossError, UnsafeCheckpointError
from core.storage import make_dir, write_bytes_atomic
from models import precision as mixed
from models.base import BenchmarkModel

#: The trainer's one test seam, called after each epoch once its checkpoint is written (run folder, epochs
#: done); None in production. Tests that interrupt a real run mid-training set it in their CLI children
#: (tests/hold/sitecustomize.py), so an interruption lands at a known point, never late.
after_epoch: Callable[[Path, int], None] | None = None


@dataclass
class TrainResult:
    epochs: int = 0
    best_epoch: int = -1
    best_val: float = math.inf
    stopped_early: bool = False
    finished: bool = False
    steps: int = 0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    peak_cuda_mb: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    #: Epochs after which training was resumed from ``checkpoint_last.pt`` (crash, preemption, requeue).
    resumed_at: list[int] = field(default_factory=list)


def resolve_device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda was asked for, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise BenchmarkError(f"unknown device {name!r} (use cpu or cuda)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save_bytes(obj: Any) -> bytes:
    """Serialise in memory, so a full disk fails in our atomic write (one clear line), not inside torch."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class Trainer:
    def __init__(
        self,
        model: BenchmarkModel,
        train_set: Dataset,
        val_set: Dataset,
        config: TrainConfig,
        run_dir: Path,
        device: torch.device,
        seed: int,
        progress: bool = True,
        curves: Curves | None = None,
        progress_desc: str | None = None,
        keep_at: tuple[int, ...] = (),
    ) -> None:
        self.model = model.to(device, memory_format=mixed.memory_format(config.precision))
        self.keep_at = frozenset(keep_at)  # steps whose weights are kept for scoring (``benchmark.run.budgets``)
        self.train_set, self.val_set = train_set, val_set
        self.config, self.run_dir, self.device, self.seed = config, Path(run_dir), device, seed
        self.progress, self.progress_desc = progress, progress_desc
        self.curves = curves if curves is not None else Curves(self.run_dir)
        self.optimizers = model.build_optimizers()
        self.result = TrainResult()

    # -- data -------------------------------------------------------------------------------
    def _loader(self, dataset: Dataset, shuffle: bool, epoch: int = 0) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return DataLoader(
            dataset, batch_size=self.config.batch_size, shuffle=shuffle, drop_last=True,
            generator=gen, collate_fn=identity_collate, pin_memory=self.device.type == "cuda",
        )

    def steps_per_epoch(self) -> int:
        full = len(self.train_set) // self.config.batch_size
        for name, ds in (("training", self.train_set), ("validation", self.val_set)):
            if len(ds) < self.config.batch_size:
                raise BenchmarkError(f"{name} set of {len(ds)} images is smaller than one batch")
        cap = self.config.steps_per_epoch
        return min(full, cap) if cap else full

    # -- checkpoints ------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """Tensors, numbers and strings only, so it loads with ``weights_only=True``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "result": asdict(self.result),
            "rng": pack_rng(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["model"])
            for k, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][k])
            self.result = TrainResult(**state["result"])
            unpack_rng(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"does not fit this run ({type(exc).__name__}: {exc})".splitlines()[0]) from None

    def _resume(self) -> bool:
        """Resume from the last checkpoint; if it is unreadable, from the best one, else from scratch.

        A refused (unsafe or older-format) checkpoint stops the run: it is never loaded and never replaced.
        """
        folder = RunFolder(self.run_dir)
        if not folder.checkpoint("last").exists():
            return False
        initial = copy.deepcopy(self._state())
        problem = ""
        for name in ("last", "best"):
            path = folder.checkpoint(name)
            try:
                if not path.exists():
                    raise CheckpointError("missing")
                self._restore(load_state(path, self.device))
            except UnsafeCheckpointError:
                raise
            except CheckpointError as exc:
                problem = problem or f"{exc}"
                self._restore(initial)
                continue
            if name == "best":  # it replaces the unreadable file (a finished run is scored from ``last`` too)
                write_bytes_atomic(folder.checkpoint("last"), path.read_bytes())
                print(f"warning: {folder.checkpoint('last')} is unreadable ({problem}); resuming from {folder.BEST} "
                      f"(epoch {self.result.epochs})", file=sys.stderr, flush=True)
            if not self.result.finished:
                self.result.resumed_at.append(self.result.epochs)
            return True
        print(f"warning: {folder.checkpoint('last')} is unreadable ({problem}) and {folder.BEST} cannot replace it; "
              "restarting the run from scratch", file=sys.stderr, flush=True)
        return False

    def learning_rates(self) -> dict[str, float]:
        return {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}

    # -- loop -------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train until early stopping or ``max_epochs``; resumes from ``checkpoint_last.pt``."""
        make_dir(self.run_dir)
        if not self._resume():
            seed_everything(self.seed)
        if self.result.finished:
            return self.result
        self.curves.start(self.result.steps)
        try:
            return self._fit()
        finally:
            self.curves.close()

    def _fit(self) -> TrainResult:
        cfg, res = self.config, self.result
        steps = self.steps_per_epoch()
        self._total_steps = cfg.max_epochs * steps
        heartbeat.beat(self.run_dir, "training", epoch=res.epochs, step=res.steps, total_steps=self._total_steps)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        bar = tqdm(
            total=cfg.max_epochs * steps, initial=res.epochs * steps, disable=not self.progress,
            desc=self.progress_desc or f"train {self.run_dir.name}", unit="step", file=sys.stderr,
            dynamic_ncols=True, mininterval=1.0,
        )
        start = time.perf_counter() - res.wall_s
        for epoch in range(res.epochs, cfg.max_epochs):
            epoch_start = time.perf_counter()
            train_terms = self._train_epoch(epoch, steps, bar)
            train_s = time.perf_counter() - epoch_start
            val_terms = self.validate_terms()
            val = val_terms["loss"]
            res.epochs, res.steps = epoch + 1, res.steps + steps
            res.history.append(
                {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train_terms.items()}, "val_loss": val}
            )
            improved = val < res.best_val
            if improved:
                res.best_val, res.best_epoch = val, epoch + 1
            res.stopped_early = res.epochs - res.best_epoch >= cfg.patience
            res.finished = res.stopped_early or res.epochs >= cfg.max_epochs
            res.wall_s = time.perf_counter() - start
            res.peak_rss_mb = max(res.peak_rss_mb, peak_rss_mb())
            if self.device.type == "cuda":
                res.peak_cuda_mb = max(res.peak_cuda_mb, torch.cuda.max_memory_allocated(self.device) / 2**20)
            self.curves.add_epoch(epoch + 1, res.steps, train_terms, val_terms, self.learning_rates(),
                                  steps / max(train_s, 1e-9), res.wall_s)  # before the checkpoint: see curves
            heartbeat.beat(self.run_dir, "training", epoch=res.epochs, step=res.steps, total_steps=self._total_steps)
            state = save_bytes({**self._state(), "epoch": epoch + 1})
            if improved:  # the full state: an unreadable last checkpoint falls back to it
                write_bytes_atomic(RunFolder(self.run_dir).checkpoint("best"), state)
            write_bytes_atomic(RunFolder(self.run_dir).checkpoint("last"), state)
            if after_epoch is not None:
                after_epoch(self.run_dir, res.epochs)
            bar.set_postfix(val=f"{val:.4g}", best=f"{res.best_val:.4g}@{res.best_epoch}")
            if res.finished:
                break
        bar.close()
        return res

    def _train_epoch(self, epoch: int, steps: int, bar: tqdm) -> dict[str, float]:
        sums: dict[str, float] = {}
        self.curves.epoch_start()
        lrs, done, beat_at = self.learning_rates(), self.result.steps, time.perf_counter()
        for step, x in enumerate(self._loader(self.train_set, shuffle=True, epoch=epoch)):
            if step >= steps:
                break
            with mixed.autocast(self.device, self.config.precision):
                x = mixed.batch(x.to(self.device, non_blocking=True), self.config.precision)
                terms = self.model.train_batch(x, self.optimizers)
            bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
            if bad:
                raise NonFiniteLossError(
                    f"non-finite loss {bad} at epoch {epoch + 1}, step {step + 1} of {self.run_dir.name}; "
                    "lower the learning rate or check the input data"
                )
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            if done + step + 1 in self.keep_at:
                self._keep(done + step + 1)
            self.curves.add_step(done + step + 1, epoch + 1, terms, lrs, last=step == steps - 1)
            if time.perf_counter() - beat_at >= self.curves.flush_every_s:
                heartbeat.beat(self.run_dir, "training", epoch=epoch + 1, step=done + step + 1,
                               total_steps=self._total_steps)
                beat_at = time.perf_counter()
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{terms['loss']:.4g}", epoch=epoch + 1)
        return {k: v / steps for k, v in sums.items()}

    def _keep(self, step: int) -> None:
        """The weights after ``step`` training steps, for scoring that budget (not for resuming)."""
        state = {"format": CHECKPOINT_FORMAT, "model": self.model.state_dict(), "step": step}
        write_bytes_atomic(RunFolder(self.run_dir).checkpoint(step), save_bytes(state))

    @torch.no_grad()
    def validate_terms(self) -> dict[str, float]:
        """Every validation loss term, averaged over full batches (GWAE's batch statistics need B >= 2)."""
        totals: dict[str, float] = {}
        n = 0
        for x in self._loader(self.val_set, shuffle=False):
            with mixed.autocast(self.device, self.config.precision):
                batch = self.model.eval_batch(mixed.batch(x.to(self.device), self.config.precision))
            for k, v in batch.items():
                totals[k] = totals.get(k, 0.0) + v * len(x)
            n += len(x)
        terms = {k: v / max(n, 1) for k, v in totals.items()}
        if not math.isfinite(terms.get("loss", math.nan)):
            raise NonFiniteLossError(f"non-finite validation loss in {self.run_dir.name}")
        return terms

