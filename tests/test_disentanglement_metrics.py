"""DCI, MIG and SAP: hand-built importance matrices, dlib's own loop, brute force, input checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import special_ortho_group
from sklearn.ensemble import GradientBoostingClassifier

from metrics import DCI_SPECS, METRICS, MIG_SPEC, SAP_SPEC, dci, dci_matrix_scores, mig, sap

GRID = (4, 3, 5)


def _factors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, size=n) for k in GRID], axis=1)


def _axis_codes(factors: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    """One noisy dim per factor plus one pure-noise dim."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(factors.shape[0], len(GRID) + 1))
    z[:, : len(GRID)] = factors / (np.asarray(GRID) - 1) + noise * z[:, : len(GRID)]
    return z


@pytest.fixture(scope="module")
def codes() -> dict[str, tuple[np.ndarray, ...]]:
    y_tr, y_te = _factors(300, 0), _factors(150, 1)
    x_tr, x_te = _axis_codes(y_tr, 2), _axis_codes(y_te, 3)
    rot = special_ortho_group.rvs(x_tr.shape[1], random_state=0)
    centre = lambda x: (x - 0.5) @ rot.T  # noqa: E731  (a fixed map shared by train and test)
    return {"axis": (x_tr, y_tr, x_te, y_te), "rotated": (centre(x_tr), y_tr, centre(x_te), y_te)}


# ----------------------------------------------------------------------------- D and C by hand


def test_permutation_matrix_is_perfectly_disentangled_and_complete() -> None:
    r = np.eye(4)[[2, 0, 3, 1]] * np.array([[0.3], [1.0], [2.0], [0.5]])
    out = dci_matrix_scores(r)
    assert out["disentanglement"] == pytest.approx(1.0, abs=1e-8)
    assert out["completeness"] == pytest.approx(1.0, abs=1e-8)


def test_uniform_matrix_scores_zero() -> None:
    out = dci_matrix_scores(np.full((5, 3), 0.2))
    assert out["disentanglement"] == pytest.approx(0.0, abs=1e-8)
    assert out["completeness"] == pytest.approx(0.0, abs=1e-8)


def test_unused_codes_do_not_change_disentanglement() -> None:
    r = np.array([[0.7, 0.1, 0.0], [0.05, 0.5, 0.2], [0.0, 0.1, 0.9]])
    padded = np.vstack([r, np.zeros((4, 3))])
    assert dci_matrix_scores(padded)["disentanglement"] == pytest.approx(dci_matrix_scores(r)["disentanglement"])


def test_small_matrix_by_hand() -> None:
    # code 0 -> factor 0 only (D_0 = 1), code 1 splits evenly (D_1 = 0); rho = (1/3, 2/3)
    # factor 0 split evenly over codes (C_0 = 0), factor 1 in code 1 only (C_1 = 1); weights (2/3, 1/3)
    r = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert dci_matrix_scores(r)["disentanglement"] == pytest.approx(1 / 3, abs=1e-8)
    assert dci_matrix_scores(r)["completeness"] == pytest.approx(1 / 3, abs=1e-8)
    assert dci_matrix_scores(r, "uniform")["completeness"] == pytest.approx(1 / 2, abs=1e-8)


@pytest.mark.parametrize("bad", [np.ones(3), -np.eye(2), np.array([[np.nan, 1.0], [0.0, 1.0]])])
def test_matrix_rejects_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        dci_matrix_scores(bad)


# ----------------------------------------------------------------------------- DCI specs


@pytest.mark.slow
def test_dlib_parallel_equals_dlib_sequential_loop(codes: dict) -> None:
    x_tr, y_tr, x_te, y_te = codes["axis"]
    out = dci(x_tr, y_tr, x_te, y_te, spec="dlib", seed=3, n_jobs=2, n_estimators=20, return_importance=True)
    # disentanglement_lib's compute_importance_gbt, written out as a plain loop
    imp, acc_tr, acc_te = np.zeros((x_tr.shape[1], y_tr.shape[1])), [], []
    for j in range(y_tr.shape[1]):
        model = GradientBoostingClassifier(n_estimators=20, random_state=3).fit(x_tr, y_tr[:, j])
        imp[:, j] = np.abs(model.feature_importances_)
        acc_tr.append(np.mean(model.predict(x_tr) == y_tr[:, j]))
        acc_te.append(np.mean(model.predict(x_te) == y_te[:, j]))
    assert np.array_equal(out["importance"], imp)
    assert out["informativeness_train"] == np.mean(acc_tr) and out["informativeness"] == np.mean(acc_te)
    assert out["disentanglement"] == dci_matrix_scores(imp)["disentanglement"]
    assert out["spec"] == DCI_SPECS["dlib"] == "dci@dlib-v1"
    assert out["params"] == {"n_estimators": 20, "learning_rate": 0.1, "max_depth": 3, "seed": 3}


@pytest.mark.parametrize("spec", ["dlib", "vaetc", "fast"])
def test_axis_aligned_codes_beat_rotated_codes(codes: dict, spec: str) -> None:
    small = {"n_estimators": 30} if spec != "vaetc" else {}
    axis = dci(*codes["axis"], spec=spec, n_jobs=1, **small)
    rotated = dci(*codes["rotated"], spec=spec, n_jobs=1, **small)
    assert axis["disentanglement"] > 0.7 and axis["completeness"] > 0.6
    assert rotated["disentanglement"] < axis["disentanglement"] - 0.25
    assert rotated["completeness"] < axis["completeness"] - 0.25
    assert axis["informativeness"] > 0.8
    assert axis["spec"] == DCI_SPECS[spec]


def test_vaetc_categorical_targets_and_fixed_split(codes: dict) -> None:
    a = dci(*codes["axis"], spec="vaetc", n_jobs=1, categorical=(0,), max_depth_grid=(2, 4), return_importance=True)
    assert a["importance"].shape == (len(GRID) + 1, GRID[0] + len(GRID) - 1)  # factor 0 one-hot into 4 targets
    assert a["max_depth"] in (2, 4) and 0.0 <= a["informativeness"] <= 1.0
    b = dci(*codes["axis"], spec="vaetc", n_jobs=2, categorical=(0,), max_depth_grid=(2, 4))
    assert a["disentanglement"] == b["disentanglement"] and a["completeness"] == b["completeness"]


# ----------------------------------------------------------------------------- MIG


def _brute_mig(codes: np.ndarray, factors: np.ndarray, n_bins: int) -> float:
    def mi(a: np.ndarray, b: np.ndarray) -> float:
        n, total = a.size, 0.0
        for u, v in itertools.product(np.unique(a), np.unique(b)):
            p_uv = np.sum((a == u) & (b == v)) / n
            if p_uv > 0:
                total += p_uv * np.log(p_uv / (np.mean(a == u) * np.mean(b == v)))
        return total

    gaps = []
    for j in range(factors.shape[1]):
        per_code = []
        for i in range(codes.shape[1]):
            edges = np.linspace(codes[:, i].min(), codes[:, i].max(), n_bins + 1)
            bins = np.array([np.sum(x >= edges[:-1]) for x in codes[:, i]])
            per_code.append(mi(bins, factors[:, j]))
        top = sorted(per_code, reverse=True)
        gaps.append((top[0] - top[1]) / mi(factors[:, j], factors[:, j]))
    return float(np.mean(gaps))


def test_mig_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 3, size=(80, 2))
    codes = np.c_[factors[:, 0] + rng.normal(0, 0.6, 80), rng.normal(size=80), factors[:, 1] * 0.3 + rng.random(80)]
    out = mig(codes, factors, n_bins=5)
    assert out["mig"] == pytest.approx(_brute_mig(codes, factors, 5), abs=1e-12)
    assert out["spec"] == MIG_SPEC and out["params"]["n_bins"] == 5


def test_mig_is_one_for_axis_aligned_discrete_codes() -> None:
    grid = np.array(list(itertools.product(range(4), range(3), range(5))))  # every combination once
    assert mig(grid.astype(float), grid)["mig"] == pytest.approx(1.0, abs=1e-12)
    assert mig(grid[:, ::-1] * 2.5 - 1.0, grid[:, ::-1])["mig"] == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- SAP


def test_sap_by_hand() -> None:
    # code 0 separates factor A, code 1 factor B (wide margins); every value of code 0 occurs with
    # both values of B (and vice versa), so any 1-D classifier gets exactly half of those right.
    ab = np.array(list(itertools.product([0, 1], [0, 1])) * 5)
    codes = 100.0 * (2.0 * ab - 1.0)
    out = sap(codes, ab, codes, ab)
    np.testing.assert_allclose(out["score_matrix"], [[1.0, 0.5], [0.5, 1.0]])
    assert out["sap"] == pytest.approx(0.5) and out["spec"] == SAP_SPEC


def test_sap_continuous_is_squared_correlation_gap() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 2))
    codes = np.c_[y[:, 0] + 0.3 * rng.normal(size=50), y[:, 1] - 0.5 * y[:, 0], np.full(50, 2.0)]
    r2 = np.array([[np.corrcoef(codes[:, i], y[:, j])[0, 1] ** 2 for j in range(2)] for i in range(2)] + [[0, 0]])
    top = np.sort(r2, axis=0)
    out = sap(codes, y, codes, y, continuous_factors=True)
    np.testing.assert_allclose(out["score_matrix"], r2, atol=1e-12)
    assert out["sap"] == pytest.approx(np.mean(top[-1] - top[-2]))


# ----------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "case",
    ["rows", "nan", "float_factor", "negative", "constant", "dims", "spec", "param", "one_dim", "seed", "categorical"],
)
def test_bad_inputs_raise(case: str) -> None:
    y = _factors(30, 0)
    x = _axis_codes(y, 1)
    args, kwargs, fn = [x, y, x, y], {"n_estimators": 2}, dci
    if case == "rows":
        args[1] = y[:-1]
    elif case == "nan":
        args[0] = np.where(np.arange(x.size).reshape(x.shape) == 3, np.nan, x)
    elif case == "float_factor":
        args[1] = y + 0.5
    elif case == "negative":
        args[1] = y - 1
    elif case == "constant":
        args[1] = np.c_[y, np.zeros(30, dtype=int)]
        args[3] = args[1]
    elif case == "dims":
        args[2] = x[:, :2]
    elif case == "spec":
        kwargs = {"spec": "nope"}
    elif case == "param":
        kwargs = {"n_estimator": 5}
    elif case == "seed":
        kwargs["seed"] = -1
    elif case == "categorical":
        kwargs = {"spec": "vaetc", "categorical": (7,)}
    elif case == "one_dim":
        fn, args, kwargs = mig, [x[:, :1], y], {}
    with pytest.raises(ValueError):
        fn(*args, **kwargs)
    if case in ("rows", "float_factor", "one_dim"):
        with pytest.raises(ValueError):
            (mig(args[0], args[1]) if fn is dci else sap(x[:, :1], y, x[:, :1], y))


def test_registered_with_specs() -> None:
    assert METRICS.get("dci").fn is dci and METRICS.get("mig").fn is mig and METRICS.get("sap").fn is sap
    assert all(s in METRICS.entry("dci").summary for s in DCI_SPECS.values())
    assert MIG_SPEC in METRICS.entry("mig").summary and SAP_SPEC in METRICS.entry("sap").summary


def test_fast_dci_warns_below_its_calibrated_point_counts():
    from metrics.disentanglement import FAST_CALIBRATED_POINTS, FastDCIBelowCalibration

    rng = np.random.default_rng(0)
    factors = rng.integers(0, 3, size=(300, 2))
    codes = factors + 0.1 * rng.normal(size=factors.shape)
    with pytest.warns(FastDCIBelowCalibration, match=f"{FAST_CALIBRATED_POINTS[0]} / {FAST_CALIBRATED_POINTS[1]}"):
        dci(codes[:200], factors[:200], codes[200:], factors[200:], spec="fast", n_jobs=1)
