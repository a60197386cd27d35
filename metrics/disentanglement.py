"""Supervised disentanglement metrics (DCI, MIG, SAP) from codes and ground-truth factors.

Pure functions of arrays: ``codes`` is (N, L) (one row per point, one column per code dim),
``factors`` is (N, F) non-negative integer class indices (e.g. the 3D Shapes factor grid).
Note the layout is the transpose of disentanglement_lib's.

DCI comes in named, versioned specs, because published DCI numbers are not comparable across
implementations (the regressor, its targets and the averaging all change the value):

* ``dlib`` (``dci@dlib-v1``): disentanglement_lib's DCI, one default
  ``GradientBoostingClassifier`` per factor on raw codes; the reference.
* ``vaetc`` (``dci@vaetc-v1``): the GWAE authors' code (vaetc), random-forest regressors with a
  depth picked by 5-fold CV on a fixed 67/33 split of the pooled codes, unweighted completeness.
* ``fast`` (``dci@fast-v1``): a cheap estimate of ``dlib`` for sweeps; see ``_FAST_NOTES``
  below for what it is and how closely it agrees.

MIG and SAP follow disentanglement_lib (``mig@dlib-v1``, ``sap@dlib-v1``).
Every result carries ``spec`` (the id) and ``params`` (every count and seed that shaped it),
so that callers can record them next to the number.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from metrics.base import HIGHER, FactorCodes, Score, each, metric, tagged

#: One versioned id per DCI definition; bump the version whenever a definition changes.
DCI_SPECS: dict[str, str] = {"dlib": "dci@dlib-v1", "vaetc": "dci@vaetc-v1", "fast": "dci@fast-v1"}
MIG_SPEC = "mig@dlib-v1"
SAP_SPEC = "sap@dlib-v1"

#: Every parameter each DCI spec accepts, with its default (the spec's definition).
DCI_DEFAULTS: dict[str, dict[str, Any]] = {
    # sklearn's GradientBoostingClassifier() defaults, spelled out so that they are recorded.
    "dlib": {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3},
    # vaetc's select_rf()/dci_score(): fixed split seed 42, 10 trees, depth grid, 5-fold CV.
    "vaetc": {
        "n_estimators": 10,
        "max_depth_grid": (2, 4, 8, 12),
        "cv_folds": 5,
        "test_size": 0.33,
        "split_seed": 42,
        "categorical": (),
    },
    # dlib's depth, stages and learning rate on one-vs-rest histogram boosting (see _FAST_NOTES).
    "fast": {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3, "min_samples_leaf": 1, "max_bins": 255},
}

_ENTROPY_EPS = 1e-11  # disentanglement_lib's smoothing of importance rows/columns

#: (train, test) points at and above which ``fast`` was calibrated against ``dlib`` (within 0.015 on D
#: and C on synthetic codes, 0.012 on trained models' codes). At 2,000 / 1,000 it was off by 0.026 on D.
FAST_CALIBRATED_POINTS = (10_000, 5_000)

if TYPE_CHECKING:  # sklearn is imported where it is used: `import metrics` stays light
    from sklearn.ensemble import HistGradientBoostingRegressor


class FastDCIBelowCalibration(UserWarning):
    """``fast`` DCI used on fewer points than it was calibrated at: its agreement with dlib is not claimed."""


_FAST_NOTES = """What DCI spec ``fast`` (``dci@fast-v1``) is, and why it tracks ``dlib``.

Per factor, one-vs-rest: one squared-error ``HistGradientBoostingRegressor`` per class on the
0/1 class indicator, with dlib's depth (3), stages (100) and learning rate (0.1), no early
stopping, no L2, ``min_samples_leaf`` 1, 255 histogram bins; codes are binned once per fit.
Importances are the total split gains (drop in the residuals' sum of squares) per code dim,
summed over classes and stages and normalised per factor: the quantity that
GradientBoostingClassifier's impurity (friedman_mse) importances add up, which is also one
regression tree per class per stage with a squared-error split criterion. D and C then use
the same ``dci_matrix_scores`` as dlib; informativeness is the test accuracy of the argmax of
the per-class scores. Normalisation is as dlib's (sklearn averages the unnormalised impurity
decreases over trees, then divides by their sum). What differs: histogram splits (255 quantile
bins instead of exact thresholds) and the residuals the trees fit after the first stage
(indicator minus the regression score, instead of indicator minus the softmax probability of
the multinomial deviance); so D and C agree closely, I less closely (a different classifier).
Speed: on 2 cores at 10,000 / 5,000 points and the 6 shapes factors, about 25x faster than
dlib (``scripts/bench_dci.py``), D and C within 0.015 on synthetic codes; agreement on codes
of trained models: ``tools/calibrate_fast_dci.py`` -> ``results/disentanglement/fast_calibration.md``.
The agreement holds at ``FAST_CALIBRATED_POINTS`` (10,000 train / 5,000 test points) and above; at
2,000 / 1,000 D was off by 0.026, so ``dci`` warns (``FastDCIBelowCalibration``) below them.
"""


# ----------------------------------------------------------------------------- input checks


def _codes(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, L) with N >= 2 points and L >= 1 dims, got {arr.shape}")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or inf)")
    return arr


def _factors(values: ArrayLike, name: str, n: int, discrete: bool = True) -> NDArray:
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, F) with F >= 1 factors, got {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the codes have {n}")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite values")
    if not discrete:
        return arr.astype(np.float64)
    if np.any(arr != np.round(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must hold non-negative integer class indices")
    return arr.astype(np.int64)


def _split(
    codes_train: ArrayLike, factors_train: ArrayLike, codes_test: ArrayLike, factors_test: ArrayLike,
    discrete: bool = True,
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    x_tr, x_te = _codes(codes_train, "codes_train"), _codes(codes_test, "codes_test")
    y_tr = _factors(factors_train, "factors_train", x_tr.shape[0], discrete)
    y_te = _factors(factors_test, "factors_test", x_te.shape[0], discrete)
    if x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(f"codes_train has {x_tr.shape[1]} dims but codes_test has {x_te.shape[1]}")
    if y_tr.shape[1] != y_te.shape[1]:
        raise ValueError(f"factors_train has {y_tr.shape[1]} factors but factors_test has {y_te.shape[1]}")
    constant = [j for j in range(y_tr.shape[1]) if np.unique(y_tr[:, j]).size < 2]
    if constant:
        raise ValueError(f"factor column(s) {constant} take a single value in the training set: nothing to predict")
    return x_tr, y_tr, x_te, y_te


def _count(value: int, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- D and C


def dci_matrix_scores(
    importance: ArrayLike, completeness_weighting: Literal["importance", "uniform"] = "importance"
) -> dict[str, float]:
    """Disentanglement and completeness of an importance matrix R (L codes x K factors).

    D = sum_i rho_i (1 - H_K(R_i. / sum R_i.)), rho_i = sum R_i. / sum R: each code's
    specialisation to one factor, weighted by how much the code matters.
    C = sum_j w_j (1 - H_L(R_.j / sum R_.j)): how few codes capture each factor, with
    w_j = sum R_.j / sum R (disentanglement_lib) or 1/K (``"uniform"``, vaetc).
    Entropies as disentanglement_lib: ``scipy.stats.entropy(p + 1e-11, base=K or L)``, so an
    all-zero row (an unused code) scores 0 but carries no weight. A single code or factor has
    no entropy base (log 1 = 0); its terms are defined as 1 (nothing to mix with).
    """
    from scipy.stats import entropy  # lazy: keeps `import metrics` light
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 1 or r.shape[1] < 1:
        raise ValueError(f"importance must be a 2-D (codes x factors) matrix, got shape {r.shape}")
    if not np.isfinite(r).all() or np.any(r < 0):
        raise ValueError("importance must be finite and non-negative (take abs() of signed importances)")
    if completeness_weighting not in ("importance", "uniform"):
        raise ValueError(f"completeness_weighting must be 'importance' or 'uniform', got {completeness_weighting!r}")
    n_codes, n_factors = r.shape
    per_code = 1.0 - entropy(r.T + _ENTROPY_EPS, base=n_factors) if n_factors > 1 else np.ones(n_codes)
    per_factor = 1.0 - entropy(r + _ENTROPY_EPS, base=n_codes) if n_codes > 1 else np.ones(n_factors)
    weights = r if r.sum() > 0 else np.ones_like(r)  # dlib: an all-zero matrix weighs every entry alike
    code_w = weights.sum(axis=1) / weights.sum()
    factor_w = weights.sum(axis=0) / weights.sum() if completeness_weighting == "importance" else None
    completeness = float(np.mean(per_factor)) if factor_w is None else float(np.sum(per_factor * factor_w))
    return {"disentanglement": float(np.sum(per_code * code_w)), "completeness": completeness}


# ----------------------------------------------------------------------------- dlib


def _fit_gbt(
    x_tr: NDArray, y_tr: NDArray, x_te: NDArray, y_te: NDArray, seed: int, gbt: dict[str, Any]
) -> tuple[NDArray, float, float]:
    """One factor's classifier: (|importances|, train accuracy, test accuracy), as dlib's loop."""
    from sklearn.ensemble import GradientBoostingClassifier  # lazy: keeps `import metrics` light
    model = GradientBoostingClassifier(random_state=seed, **gbt).fit(x_tr, y_tr)
    return (
        np.abs(model.feature_importances_),
        float(np.mean(model.predict(x_tr) == y_tr)),
        float(np.mean(model.predict(x_te) == y_te)),
    )


def _per_factor(fit: Callable[[int], tuple], n_factors: int, cost: Sequence[float], n_jobs: int) -> list[tuple]:
    """``fit(j)`` for every factor, in parallel, costliest first (shortest makespan), in factor order.

    Each fit is seeded and deterministic, so the results are identical to a sequential loop.
    """
    from joblib import (
        Parallel,  # lazy: keeps `import metrics` light
        delayed,  # lazy: keeps `import metrics` light
    )
    order = sorted(range(n_factors), key=lambda j: -cost[j])
    if n_jobs == 1 or n_factors == 1:
        done = [fit(j) for j in order]
    else:
        done = Parallel(n_jobs=n_jobs)(delayed(fit)(j) for j in order)
    out: list[tuple] = [()] * n_factors
    for j, res in zip(order, done, strict=True):
        out[j] = res
    return out


def _dci_from_fits(fit: Callable[[int], tuple], y_tr: NDArray, n_jobs: int) -> tuple[NDArray, dict]:
    """DCI from one fit per factor, ``fit(j) -> (importances, train accuracy, test accuracy)``: the dlib and
    fast specs differ only in that fit."""
    n_classes = [np.unique(y_tr[:, j]).size for j in range(y_tr.shape[1])]
    res = _per_factor(fit, y_tr.shape[1], n_classes, n_jobs)
    importance = np.stack([r[0] for r in res], axis=1)
    scores = dci_matrix_scores(importance)
    scores["informativeness"] = float(np.mean([r[2] for r in res]))
    scores["informativeness_train"] = float(np.mean([r[1] for r in res]))
    return importance, scores


def _dci_dlib(x_tr, y_tr, x_te, y_te, seed: int, n_jobs: int, p: dict[str, Any]) -> tuple[NDArray, dict]:
    gbt = {k: p[k] for k in ("n_estimators", "learning_rate", "max_depth")}
    return _dci_from_fits(lambda j: _fit_gbt(x_tr, y_tr[:, j], x_te, y_te[:, j], seed, gbt), y_tr, n_jobs)


# ----------------------------------------------------------------------------- fast


def _split_gains(model: HistGradientBoostingRegressor, n_features: int) -> NDArray[np.float64]:
    """Total split gain per feature of a fitted HistGradientBoostingRegressor.

    sklearn exposes no importances for histogram boosting, so this reads its tree records
    (``_predictors[iteration][tree].nodes``: ``is_leaf``, ``feature_idx``, ``gain``), which have
    been stable since sklearn 0.21; a clear error rather than a wrong number if that changes.
    """
    gains = np.zeros(n_features)
    try:
        for iteration in model._predictors:
            for predictor in iteration:
                nodes = predictor.nodes
                split = nodes[nodes["is_leaf"] == 0]
                np.add.at(gains, split["feature_idx"].astype(np.intp), split["gain"])
    except (AttributeError, KeyError, ValueError, TypeError) as err:  # pragma: no cover - sklearn internals
        raise RuntimeError(f"DCI spec 'fast' cannot read HistGradientBoosting's split gains ({err!r}); "
                           "this sklearn version changed its internals") from err
    return gains


def _fit_ovr_boosting(
    x_tr: NDArray, y_tr: NDArray, x_te: NDArray, y_te: NDArray, seed: int, p: dict[str, Any]
) -> tuple[NDArray, float, float]:
    """One factor: squared-error histogram boosting of each class indicator (one-vs-rest).

    With a squared-error loss a split's gain is its drop in the residuals' sum of squares, the
    quantity GradientBoostingClassifier's (friedman_mse) importances add up; same depth, stages
    and learning rate as dlib. Accuracy: argmax of the per-class scores.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor  # lazy: keeps `import metrics` light
    from threadpoolctl import threadpool_limits  # lazy: keeps `import metrics` light
    classes = np.unique(y_tr)
    gains = np.zeros(x_tr.shape[1])
    s_tr, s_te = np.empty((x_tr.shape[0], classes.size)), np.empty((x_te.shape[0], classes.size))
    with threadpool_limits(limits=1, user_api="openmp"):  # parallelism is over factors; threads only thrash
        for k, c in enumerate(classes):
            model = HistGradientBoostingRegressor(
                loss="squared_error",
                learning_rate=p["learning_rate"],
                max_iter=p["n_estimators"],
                max_depth=p["max_depth"],
                max_leaf_nodes=None,
                min_samples_leaf=p["min_samples_leaf"],
                l2_regularization=0.0,
                max_bins=p["max_bins"],
                early_stopping=False,
                random_state=seed,
            ).fit(x_tr, (y_tr == c).astype(np.float64))
            gains += _split_gains(model, x_tr.shape[1])
            s_tr[:, k], s_te[:, k] = model.predict(x_tr), model.predict(x_te)
    total = gains.sum()
    return (
        gains / total if total > 0 else gains,
        float(np.mean(classes[np.argmax(s_tr, axis=1)] == y_tr)),
        float(np.mean(classes[np.argmax(s_te, axis=1)] == y_te)),
    )


def _dci_fast(x_tr, y_tr, x_te, y_te, seed: int, n_jobs: int, p: dict[str, Any]) -> tuple[NDArray, dict]:
    return _dci_from_fits(lambda j: _fit_ovr_boosting(x_tr, y_tr[:, j], x_te, y_te[:, j], seed, p), y_tr, n_jobs)


# ----------------------------------------------------------------------------- vaetc


def _vaetc_targets(factors: NDArray, categorical: tuple[int, ...]) -> NDArray[np.float64]:
    """Regression targets: one-hot columns for categorical factors, others divided by their max."""
    cols = []
    for j in range(factors.shape[1]):
        f = factors[:, j]
        if j in categorical:
            cols.extend((f == c).astype(np.float64) for c in np.unique(f))
        else:
            cols.append(f / f.max())
    return np.stack(cols, axis=1)


def _cv_mse(x: NDArray, t: NDArray, depth: int, n_estimators: int, folds: int, seed: int) -> float:
    from sklearn.ensemble import RandomForestRegressor  # lazy: keeps `import metrics` light
    from sklearn.model_selection import cross_val_score  # lazy: keeps `import metrics` light
    rf = RandomForestRegressor(n_estimators=n_estimators, max_depth=depth, random_state=seed)
    return float(-np.mean(cross_val_score(rf, x, t, scoring="neg_mean_squared_error", cv=folds)))


def _fit_rf(x_tr, t_tr, x_te, t_te, depth: int, n_estimators: int, seed: int) -> tuple[NDArray, float]:
    from sklearn.ensemble import RandomForestRegressor  # lazy: keeps `import metrics` light
    rf = RandomForestRegressor(n_estimators=n_estimators, max_depth=depth, random_state=seed).fit(x_tr, t_tr)
    return rf.feature_importances_, float(np.mean((rf.predict(x_te) - t_te) ** 2))


def _dci_vaetc(x_tr, y_tr, x_te, y_te, seed: int, n_jobs: int, p: dict[str, Any]) -> tuple[NDArray, dict]:
    from joblib import (
        Parallel,  # lazy: keeps `import metrics` light
        delayed,  # lazy: keeps `import metrics` light
    )
    from sklearn.model_selection import train_test_split  # lazy: keeps `import metrics` light
    n_factors = y_tr.shape[1]
    categorical = tuple(int(c) for c in p["categorical"])
    if any(c < 0 or c >= n_factors for c in categorical) or len(set(categorical)) != len(categorical):
        raise ValueError(f"categorical must list distinct factor columns in [0, {n_factors}), got {categorical}")
    grid = tuple(_count(d, "max_depth_grid entries") for d in p["max_depth_grid"])
    if not grid:
        raise ValueError("max_depth_grid is empty")
    n_est, folds = _count(p["n_estimators"], "n_estimators"), _count(p["cv_folds"], "cv_folds", 2)
    # vaetc scores codes pooled from one sample and splits them itself, with a fixed seed.
    codes = np.concatenate([x_tr, x_te])
    targets = _vaetc_targets(np.concatenate([y_tr, y_te]), categorical)
    z_tr, z_te, t_tr, t_te = train_test_split(codes, targets, test_size=p["test_size"], random_state=p["split_seed"])
    n_t = targets.shape[1]
    jobs = [(d, i) for d in grid for i in range(n_t)]
    cv = Parallel(n_jobs=n_jobs)(delayed(_cv_mse)(z_tr, t_tr[:, i], d, n_est, folds, seed) for d, i in jobs)
    mse_by_depth = np.asarray(cv).reshape(len(grid), n_t).mean(axis=1)
    depth = grid[int(np.argmin(mse_by_depth))]  # first minimum, as vaetc's strict '>' comparison
    fits = Parallel(n_jobs=n_jobs)(
        delayed(_fit_rf)(z_tr, t_tr[:, i], z_te, t_te[:, i], depth, n_est, seed) for i in range(n_t)
    )
    importance = np.stack([f[0] for f in fits], axis=1)
    scores = dci_matrix_scores(importance, completeness_weighting="uniform")
    scores["informativeness"] = float(np.mean([max(0.0, 1.0 - 6.0 * f[1]) for f in fits]))
    scores["max_depth"] = depth
    return importance, scores


_DCI_IMPL = {"dlib": _dci_dlib, "vaetc": _dci_vaetc, "fast": _dci_fast}


def dci_params(spec: str = "dlib", **params: Any) -> dict[str, Any]:
    """The full parameter set of a DCI spec: its defaults overridden by ``params``.

    Raises ValueError on an unknown spec or parameter, so a typo cannot silently fall back.
    """
    if spec not in DCI_DEFAULTS:
        raise ValueError(f"unknown DCI spec {spec!r} (known: {', '.join(DCI_SPECS)})")
    unknown = sorted(set(params) - set(DCI_DEFAULTS[spec]))
    if unknown:
        raise ValueError(f"DCI spec {spec!r} takes no parameter(s) {unknown} (known: {sorted(DCI_DEFAULTS[spec])})")
    return {**DCI_DEFAULTS[spec], **params}


def dci(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    spec: str = "dlib",
    seed: int = 0,
    n_jobs: int = -1,
    return_importance: bool = False,
    **params: Any,
) -> dict[str, Any]:
    """Disentanglement, completeness and informativeness of codes w.r.t. discrete factors.

    ``spec`` picks the definition (``DCI_SPECS``); ``params`` override its defaults
    (``DCI_DEFAULTS[spec]``); ``seed`` seeds every model, so results are reproducible, and
    ``n_jobs`` (joblib; -1 = every core) parallelises the independent per-factor/per-target
    fits without changing the result. Returns ``disentanglement``, ``completeness``,
    ``informativeness`` (dlib/fast: mean test accuracy over factors, plus
    ``informativeness_train``; vaetc: mean of max(0, 1 - 6 MSE) over targets, plus the chosen
    ``max_depth``), ``spec`` (versioned id) and ``params`` (the resolved parameters and seed);
    with ``return_importance`` also the (L x targets) ``importance`` matrix.
    """
    resolved = dci_params(spec, **params)
    x_tr, y_tr, x_te, y_te = _split(codes_train, factors_train, codes_test, factors_test)
    seed = _count(seed, "seed", 0)
    if spec in ("dlib", "fast"):
        _count(resolved["n_estimators"], "n_estimators")
        _count(resolved["max_depth"], "max_depth")
    if spec == "fast":
        _count(resolved["min_samples_leaf"], "min_samples_leaf")
        _count(resolved["max_bins"], "max_bins", 2)
        if len(x_tr) < FAST_CALIBRATED_POINTS[0] or len(x_te) < FAST_CALIBRATED_POINTS[1]:
            warnings.warn(
                f"DCI spec 'fast' on {len(x_tr)} / {len(x_te)} points: its agreement with 'dlib' is calibrated at "
                f"{FAST_CALIBRATED_POINTS[0]} / {FAST_CALIBRATED_POINTS[1]} points and above",
                FastDCIBelowCalibration, stacklevel=2,
            )
    importance, scores = _DCI_IMPL[spec](x_tr, y_tr, x_te, y_te, seed, n_jobs, resolved)
    out: dict[str, Any] = {**scores, "spec": DCI_SPECS[spec], "params": {**resolved, "seed": seed}}
    if return_importance:
        out["importance"] = importance
    return out


# ----------------------------------------------------------------------------- MIG


def histogram_discretize(codes: ArrayLike, n_bins: int = 20) -> NDArray[np.int64]:
    """Per code dim, the index (1..n_bins) of its equal-width histogram bin, as disentanglement_lib."""
    x = _codes(codes, "codes")
    n_bins = _count(n_bins, "n_bins")
    out = np.empty(x.shape, dtype=np.int64)
    for i in range(x.shape[1]):
        out[:, i] = np.digitize(x[:, i], np.histogram(x[:, i], n_bins)[1][:-1])
    return out


def mig(codes: ArrayLike, factors: ArrayLike, n_bins: int = 20, seed: int = 0) -> dict[str, Any]:
    """Mutual information gap (disentanglement_lib's ``discrete_mig``).

    Each code dim is discretised into ``n_bins`` equal-width bins; MI(code_i; factor_j) by
    ``sklearn.metrics.mutual_info_score`` (nats); per factor, the gap between the two most
    informative codes divided by the factor's entropy; mean over factors. Needs >= 2 code dims
    and non-constant factors. Deterministic: ``seed`` is accepted only for a uniform signature.
    """
    from sklearn.metrics import mutual_info_score  # lazy: keeps `import metrics` light
    x = _codes(codes, "codes")
    y = _factors(factors, "factors", x.shape[0])
    if x.shape[1] < 2:
        raise ValueError("MIG needs at least 2 code dims (a gap between the top two)")
    constant = [j for j in range(y.shape[1]) if np.unique(y[:, j]).size < 2]
    if constant:
        raise ValueError(f"factor column(s) {constant} are constant: zero entropy, MIG undefined")
    binned = histogram_discretize(x, n_bins)
    mi = np.array([[mutual_info_score(y[:, j], binned[:, i]) for j in range(y.shape[1])] for i in range(x.shape[1])])
    h = np.array([mutual_info_score(y[:, j], y[:, j]) for j in range(y.shape[1])])
    top = np.sort(mi, axis=0)[::-1]
    return {
        "mig": float(np.mean((top[0] - top[1]) / h)),
        "spec": MIG_SPEC,
        "params": {"n_bins": int(n_bins), "seed": int(seed)},
    }


# ----------------------------------------------------------------------------- SAP


def _sap_pair(x_tr, y_tr, x_te, y_te, c: float, seed: int) -> float:
    from sklearn.svm import LinearSVC  # lazy: keeps `import metrics` light
    clf = LinearSVC(C=c, class_weight="balanced", random_state=seed).fit(x_tr[:, None], y_tr)
    return float(np.mean(clf.predict(x_te[:, None]) == y_te))


def sap(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    continuous_factors: bool = False,
    C: float = 0.01,
    seed: int = 0,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Separated attribute predictability (disentanglement_lib's ``SAP_score``).

    Score matrix S (L x F): for discrete factors, the test accuracy of a 1-D
    ``LinearSVC(C, class_weight="balanced")`` fit on each code dim alone; for continuous factors,
    the squared correlation on the training set (0 for a constant code), as dlib. SAP is the
    mean over factors of the gap between the two best code dims. Returns ``sap``, ``spec``,
    ``params`` and the ``score_matrix``.
    """
    from joblib import (
        Parallel,  # lazy: keeps `import metrics` light
        delayed,  # lazy: keeps `import metrics` light
    )
    x_tr, y_tr, x_te, y_te = _split(codes_train, factors_train, codes_test, factors_test,
                                    discrete=not continuous_factors)
    if x_tr.shape[1] < 2:
        raise ValueError("SAP needs at least 2 code dims (a gap between the top two)")
    n_codes, n_factors = x_tr.shape[1], y_tr.shape[1]
    if continuous_factors:
        s = np.zeros((n_codes, n_factors))
        for i in range(n_codes):
            for j in range(n_factors):
                cov = np.cov(x_tr[:, i], y_tr[:, j], ddof=1)
                s[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]) if cov[0, 0] > 1e-12 else 0.0
    else:
        pairs = [(i, j) for i in range(n_codes) for j in range(n_factors)]
        acc = Parallel(n_jobs=n_jobs)(
            delayed(_sap_pair)(x_tr[:, i], y_tr[:, j], x_te[:, i], y_te[:, j], C, seed) for i, j in pairs
        )
        s = np.asarray(acc, dtype=np.float64).reshape(n_codes, n_factors)
    top = np.sort(s, axis=0)
    return {
        "sap": float(np.mean(top[-1] - top[-2])),
        "spec": SAP_SPEC,
        "params": {"continuous_factors": bool(continuous_factors), "C": float(C), "seed": int(seed)},
        "score_matrix": s,
    }


# ----------------------------------------------------------------------------- registered signature

DCI_PARTS = ("disentanglement", "completeness", "informativeness")


def _dci_trajectory(data: FactorCodes, seed: int, specs: Sequence[str] = ()) -> list[Score]:
    """The trajectory variant: the ``fast`` spec only, whatever ``specs`` the suite lists (dlib's gradient
    boosting costs about a minute per representation)."""
    return dci_scores(data, seed, ("fast",))


@metric("dci", dci, ", ".join(DCI_SPECS.values()), each(
    [f"dci_{s}_{m}" for s in DCI_SPECS for m in DCI_PARTS], HIGHER),
    "disentanglement, completeness, informativeness of codes vs discrete factors; specs "
    + ", ".join(f"{k}={v}" for k, v in DCI_SPECS.items())
    + " (dlib: disentanglement_lib GBT; vaetc: GWAE authors' RF; fast: subsampled estimate of dlib)",
    fast=_dci_trajectory)
def dci_scores(data: FactorCodes, seed: int, specs: Sequence[str] = ("dlib",)) -> list[Score]:
    """DCI with every spec in ``specs``: three record names per spec."""
    out = []
    for spec in specs:
        r = dci(data.codes_train, data.factors_train, data.codes_test, data.factors_test, spec=spec, seed=seed)
        out += [Score(f"dci_{spec}_{part}", r[part], tagged(r)) for part in DCI_PARTS]
    return out


@metric("mig", mig, MIG_SPEC, {"mig": HIGHER},
        f"{MIG_SPEC}: mutual information gap, 20-bin histogram codes (disentanglement_lib)", cheap=True)
def mig_scores(data: FactorCodes, seed: int, n_bins: int = 20) -> list[Score]:
    r = mig(data.codes_train, data.factors_train, n_bins=n_bins, seed=seed)
    return [Score("mig", r["mig"], tagged(r))]


@metric("sap", sap, SAP_SPEC, {"sap": HIGHER},
        f"{SAP_SPEC}: SAP score, 1-D LinearSVC(C=0.01) accuracy gap (disentanglement_lib)")
def sap_scores(data: FactorCodes, seed: int) -> list[Score]:
    r = sap(data.codes_train, data.factors_train, data.codes_test, data.factors_test, seed=seed)
    return [Score("sap", r["sap"], tagged(r))]
