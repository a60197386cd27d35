"""Checks every generation baseline's tests run the same way: one builder, one batch maker, one checkpoint-resume
comparison, one trainer crash-resume and one "trains at a suite shape and has every output's shape" check, so a
fix to any of them reaches all models."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from models import build_model, resolve_config

SHAPE = (1, 8, 8)

#: ``run(model, opts, start, stop)``: steps ``start`` to ``stop - 1`` of a seeded run, each on its own batch.
Run = Callable[[torch.nn.Module, dict, int, int], None]


def maker(name: str, **defaults) -> Callable[..., torch.nn.Module]:
    """``make(seed=0, shape=SHAPE, **overrides)``: the registered model ``name``, built after ``manual_seed(seed)``
    with ``defaults`` under ``overrides``."""

    def make(seed: int = 0, shape: tuple[int, int, int] = SHAPE, **overrides) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(name, resolve_config(name, {**defaults, **overrides}), shape)

    return make


def batches(n: int, shape: tuple[int, int, int] = SHAPE, b: int = 6, seed: int = 1) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(b, *shape, generator=g) for _ in range(n)]


def log_probs(b: int, seed: int) -> Tensor:
    """A discriminator's output: log-probabilities of two classes for ``b`` rows."""
    return torch.log_softmax(torch.randn(b, 2, generator=torch.Generator().manual_seed(seed)), dim=1)


def half_noise(mu: Tensor, logvar: Tensor) -> Tensor:
    """A deterministic stand-in for the reparameterised sample: eps = 1/2 everywhere."""
    return mu + 0.5 * torch.exp(0.5 * logvar)


def bilinear(img, x: float, y: float) -> float:
    """img (H, W) at normalised (x, y): align_corners=False pixel mapping, border padding (clamped coordinates)."""
    h, w = img.shape
    u = min(max(((x + 1) * w - 1) / 2, 0.0), w - 1.0)
    v = min(max(((y + 1) * h - 1) / 2, 0.0), h - 1.0)
    u0, v0 = math.floor(u), math.floor(v)
    u1, v1 = min(u0 + 1, w - 1), min(v0 + 1, h - 1)
    a, b = u - u0, v - v0
    return ((1 - a) * (1 - b) * img[v0, u0] + a * (1 - b) * img[v0, u1]
            + (1 - a) * b * img[v1, u0] + a * b * img[v1, u1])


def train_then_validate(xs: list[Tensor], seed: int) -> Run:
    """Training steps on ``xs[i]`` seeded ``seed + i``, then a validation batch on ``xs[0]`` (unseeded)."""

    def run(model, opts, start, stop):
        for i in range(start, stop):
            torch.manual_seed(seed + i)
            model.train_batch(xs[i], opts)
        model.eval_batch(xs[0])

    return run


def follow_plan(xs: list[Tensor], plan: str, seed: int) -> Run:
    """Step i seeded ``seed + i``: a training batch on ``xs[i]`` where ``plan[i]`` is "t", a validation batch else."""

    def run(model, opts, start, stop):
        for i in range(start, stop):
            torch.manual_seed(seed + i)
            model.train_batch(xs[i], opts) if plan[i] == "t" else model.eval_batch(xs[i])

    return run


def resumed_run(make: Callable[..., torch.nn.Module], run: Run, steps: int, stop: int, seed: int = 99,
                after_load: Callable[[torch.nn.Module], None] | None = None) -> torch.nn.Module:
    """A run stopped after ``stop`` steps, its model and optimizer states saved and loaded (as the trainer's
    checkpoint does) into a model built with another ``seed``, so all it keeps must come from the checkpoint, and
    run on to ``steps``. ``after_load`` may spoil the loaded model, to show what the checkpoint must hold."""
    first = make()
    opts = first.build_optimizers()
    run(first, opts, 0, stop)
    buf = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": {k: o.state_dict() for k, o in opts.items()}}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    resumed = make(seed=seed)
    opts = resumed.build_optimizers()
    resumed.load_state_dict(state["model"])
    for k, o in opts.items():
        o.load_state_dict(state["opt"][k])
    if after_load is not None:
        after_load(resumed)
    run(resumed, opts, stop, steps)
    return resumed


def assert_same_state(want: dict[str, Tensor], got: dict[str, Tensor]) -> None:
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k


def assert_resumes(make: Callable[..., torch.nn.Module], run: Run, steps: int, stop: int,
                   seed: int = 99) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A run resumed after ``stop`` of ``steps`` steps ends bit for bit as an uninterrupted one; returns both."""
    whole = make()
    run(whole, whole.build_optimizers(), 0, steps)
    resumed = resumed_run(make, run, steps, stop, seed)
    assert_same_state(whole.state_dict(), resumed.state_dict())
    return whole, resumed


def assert_trainer_resumes(run_dir, make_trainer, crash_on_step, name: str, **overrides) -> dict[str, Tensor]:
    """The trainer (conftest's ``make_trainer``) killed at epoch 2, step 2 (epoch 1 and its validation saved)
    and restarted ends as an uninterrupted run; returns the uninterrupted model's state."""
    reference = make_trainer(run_dir / "a", name=name, **overrides)
    reference.fit()
    crashing = make_trainer(run_dir / "b", name=name, **overrides)
    restore = crash_on_step(type(crashing.model), 5)
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    restore()
    resumed = make_trainer(run_dir / "b", name=name, **overrides)
    assert resumed.fit().finished
    want, got = reference.model.state_dict(), resumed.model.state_dict()
    for k in want:
        assert torch.equal(want[k], got[k]), k
    return want


def assert_trains_and_has_every_shape(model, shape: tuple[int, int, int], keys: set[str], z_dim: int = 4,
                                      ood_representation: str | None = None) -> None:
    """Two training steps and a validation batch give finite terms named ``keys``; in eval mode the prior samples,
    decodes, reconstructions and OoD scores have their shapes."""
    opts = model.build_optimizers()
    for x in batches(2, shape=shape, b=4):
        out = model.train_batch(x, opts)
        assert set(out) == keys
        assert all(math.isfinite(v) for v in out.values())
    assert all(math.isfinite(v) for v in model.eval_batch(batches(1, shape=shape, b=4)[0]).values())
    model.eval()
    x = torch.rand(3, *shape)
    assert model.sample_prior(5).shape == (5, z_dim)
    assert model.decode(model.sample_prior(5)).shape == (5, *shape)
    assert model.reconstruct(x, "sample").shape == model.reconstruct(x, "mean").shape == (3, *shape)
    ood = model.ood_score(x) if ood_representation is None else model.ood_score(x, ood_representation)
    assert ood.shape == (3,)
