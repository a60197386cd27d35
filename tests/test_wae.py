"""WAE: MMD estimators and kernels against explicit loops, short training runs, config checks."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from models.wae import WAE, WAEConfig, imq_kernel, imq_scales, infovae_kernel, mmd_biased, mmd_unbiased

SCALES = (0.3, 1.5, 4.0)


def _imq_ref(a: np.ndarray, b: np.ndarray) -> float:
    d2 = float(np.sum((a - b) ** 2))
    return sum(c / (c + d2) for c in SCALES)


def _infovae_ref(a: np.ndarray, b: np.ndarray) -> float:
    return math.exp(-float(np.mean((a - b) ** 2)) / a.size)


def _loop_mmd(x: np.ndarray, y: np.ndarray, k, unbiased: bool) -> float:
    def within(s: np.ndarray) -> float:
        n = len(s)
        pairs = [(i, j) for i in range(n) for j in range(n) if not (unbiased and i == j)]
        return sum(k(s[i], s[j]) for i, j in pairs) / len(pairs)

    cross = sum(k(xi, yj) for xi in x for yj in y) / (len(x) * len(y))
    return within(x) + within(y) - 2 * cross


@pytest.mark.parametrize(
    ("estimator", "kernel", "ref_kernel", "unbiased"),
    [
        (mmd_unbiased, partial(imq_kernel, scales=SCALES), _imq_ref, True),
        (mmd_biased, infovae_kernel, _infovae_ref, False),
        (mmd_unbiased, infovae_kernel, _infovae_ref, True),
        (mmd_biased, partial(imq_kernel, scales=SCALES), _imq_ref, False),
    ],
)
def test_mmd_matches_double_loop(estimator, kernel, ref_kernel, unbiased) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(loc=0.5, size=(5, 3))
    ours = estimator(torch.from_numpy(x), torch.from_numpy(y), kernel).item()
    assert ours == pytest.approx(_loop_mmd(x, y, ref_kernel, unbiased), rel=1e-12, abs=1e-14)


def test_kernels_by_hand() -> None:
    a = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 2.0]], dtype=torch.float64)  # ||a - b||^2 = 5, mean over dims = 2.5
    assert imq_kernel(a, b, (5.0,)).item() == pytest.approx(0.5)
    assert imq_kernel(a, b, (5.0, 15.0)).item() == pytest.approx(0.5 + 0.75)
    assert imq_kernel(a, a, (5.0, 15.0)).item() == pytest.approx(2.0)  # each scale gives 1 at distance 0
    assert infovae_kernel(a, b).item() == pytest.approx(math.exp(-2.5 / 2))
    assert infovae_kernel(b, b).item() == pytest.approx(1.0)
    assert imq_scales(8, 0.5) == pytest.approx(tuple(8.0 * s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10)))


def test_mmd_of_identical_samples() -> None:
    x = torch.randn(9, 4, dtype=torch.float64)
    imq = partial(imq_kernel, scales=imq_scales(4))
    assert mmd_biased(x, x, infovae_kernel).item() == pytest.approx(0.0, abs=1e-12)
    assert mmd_biased(x, x, imq).item() == pytest.approx(0.0, abs=1e-12)
    # the U-statistic of a set with itself is negative: it drops exactly the diagonal, k = 1 terms
    assert mmd_unbiased(x, x, infovae_kernel).item() < 0


@pytest.mark.parametrize(
    "overrides",
    [{}, {"encoder": "gaussian"}, {"variant": "infovae", "encoder": "gaussian"}],
)
def test_training_steps_are_finite(overrides: dict) -> None:
    torch.manual_seed(0)
    model = WAE(WAEConfig(z_dim=4, **overrides), (1, 28, 28))
    optimizers = model.build_optimizers()
    x = torch.rand(4, 1, 28, 28)
    for _ in range(2):
        terms = model.train_batch(x, optimizers)
        assert "loss" in terms and "mmd" in terms
        assert all(math.isfinite(v) for v in terms.values())
    assert ("kl" in terms) == (overrides.get("variant") == "infovae")
    assert all(math.isfinite(v) for v in model.eval_batch(x).values())
    mean = model.encode(x, "mean")
    assert mean.shape == (4, 4)
    if overrides.get("encoder") != "gaussian":
        assert torch.equal(mean, model.encode(x, "sample"))
    assert model.decode(mean).shape == x.shape
    assert model.ood_score(x).shape == (4,)


@pytest.mark.parametrize(
    "bad",
    [
        {"z_dim": 0},
        {"variant": "gan"},
        {"encoder": "flow"},
        {"variant": "infovae"},  # the deterministic default encoder has no KL term
        {"lambda_mmd": -1.0},
        {"kernel_scale": 0.0},
        {"alpha": 1.5},
        {"alpha": 0.0, "lambda_infovae": 0.5},
        {"lr": 0.0},
    ],
)
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        WAEConfig(**bad)


def test_estimators_reject_tiny_batches() -> None:
    with pytest.raises(ValueError):
        mmd_unbiased(torch.zeros(1, 2), torch.zeros(3, 2), infovae_kernel)
    with pytest.raises(ValueError):
        imq_kernel(torch.zeros(2, 2), torch.zeros(2, 2), ())
