"""Threshold-free OoD detection metrics (AUROC, AP/AUPR-In/Out, FPR@95) in plain numpy.

Convention (OpenOOD's): OoD is the positive class and a higher score means "more OoD".
Everything is computed from one sort of the pooled scores, with tied scores merged into a
single threshold, without depending on scikit-learn's version. Two families, named after what
they compute:

* ``ap_in``, ``ap_out``, ``fpr95``: average precision (scikit-learn's ``average_precision_score``,
  a step sum, no interpolation) and the FPR at the first threshold whose TPR reaches 95%.
* ``aupr_in_openood``, ``aupr_out_openood``, ``fpr95_openood``: OpenOOD's ``auc_and_fpr_recall``:
  the trapezoid area under scikit-learn's precision-recall curve (with its (recall 0, precision 1)
  end point), and the FPR read from ``roc_curve`` with ``drop_intermediate=True``, which drops ROC
  points whose neighbours' steps are equal, so with tied or evenly spaced scores the first kept
  point reaching 95% can sit at a higher FPR.

AUROC is the same in both (dropping points on a straight segment leaves the trapezoid area).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from metrics.base import HIGHER, LOWER, OodScores, Score, each, metric

TPR_LEVEL = 0.95
#: OpenOOD conventions (OoD positive, higher score = more OoD). v2: AP named ``ap_*`` and OpenOOD's trapezoid
#: AUPR and drop-intermediate FPR@95 added as ``*_openood``.
OOD_SPEC = "ood@openood-v2"


def _scores(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-sample scores, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: OoD metrics need at least one score per class")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} non-finite score(s) (NaN or inf) out of {arr.size}")
    return arr


def _pool(id_scores: ArrayLike, ood_scores: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Pooled scores and labels (True = OoD)."""
    s_id = _scores(id_scores, "id_scores")
    s_ood = _scores(ood_scores, "ood_scores")
    labels = np.concatenate([np.zeros(s_id.size, dtype=bool), np.ones(s_ood.size, dtype=bool)])
    return np.concatenate([s_id, s_ood]), labels


def _counts(scores: NDArray[np.float64], positive: NDArray[np.bool_]) -> tuple[NDArray, NDArray]:
    """Cumulative (true positives, false positives) at each distinct threshold, high to low.

    Flagging ``score >= t`` for each distinct t: a run of tied scores enters in one step.
    """
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], positive[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last_of_run]
    fps = (last_of_run + 1) - tps
    return tps, fps


def _roc(scores: NDArray[np.float64], positive: NDArray[np.bool_]) -> tuple[NDArray, NDArray]:
    """Full ROC curve from (0, 0) to (1, 1), one point per distinct threshold."""
    tps, fps = _counts(scores, positive)
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def _average_precision(scores: NDArray[np.float64], positive: NDArray[np.bool_]) -> float:
    """sum_n (R_n - R_{n-1}) P_n over distinct thresholds (no interpolation), as scikit-learn."""
    tps, fps = _counts(scores, positive)
    precision = tps / (tps + fps)
    recall_step = np.diff(np.r_[0, tps]) / tps[-1]
    return float(np.sum(recall_step * precision))


def _pr_area_trapezoid(scores: NDArray[np.float64], positive: NDArray[np.bool_]) -> float:
    """OpenOOD's AUPR: trapezoid area of scikit-learn's precision-recall curve, end point (0, 1) included."""
    tps, fps = _counts(scores, positive)
    precision = np.r_[1.0, tps / (tps + fps)]
    recall = np.r_[0.0, tps / tps[-1]]
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1])) / 2)


def _roc_openood(scores: NDArray[np.float64], positive: NDArray[np.bool_]) -> tuple[NDArray, NDArray]:
    """scikit-learn's ``roc_curve(drop_intermediate=True)``: keep the ends and every point where
    the second difference of the FP or TP counts is non-zero, then prepend (0, 0)."""
    tps, fps = _counts(scores, positive)
    if tps.size > 2:
        keep = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        tps, fps = tps[keep], fps[keep]
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def _fpr_at_tpr(fpr: NDArray, tpr: NDArray, level: float) -> float:
    """FPR at the first ROC point (highest threshold) whose TPR reaches ``level``.

    This is the lowest FPR over all thresholds that flag at least ``level`` of the OoD set
    (OpenOOD: ``fpr[argmax(tpr >= level)]``).
    """
    return float(fpr[np.argmax(tpr >= level)])


def ood_metrics(id_scores: ArrayLike, ood_scores: ArrayLike) -> dict[str, float]:
    """AUROC, AP-In/Out, FPR@95%TPR and OpenOOD's AUPR-In/Out and FPR@95 of an OoD score (higher = more OoD).

    ``*_out``: OoD as positive; ``*_in``: ID as positive and the score negated; ``fpr95``: fraction
    of ID samples flagged at the highest threshold that flags at least 95% of the OoD samples.
    See the module docstring for how the ``_openood`` variants differ. Raises ValueError on empty
    or non-finite input.
    """
    scores, is_ood = _pool(id_scores, ood_scores)
    fpr, tpr = _roc(scores, is_ood)
    return {
        "auroc": float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2),  # trapezoid; numpy>=1.26
        "ap_in": _average_precision(-scores, ~is_ood),
        "ap_out": _average_precision(scores, is_ood),
        "fpr95": _fpr_at_tpr(fpr, tpr, TPR_LEVEL),
        "aupr_in_openood": _pr_area_trapezoid(-scores, ~is_ood),
        "aupr_out_openood": _pr_area_trapezoid(scores, is_ood),
        "fpr95_openood": _fpr_at_tpr(*_roc_openood(scores, is_ood), TPR_LEVEL),
    }


def roc_curve(
    id_scores: ArrayLike, ood_scores: ArrayLike, max_points: int = 200
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(fpr, tpr) for plotting, at most ``max_points`` points, (0, 0) and (1, 1) always kept.

    Downsampling keeps evenly spaced points along the curve, so curves from large test sets
    stay small in result files; the metrics themselves always use the full curve.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2 to keep both endpoints, got {max_points}")
    fpr, tpr = _roc(*_pool(id_scores, ood_scores))
    if fpr.size > max_points:
        keep = np.unique(np.round(np.linspace(0, fpr.size - 1, max_points)).astype(np.int64))
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr


#: Every OoD metric is two encoder passes and one sort: cheap enough for the trajectory pass.
@metric("ood", ood_metrics, OOD_SPEC, {
    **each(["auroc", "ap_in", "ap_out", "aupr_in_openood", "aupr_out_openood"], HIGHER),
    **each(["fpr95", "fpr95_openood"], LOWER)},
    f"{OOD_SPEC}: AUROC, AP-in/out, FPR@95%TPR, and OpenOOD's trapezoid AUPR-in/out and FPR@95 (*_openood) "
    "(OoD positive)", cheap=True, unplotted=("ap_in", "ap_out", "aupr_in_openood", "aupr_out_openood", "fpr95",
                                             "fpr95_openood"))
def ood_scores(data: OodScores, seed: int) -> list[Score]:
    """Each OoD metric of ``data``'s scores; the spec names the scorer that produced them."""
    spec = f"{OOD_SPEC}/scorer={data.scorer}"
    extras = {"scorer_spec": data.scorer, "n_id": len(data.id_scores), "n_ood": len(data.ood_scores)}
    return [Score(name, float(v), spec, extras) for name, v in ood_metrics(data.id_scores, data.ood_scores).items()]
