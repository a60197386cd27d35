"""OoD scorers (metrics/scorers.py) against independent computations; generated OoD sets; older ood records."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from benchmark.data import load_dataset
from benchmark.data.generated import gaussian_noise, pixel_shuffled, uniform_noise
from benchmark.records.schema import drop_repeated_references, upgrade
from core.errors import BenchmarkError
from metrics.scorers import SCORERS, scorer_spec


def test_every_scorer_is_registered_with_a_spec():
    assert {"own", "recon", "gmm", "knn", "intensity", "intensity_low"} <= set(SCORERS.names())
    assert scorer_spec("knn", {"k": 50, "n_fit": 100}) == "knn:knn-openood-v1/k=50,n_fit=100"
    assert scorer_spec("own", {}) == "own:own-v1"
    with pytest.raises(BenchmarkError, match="unknown scorer"):
        SCORERS.get("mahalanobis")


def test_knn_is_the_kth_nearest_normalised_training_feature_by_brute_force():
    rng = np.random.default_rng(0)
    train, query = rng.normal(size=(120, 5)), rng.normal(size=(700, 5)) * 2  # more queries than one block
    scores = SCORERS.get("knn").fit(train, seed=0, k=7)(query)
    norm = lambda v: v / (np.linalg.norm(v) + 1e-10)  # noqa: E731  (OpenOOD's normaliser)
    for i in (0, 3, 511, 512, 699):
        dists = sorted(float(np.sum((norm(query[i]) - norm(t)) ** 2)) for t in train)
        assert scores[i] == pytest.approx(dists[6], abs=1e-12)
    with pytest.raises(ValueError, match="k = 121"):
        SCORERS.get("knn").fit(train, seed=0, k=121)


def test_gmm_is_sklearns_mixture_nll_fitted_on_training_features_with_the_seed():
    rng = np.random.default_rng(1)
    train = np.concatenate([rng.normal(-2, 1, size=(150, 3)), rng.normal(3, 0.5, size=(150, 3))])
    query = rng.normal(size=(40, 3)) * 3
    scores = SCORERS.get("gmm").fit(train, seed=4, components=2)(query)
    ref = GaussianMixture(2, covariance_type="full", reg_covar=1e-6, random_state=4).fit(train)
    np.testing.assert_allclose(scores, -ref.score_samples(query), rtol=1e-12)
    # by hand: the negative log of the fitted mixture's density
    parts = zip(ref.weights_, ref.means_, ref.covariances_, strict=True)
    dens = sum(w * np.exp(-0.5 * np.einsum("bi,ij,bj->b", query - m, np.linalg.inv(c), query - m))
               / np.sqrt(np.linalg.det(2 * np.pi * c)) for w, m, c in parts)
    np.testing.assert_allclose(scores, -np.log(dens), rtol=1e-9)
    with pytest.raises(ValueError, match="cannot fit"):
        SCORERS.get("gmm").fit(train[:3], seed=0, components=5)


def test_intensity_scorers_and_the_passed_through_ones():
    rng = np.random.default_rng(2)
    train, query = rng.uniform(size=(50, 16)), rng.uniform(size=(9, 16))
    m = train.mean(axis=1)
    two_sided = SCORERS.get("intensity").fit(train, seed=0)(query)
    np.testing.assert_allclose(two_sided, np.abs(query.mean(axis=1) - m.mean()) / m.std(), rtol=1e-12)
    np.testing.assert_allclose(SCORERS.get("intensity_low").fit(None, seed=0)(query), -query.mean(axis=1))
    own = rng.normal(size=9)
    for name in ("own", "recon"):
        assert not SCORERS.get(name).fitted
        np.testing.assert_array_equal(SCORERS.get(name).fit(None, seed=0)(own), own)


def test_generated_sets_are_deterministic_and_checksummed():
    a, b = gaussian_noise(50), gaussian_noise(50)
    assert a.dtype == np.uint8 and a.shape == (50, 1, 28, 28) and np.array_equal(a, b)
    assert not np.array_equal(gaussian_noise(50, seed=1), a)
    assert np.array_equal(uniform_noise(20), uniform_noise(20)) and uniform_noise(20).max() > 200
    images = np.arange(2 * 784, dtype=np.int64).reshape(2, 1, 28, 28).astype(np.uint8)
    shuffled = pixel_shuffled(images)
    assert np.array_equal(np.sort(shuffled.reshape(2, -1), axis=1), np.sort(images.reshape(2, -1), axis=1))
    assert np.array_equal(shuffled, pixel_shuffled(images)) and not np.array_equal(shuffled, images)
    for name in ("noise-gaussian", "noise-uniform", "mnist-pixel-shuffled"):
        one, two = load_dataset(name, "test", n=100), load_dataset(name, "test", n=100)
        assert len(one) == 100 and one.sha256() == two.sha256()
    assert load_dataset("noise-gaussian", "test").sha256() != load_dataset("noise-uniform", "test").sha256()


def test_omniglot_official_is_the_files_not_inverted():
    official, inverted = load_dataset("omniglot-official", "test"), load_dataset("omniglot", "test")
    assert len(official) == len(inverted) == 5640
    assert official.images.float().mean() > 200 > 30 > inverted.images.float().mean()  # white vs black background
    # area averaging commutes with 255 - v up to the filter's rounding
    assert (official.images.int() + inverted.images.int() - 255).abs().max() <= 1


def test_older_ood_records_are_the_own_scorer_on_the_inverted_omniglot():
    old = {"suite": "ood", "metric": "auroc", "scorer": "critic_potential", "eval_dataset": "mnist-test vs omniglot",
           "metric_spec": "ood@openood-v2/scorer=critic_potential"}
    new = upgrade(old)
    assert (new["scorer"], new["scorer_spec"], new["ood_set"], new["ood_kind"], new["eval_dataset"]) == (
        "own", "own:critic_potential", "omniglot-inverted", "near", "mnist-test vs omniglot-inverted")
    assert new["metric_spec"] == old["metric_spec"]
    assert upgrade(new) == new
    gw = {"suite": "ood", "metric": "gw_distortion", "eval_dataset": "mnist"}
    assert "scorer" not in upgrade(gw) and upgrade(gw)["eval_dataset"] == "mnist"


def test_reference_rows_are_kept_once_per_preset_and_seed():
    row = {"suite": "ood", "preset": "default", "seed": 0, "eval_seed": 0, "eval_dataset": "a vs b", "metric": "auroc",
           "metric_spec": "s", "scorer_spec": "knn"}
    records = [{**row, "model": "reference", "run_id": "r1"}, {**row, "model": "reference", "run_id": "r2"},
               {**row, "model": "reference", "seed": 1, "run_id": "r3"}, {**row, "model": "vae", "run_id": "r1"},
               {**row, "model": "vae", "run_id": "r2"}]
    assert [r["run_id"] for r in drop_repeated_references(records)] == ["r1", "r3", "r1", "r2"]
