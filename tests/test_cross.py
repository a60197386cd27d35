"""The cross table's sentences: per set, does the own scorer's ranking hold under the common scorers."""

import pandas as pd

from benchmark.results import cross
from benchmark.suites.base import CrossTable

CROSS = CrossTable(metrics=("auroc",), sets=(("near-set", "near", "a near set"), ("far-set", "far", "a far set")))


def frame(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(label, scorer, set, mean AUROC) rows as ``cross.table`` writes them; label "ref" is a reference."""
    return pd.DataFrame([{"label": label, "scorer": scorer, "ood_set": ood_set, "metric": "auroc", "mean": mean,
                          "reference": label == "ref"} for label, scorer, ood_set, mean in rows])


def test_a_ranking_that_holds_one_that_changes_and_the_best_reference():
    lines = cross.rankings(frame([
        ("a", "own", "near-set", 0.9), ("b", "own", "near-set", 0.7),
        ("a", "gmm", "near-set", 0.8), ("b", "gmm", "near-set", 0.6),
        ("a", "knn", "near-set", 0.5), ("b", "knn", "near-set", 0.95),
        ("ref", "intensity", "near-set", 0.85), ("ref", "knn", "near-set", 0.6),
    ]), CROSS)
    assert lines == ["near-set (near): own scorers rank a > b; gmm: the same; knn: b > a; "
                     "best reference intensity 0.850, beaten by 2 of 6 model x scorer rows"]  # a own, b knn


def test_means_equal_at_the_shown_precision_tie():
    lines = cross.rankings(frame([
        ("a", "own", "far-set", 0.99996), ("b", "own", "far-set", 1.0), ("c", "own", "far-set", 0.9),
        ("a", "recon", "far-set", 1.0), ("b", "recon", "far-set", 0.99999), ("c", "recon", "far-set", 0.8),
        ("ref", "intensity", "far-set", 0.99998),
    ]), CROSS)
    # 0.99996 and 1.0 both show as 1.000: a tie, not b above a; nothing beats a reference that shows 1.000
    assert lines == ["far-set (far): own scorers rank a = b > c; recon: the same; "
                     "best reference intensity 1.000, beaten by 0 of 6 model x scorer rows"]


def test_a_set_without_records_says_nothing_and_a_tie_that_breaks_is_a_change():
    lines = cross.rankings(frame([
        ("a", "own", "far-set", 0.8), ("b", "own", "far-set", 0.8),
        ("a", "gmm", "far-set", 0.8), ("b", "gmm", "far-set", 0.7),
    ]), CROSS)
    assert lines == ["far-set (far): own scorers rank a = b; gmm: a > b"]
