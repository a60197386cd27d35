"""disentanglement_lib's other scores on hand-built representations and against brute-force loops.

Each metric: codes equal to the factors (per-dim scaling) score at the top, a random rotation of
them scores lower (explicitness excepted: a linear read-out is rotation-invariant by design), and
a constant code scores at the bottom or is a clear error, as in disentanglement_lib.
"""

import math

import numpy as np
import pytest
import scipy.linalg
from sklearn.metrics import mutual_info_score

from metrics import METRICS
from metrics.dlib_scores import (
    GridFactorSampler,
    beta_vae_score,
    factor_vae_score,
    factor_vae_votes,
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    irs,
    irs_matrix_scores,
    majority_vote_accuracy,
    modularity,
    modularity_explicitness,
    unsupervised_scores,
)

SIZES = (10, 10, 10, 8, 4, 15)
SCALE = np.array([0.5, 2.0, 1.0, 3.0, 1.5, 0.7])
ROTATION = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))[0]
SAMPLER = GridFactorSampler(SIZES)


def scaled(f):
    return f * SCALE


def rotated(f):
    return (f * SCALE) @ ROTATION


def constant(f):
    return np.zeros((len(f), 6))


@pytest.fixture(scope="module")
def grid_points():
    rs = np.random.RandomState(0)
    return SAMPLER(4000, rs), SAMPLER(2000, rs)


def test_grid_sampler_is_uniform_over_each_factor():
    f = SAMPLER(20_000, np.random.RandomState(1))
    assert f.shape == (20_000, 6) and f.dtype == np.int64
    for j, size in enumerate(SIZES):
        counts = np.bincount(f[:, j], minlength=size)
        assert len(counts) == size and counts.min() > 0.8 * 20_000 / size


# ----------------------------------------------------------------------------- beta-VAE score


def test_beta_vae_score_top_rotation_lower_constant_chance():
    kw = {"batch_size": 8, "num_train": 300, "num_eval": 150, "seed": 0}
    top = beta_vae_score(SAMPLER, scaled, **kw)
    rot = beta_vae_score(SAMPLER, rotated, **kw)
    flat = beta_vae_score(SAMPLER, constant, **kw)
    assert top["eval_accuracy"] == 1.0 and top["train_accuracy"] == 1.0
    assert rot["eval_accuracy"] < 0.9
    assert flat["eval_accuracy"] < 0.35  # all-zero features: one class predicted, about 1/6
    assert top["spec"] == "beta_vae_score@dlib-v1" and top["params"]["batch_size"] == 8


def test_beta_vae_features_are_the_mean_absolute_code_difference(monkeypatch):
    """The feature of a point, recomputed by a loop from the factor batches the metric drew."""
    seen = []

    def recording(f):
        seen.append(f.copy())
        return scaled(f)

    from metrics import dlib_scores

    captured = {}
    original = dlib_scores._fit_logistic

    def capture(x, y, seed):
        captured["x"], captured["y"] = x, y
        return original(x, y, seed)

    monkeypatch.setattr(dlib_scores, "_fit_logistic", capture)
    beta_vae_score(SAMPLER, recording, batch_size=4, num_train=5, num_eval=2, chunk=10_000)
    left, right = seen[0], seen[1]  # one call per side for the training points
    for i in range(5):
        a, b = left[4 * i : 4 * i + 4], right[4 * i : 4 * i + 4]
        k = captured["y"][i]
        assert np.array_equal(a[:, k], b[:, k])  # the fixed factor is shared by the pair
        by_loop = [np.mean([abs(scaled(a)[r, d] - scaled(b)[r, d]) for r in range(4)]) for d in range(6)]
        assert np.allclose(captured["x"][i], by_loop)


# ----------------------------------------------------------------------------- FactorVAE score


def test_factor_vae_score_top_rotation_lower_constant_bottom():
    kw = {"batch_size": 16, "num_train": 300, "num_eval": 150, "num_variance_estimate": 1000, "seed": 0}
    top = factor_vae_score(SAMPLER, scaled, **kw)
    rot = factor_vae_score(SAMPLER, rotated, **kw)
    flat = factor_vae_score(SAMPLER, constant, **kw)
    assert top["eval_accuracy"] == 1.0 and top["num_active_dims"] == 6
    assert rot["eval_accuracy"] < 0.9
    assert flat["eval_accuracy"] == 0.0 and flat["train_accuracy"] == 0.0 and flat["num_active_dims"] == 0


def test_factor_vae_prunes_collapsed_dims_and_still_scores_the_rest():
    def with_dead_dim(f):
        return np.concatenate([scaled(f), np.full((len(f), 1), 3.0), 0.01 * np.ones((len(f), 1))], axis=1)

    out = factor_vae_score(SAMPLER, with_dead_dim, batch_size=16, num_train=200, num_eval=100,
                           num_variance_estimate=500)
    assert out["num_active_dims"] == 6 and out["eval_accuracy"] == 1.0


def test_votes_and_majority_vote_by_hand():
    votes = factor_vae_votes([0, 0, 1, 1, 1, 2], [0, 0, 0, 1, 1, 2], n_factors=3, n_codes=3)
    assert votes.tolist() == [[2, 0, 0], [1, 2, 0], [0, 0, 1]]
    classifier = np.argmax(votes, axis=0)  # dim 0 -> factor 0, dim 1 -> 1, dim 2 -> 2
    assert majority_vote_accuracy(votes, classifier) == pytest.approx(5 / 6)


# ----------------------------------------------------------------------------- modularity, explicitness


def test_modularity_by_hand():
    mi = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [2.0, 1.0]])
    # dim 0: only factor 0 -> 1; dim 1: equal -> 0; dim 2: no MI -> 0; dim 3: 1 - 1/4
    assert modularity(mi) == pytest.approx((1 + 0 + 0 + 0.75) / 4)
    with pytest.raises(ValueError, match="F >= 2"):
        modularity(np.ones((3, 1)))


def test_modularity_explicitness_top_rotation_constant(grid_points):
    f_tr, f_te = grid_points
    top = modularity_explicitness(scaled(f_tr), f_tr, scaled(f_te), f_te)
    rot = modularity_explicitness(rotated(f_tr), f_tr, rotated(f_te), f_te)
    flat = modularity_explicitness(constant(f_tr), f_tr, constant(f_te), f_te)
    assert top["modularity_score"] > 0.99 and top["explicitness_score_test"] > 0.99
    assert rot["modularity_score"] < top["modularity_score"] - 0.03
    assert rot["explicitness_score_test"] == pytest.approx(top["explicitness_score_test"], abs=0.01)  # linear
    assert flat["modularity_score"] == 0.0 and flat["explicitness_score_test"] == pytest.approx(0.5)
    assert top["spec"] == "modularity_explicitness@dlib-v1"


def test_explicitness_drops_for_a_code_that_hides_a_factor(grid_points):
    f_tr, f_te = grid_points

    def hide_shape(f):  # factor 4 (shape) replaced by noise: its AUC falls to chance, the mean to about 11/12
        out = scaled(f).astype(float)
        out[:, 4] = np.random.RandomState(len(f)).randn(len(f))
        return out

    partial = modularity_explicitness(hide_shape(f_tr), f_tr, hide_shape(f_te), f_te)
    assert partial["explicitness_score_test"] == pytest.approx(11 / 12, abs=0.02)


# ----------------------------------------------------------------------------- IRS


def _irs_by_loops(factors, codes, q):
    n_codes, n_factors = codes.shape[1], factors.shape[1]
    max_dev = [max(abs(v - np.mean(codes[:, i])) for v in codes[:, i]) for i in range(n_codes)]
    matrix = np.zeros((n_codes, n_factors))
    for i in range(n_codes):
        for j in range(n_factors):
            values = sorted(set(factors[:, j].tolist()))
            total = 0.0
            for v in values:
                group = [codes[r, i] for r in range(len(codes)) if factors[r, j] == v]
                mean = sum(group) / len(group)
                total += np.quantile([abs(g - mean) for g in group], q)
            matrix[i, j] = 1 - total / len(values) / max_dev[i]
    per_dim = matrix.max(axis=1)
    return sum(p * w for p, w in zip(per_dim, max_dev, strict=True)) / sum(max_dev)


def test_irs_matches_a_loop_implementation():
    rs = np.random.RandomState(3)
    factors = rs.randint(0, 3, size=(60, 2))
    codes = np.stack([factors[:, 0] + 0.1 * rs.randn(60), rs.randn(60), factors[:, 1] * 2.0], axis=1)
    assert irs_matrix_scores(factors, codes, 0.9)["irs"] == pytest.approx(_irs_by_loops(factors, codes, 0.9))


def test_irs_top_rotation_lower_constant_bottom(grid_points):
    f_tr, _ = grid_points
    top, rot, flat = irs(scaled(f_tr), f_tr), irs(rotated(f_tr), f_tr), irs(constant(f_tr), f_tr)
    assert top["irs"] == pytest.approx(1.0) and top["num_active_dims"] == 6
    assert rot["irs"] < 0.8
    assert flat["irs"] == 0.0 and flat["num_active_dims"] == 0
    with pytest.raises(ValueError, match="diff_quantile"):
        irs(scaled(f_tr), f_tr, diff_quantile=0.0)


# ----------------------------------------------------------------------------- unsupervised


def test_gaussian_scores_against_their_definitions():
    rs = np.random.RandomState(0)
    a = rs.randn(4, 4)
    cov = a @ a.T + 0.5 * np.eye(4)
    diag = np.diag(np.diag(cov))
    # KL(N(0, cov) || N(0, diag)) by determinants and inverses (dlib's own test reference)
    kl = 0.5 * (np.trace(np.linalg.inv(diag) @ cov) - 4 + np.log(np.linalg.det(diag) / np.linalg.det(cov)))
    assert gaussian_total_correlation(cov) == pytest.approx(kl)
    # dlib's formula: 2 tr S - 2 tr sqrtm(S * diag(S)[:, None])
    w = 2 * np.trace(cov) - 2 * np.trace(scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])).real
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(w)
    assert gaussian_total_correlation(np.diag([1.0, 4.0])) == pytest.approx(0.0)
    assert gaussian_wasserstein_correlation(np.diag([1.0, 4.0])) == pytest.approx(0.0, abs=1e-12)


def test_mutual_info_score_matches_a_loop(grid_points):
    f_tr, _ = grid_points
    codes = rotated(f_tr)[:500]
    out = unsupervised_scores(codes)
    binned = [np.digitize(codes[:, i], np.histogram(codes[:, i], 20)[1][:-1]) for i in range(6)]
    pairs = [mutual_info_score(binned[i], binned[j]) for i in range(6) for j in range(6) if i != j]
    assert out["mutual_info_score"] == pytest.approx(sum(pairs) / 30)


def test_unsupervised_scores_independent_low_rotation_higher_constant_error(grid_points):
    f_tr, _ = grid_points
    top, rot = unsupervised_scores(scaled(f_tr)), unsupervised_scores(rotated(f_tr))
    for key in ("gaussian_total_correlation", "gaussian_wasserstein_correlation_norm", "mutual_info_score"):
        assert top[key] < 0.02, key  # independent factors: near zero (sampling noise only)
        assert rot[key] > 5 * top[key] + 0.01, key
    with pytest.raises(ValueError, match="zero variance"):
        unsupervised_scores(constant(f_tr))
    with pytest.raises(ValueError, match="2 code dims"):
        unsupervised_scores(scaled(f_tr)[:, :1])


def test_every_new_metric_is_registered_with_its_spec():
    for name in ("beta_vae_score", "factor_vae_score", "modularity_explicitness", "irs", "unsupervised"):
        assert name in METRICS and "@dlib-v1" in METRICS.entry(name).summary


def test_represent_must_return_one_code_row_per_factor_row():
    with pytest.raises(ValueError, match="expected"):
        beta_vae_score(SAMPLER, lambda f: np.zeros(len(f)), batch_size=4, num_train=4, num_eval=2)
    with pytest.raises(ValueError, match="non-finite"):
        factor_vae_score(SAMPLER, lambda f: np.full((len(f), 2), math.nan), batch_size=4, num_train=4, num_eval=2,
                         num_variance_estimate=10)
