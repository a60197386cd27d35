"""OoD metrics against scikit-learn, hand examples and a brute-force FPR@95."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from metrics import OOD_SPEC, ood_metrics, roc_curve


def _sklearn(id_s: np.ndarray, ood_s: np.ndarray) -> dict[str, float]:
    y = np.r_[np.zeros(id_s.size), np.ones(ood_s.size)]
    s = np.r_[id_s, ood_s]
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    return {
        "auroc": skm.roc_auc_score(y, s),
        "ap_in": skm.average_precision_score(1 - y, -s),
        "ap_out": skm.average_precision_score(y, s),
        "fpr95": fpr[np.argmax(tpr >= 0.95)],
    }


def _openood(id_s: np.ndarray, ood_s: np.ndarray) -> dict[str, float]:
    """OpenOOD's ``auc_and_fpr_recall`` on sklearn, with its conf = -score (ID has the larger conf)."""
    conf = -np.r_[id_s, ood_s]
    ood_indicator = np.r_[np.zeros(id_s.size), np.ones(ood_s.size)]
    fpr_list, tpr_list, _ = skm.roc_curve(ood_indicator, -conf)
    precision_in, recall_in, _ = skm.precision_recall_curve(1 - ood_indicator, conf)
    precision_out, recall_out, _ = skm.precision_recall_curve(ood_indicator, -conf)
    return {
        "auroc": skm.auc(fpr_list, tpr_list),
        "aupr_in_openood": skm.auc(recall_in, precision_in),
        "aupr_out_openood": skm.auc(recall_out, precision_out),
        "fpr95_openood": fpr_list[np.argmax(tpr_list >= 0.95)],
    }


def _brute_fpr95(id_s: np.ndarray, ood_s: np.ndarray) -> float:
    best = 1.0
    for t in np.unique(np.r_[id_s, ood_s]):
        if np.mean(ood_s >= t) >= 0.95:
            best = min(best, float(np.mean(id_s >= t)))
    return best


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    cases = []
    for n_id, n_ood, shift in [(200, 150, 0.7), (37, 91, -0.3), (1, 5, 1.0), (60, 20, 0.0)]:
        cases.append((rng.normal(size=n_id), rng.normal(shift, 1.0, size=n_ood)))
        # heavy ties: scores rounded to a handful of values, shared across classes
        cases.append((np.round(rng.normal(size=n_id), 0), np.round(rng.normal(shift, 1.0, size=n_ood), 0)))
    return cases


@pytest.mark.parametrize("id_s,ood_s", _cases())
def test_matches_sklearn_and_brute_force(id_s: np.ndarray, ood_s: np.ndarray) -> None:
    ours, ref = ood_metrics(id_s, ood_s), {**_sklearn(id_s, ood_s), **_openood(id_s, ood_s)}
    assert set(ours) == set(ref)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key
    assert ours["fpr95"] == pytest.approx(_brute_fpr95(id_s, ood_s), abs=1e-12)


@pytest.mark.parametrize("id_s,ood_s", _cases()[:4])
def test_roc_curve_matches_sklearn_and_downsamples(id_s: np.ndarray, ood_s: np.ndarray) -> None:
    y = np.r_[np.zeros(id_s.size), np.ones(ood_s.size)]
    ref_fpr, ref_tpr, _ = skm.roc_curve(y, np.r_[id_s, ood_s], drop_intermediate=False)
    fpr, tpr = roc_curve(id_s, ood_s, max_points=10_000)
    np.testing.assert_allclose(fpr, ref_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr, ref_tpr, atol=1e-12)
    fpr, tpr = roc_curve(id_s, ood_s, max_points=7)
    assert len(fpr) == len(tpr) <= 7
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_hand_examples() -> None:
    perfect = ood_metrics([0.0, 0.1, 0.2], [1.0, 2.0])
    assert set(perfect.values()) == {0.0, 1.0} and perfect["fpr95"] == perfect["fpr95_openood"] == 0.0
    assert ood_metrics([1.0, 2.0], [0.0, 0.1, 0.2])["auroc"] == 0.0
    same = ood_metrics(np.ones(10), np.ones(30))
    assert same["auroc"] == 0.5 and same["fpr95"] == 1.0
    assert same["ap_out"] == pytest.approx(0.75) and same["ap_in"] == pytest.approx(0.25)
    # one threshold: AP is 0.75, the trapezoid from (0, 1) to (1, 0.75) is 0.875
    assert same["aupr_out_openood"] == pytest.approx(0.875) and same["aupr_in_openood"] == pytest.approx(0.625)


def test_tied_scores_move_openood_fpr95_off_the_first_point_reaching_95_percent() -> None:
    """Hand case: the exact first point with TPR >= 0.95 sits mid-way along evenly spaced steps, which
    scikit-learn's drop_intermediate removes, so OpenOOD reads a later point with a higher FPR."""
    ood = np.r_[np.full(19, 5.0), 3.0, 2.0]  # TPR 19/21, then 20/21 (>= 0.95), then 1
    idd = np.r_[4.0, 3.0, 2.0, 1.0, 0.0]  # one ID point per step: the steps (1 FP, 1 TP) are equal
    m = ood_metrics(idd, ood)
    assert m["fpr95"] == pytest.approx(2 / 5)  # threshold 3.0: TPR 20/21, FPR 2/5
    assert m["fpr95_openood"] == pytest.approx(3 / 5)  # threshold 2.0: the (20/21, 2/5) point was dropped
    assert m["fpr95_openood"] == pytest.approx(_openood(idd, ood)["fpr95_openood"])


@pytest.mark.parametrize(
    "id_s,ood_s,match",
    [([], [1.0], "id_scores is empty"), ([1.0], [], "ood_scores is empty"),
     ([np.nan, 1.0], [1.0], "non-finite"), ([1.0], [np.inf], "non-finite"),
     (np.ones((2, 2)), [1.0], "1-D")],
)
def test_rejects_bad_input(id_s, ood_s, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ood_metrics(id_s, ood_s)


def test_spec_and_max_points() -> None:
    assert OOD_SPEC.startswith("ood@")
    with pytest.raises(ValueError, match="max_points"):
        roc_curve([0.0], [1.0], max_points=1)
