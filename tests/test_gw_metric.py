"""GW distortion: isometries give zero, agreement with POT, the identity-coupling bound, input checks."""

from __future__ import annotations

import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import special_ortho_group

from metrics import GW_SPEC, METRICS, gw_distortion


def _cloud(seed: int, n: int = 24, d: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def _isometric_copy(x: np.ndarray, seed: int = 1) -> np.ndarray:
    rotation = special_ortho_group.rvs(x.shape[1], random_state=seed)
    return x @ rotation.T + np.arange(1.0, x.shape[1] + 1.0)


@pytest.mark.parametrize("normalize", [True, False])
def test_isometric_copy_has_zero_distortion(normalize: bool) -> None:
    x = _cloud(0)
    data = x.reshape(24, 1, 5)  # data arrays are flattened per point
    out = gw_distortion(data, _isometric_copy(x), normalize=normalize)
    assert out["gw"] == pytest.approx(0.0, abs=1e-10)
    assert out["identity_distortion"] == pytest.approx(0.0, abs=1e-12)
    assert out["n"] == 24


def test_two_point_case_by_hand_and_against_pot() -> None:
    # distances 1 and 3: GW = (1 - 3)^2 / 2, attained by the identity coupling
    data, codes = np.array([[0.0], [1.0]]), np.array([[0.0, 0.0], [3.0, 0.0]])
    out = gw_distortion(data, codes, normalize=False)
    assert out["gw"] == pytest.approx(2.0) and out["identity_distortion"] == pytest.approx(2.0)
    pot = ot.gromov.gromov_wasserstein2(cdist(data, data), cdist(codes, codes), ot.unif(2), ot.unif(2))
    assert out["gw"] == pytest.approx(float(pot))


def test_matches_pot_directly() -> None:
    x, z = _cloud(2, n=8), _cloud(3, n=8, d=2)
    c1, c2 = cdist(x, x), cdist(z, z)
    p = ot.unif(8)
    runs = [ot.gromov.gromov_wasserstein2(c1, c2, p, p, G0=g0) for g0 in (None, np.eye(8) / 8)]
    out = gw_distortion(x, z, normalize=False)
    assert out["gw"] == pytest.approx(float(min(runs)), rel=1e-10)
    assert out["identity_distortion"] == pytest.approx(np.mean((c1 - c2) ** 2), rel=1e-12)
    ent = ot.gromov.entropic_gromov_wasserstein2(c1, c2, p, p, epsilon=5.0)
    assert gw_distortion(x, z, normalize=False, solver="entropic", epsilon=5.0)["gw"] == pytest.approx(float(ent))
    c1n, c2n = c1 / (c1.sum() / 56), c2 / (c2.sum() / 56)
    assert gw_distortion(x, z)["identity_distortion"] == pytest.approx(np.mean((c1n - c2n) ** 2), rel=1e-12)


def test_scaled_copy_is_zero_only_when_normalized() -> None:
    x = _cloud(4)
    assert gw_distortion(x, 3.0 * x)["gw"] == pytest.approx(0.0, abs=1e-10)
    raw = gw_distortion(x, 3.0 * x, normalize=False)
    assert raw["gw"] > 0.1 and raw["identity_distortion"] > 0.1


@pytest.mark.parametrize("seed", range(4))
def test_identity_distortion_bounds_gw(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20, 10))
    z = x[:, :3] + 0.5 * rng.normal(size=(20, 3))  # a noisy, lossy "encoder"
    out = gw_distortion(x, z)
    assert out["identity_distortion"] >= out["gw"] - 1e-9
    assert out["gw"] >= -1e-12


def test_subsample_is_seeded() -> None:
    x, z = _cloud(5, n=40), _cloud(6, n=40, d=2)
    first = gw_distortion(x, z, n=12, seed=7)
    assert first == gw_distortion(x, z, n=12, seed=7)
    assert first["n"] == 12
    assert first != gw_distortion(x, z, n=12, seed=8)


@pytest.mark.parametrize(
    ("data", "codes", "kwargs"),
    [
        (np.zeros((5, 3)), np.zeros((4, 2)), {}),  # different N
        (np.full((5, 3), np.nan), np.zeros((5, 2)), {}),
        (np.zeros((5, 3)), np.array([[np.inf, 0.0]] * 5), {}),
        (_cloud(0, n=5), _cloud(1, n=5), {"n": 6}),
        (_cloud(0, n=5), _cloud(1, n=5), {"n": 1}),
        (_cloud(0, n=1), _cloud(1, n=1), {}),
        (_cloud(0, n=5), np.zeros(5), {}),  # codes must be (N, L)
        (_cloud(0, n=5), _cloud(1, n=5), {"solver": "sinkhorn"}),
        (_cloud(0, n=5), _cloud(1, n=5), {"loss": "l1"}),
        (_cloud(0, n=5), _cloud(1, n=5), {"solver": "entropic", "epsilon": 0.0}),
        (_cloud(0, n=5), np.ones((5, 2)), {}),  # coincident codes cannot be normalized
    ],
)
def test_bad_input_raises(data: np.ndarray, codes: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        gw_distortion(data, codes, **kwargs)


def test_registered() -> None:
    assert METRICS.get("gw_distortion").fn is gw_distortion
    assert GW_SPEC == "gw@pot-v1" and GW_SPEC in METRICS.entry("gw_distortion").summary
