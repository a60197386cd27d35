"""Shared fixtures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.config.run_config import TrainConfig
from benchmark.data import ImageSet
from benchmark.run.trainer import Trainer
from models import build_model, resolve_config

pytest_plugins = ["pytester"]


def _tiny_set(n: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    return ImageSet(torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g), name="rand")


@pytest.fixture
def tiny_set():
    """``tiny_set(n, seed)``: n random 1x8x8 uint8 images."""
    return _tiny_set


@pytest.fixture
def one_thread():
    """Tiny tensors run fastest on one intra-op thread, and this machine's cores are shared: a module applies it
    with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_trainer():
    """``make_trainer(run_dir, name="gwae-gmp", cfg=None, device=cpu, **model_overrides)``: a tiny
    seeded trainer (z = 3, 1x8x8, 48 train / 16 val images, 3 epochs of 3 steps)."""

    def make(run_dir, name="gwae-gmp", cfg=None, device="cpu", **overrides):
        torch.manual_seed(0)
        model = build_model(name, resolve_config(name, {"z_dim": 3, **overrides}), (1, 8, 8))
        cfg = cfg or TrainConfig(batch_size=8, max_epochs=3, patience=5, steps_per_epoch=3)
        return Trainer(model, _tiny_set(48, 1), _tiny_set(16, 2), cfg, run_dir, torch.device(device), seed=7,
                       progress=False)

    return make


@pytest.fixture
def crash_on_step(monkeypatch):
    """``arm(model_cls, n)``: its ``train_batch`` raises KeyboardInterrupt on the n-th call (a kill in
    mid-epoch); returns a function that restores the real one, as a fresh process would have it."""

    def arm(model_cls: type, n: int):
        original, calls = model_cls.train_batch, {"n": 0}

        def dies(self, x, optimizers):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return original(self, x, optimizers)

        monkeypatch.setattr(model_cls, "train_batch", dies)
        return lambda: monkeypatch.setattr(model_cls, "train_batch", original)

    return arm


@pytest.fixture
def spawn():
    """``spawn(*cli_args, env=None)``: a ``python -m benchmark`` child (text pipes) that is killed when the
    test ends, also when pytest is interrupted (Ctrl-C runs fixture teardown), so no CLI child outlives it."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=Path(__file__).resolve().parents[1],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def cli():
    """``cli(*args)``: run ``python -m benchmark`` from the repository root; fails the test on a non-zero exit."""

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=Path(__file__).resolve().parents[1],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    return run
