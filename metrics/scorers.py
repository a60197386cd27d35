"""OoD scorers: per-image scores (higher = more OoD) of features, fitted on training features only.

A scorer is ``fit(train, seed, **params) -> score``: ``train`` holds the training set's features (codes,
pixels, ...), ``score`` maps any set's features to one score per row. Which features a scorer reads is the
suite's choice (the kNN scorer reads codes for a model and pixels for the model-free reference), so the
same trained weights are scored under every scorer without training anything. ``spec`` names a scorer
and every parameter that shaped its scores; the seed is the run's evaluation seed, recorded beside it.

* ``own``: the model's own score (critic potential, prior NLL, DAGMM energy), passed through.
* ``recon``: the per-image squared reconstruction error, passed through (the suite computes it).
* ``gmm``: negative log-likelihood under a Gaussian mixture fitted to the training features
  (scikit-learn's ``GaussianMixture``, full covariances, seeded): does a code space keep the OoD set apart
  where the model's own scorer does not?
* ``knn``: OpenOOD's ``KNNPostprocessor`` (Sun et al. 2022): features divided by their L2 norm (plus 1e-10),
  the squared L2 distance to the k-th nearest training feature (faiss ``IndexFlatL2``; OpenOOD's confidence
  is its negative), k = 50 as OpenOOD's ``knn.yml``. Exact search in float64 here, no faiss.
* ``intensity``: |m - mean| / std of an image's mean intensity m, both fitted on the training images: a
  two-sided rule, since which side is OoD depends on the set (Omniglot black on white is brighter than
  MNIST, white on black darker).
* ``intensity_low``: minus the mean intensity (darker = more OoD), unfitted: the one-sided rule that
  separates MNIST from the inverted Omniglot, and scores near 0 on the official one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.registry import Registry

ScoreFn = Callable[[np.ndarray], np.ndarray]
#: Normaliser offset of OpenOOD's KNN postprocessor: x / (||x|| + 1e-10).
KNN_EPS = 1e-10
#: Rows of the query set per distance block: bounds memory at rows x training features x 8 bytes.
KNN_BLOCK = 512


@dataclass(frozen=True)
class Scorer:
    """A registered scorer: its fit function, whether it reads training features, its versioned spec."""

    fit: Callable[..., ScoreFn]
    spec: str
    #: False where ``fit`` ignores the training features (own, recon, intensity_low): none need encoding.
    fitted: bool = True


SCORERS: Registry[Scorer] = Registry("scorer")


def scorer(name: str, spec: str, summary: str, fitted: bool = True) -> Callable[[Callable[..., ScoreFn]],
                                                                              Callable[..., ScoreFn]]:
    def register(fit: Callable[..., ScoreFn]) -> Callable[..., ScoreFn]:
        SCORERS.add(name, Scorer(fit, spec, fitted), summary)
        return fit

    return register


def scorer_spec(name: str, params: Mapping[str, Any]) -> str:
    """``name:spec`` and every parameter, e.g. ``knn:knn-openood-v1/k=50,n_fit=10000``."""
    tail = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{name}:{SCORERS.get(name).spec}" + (f"/{tail}" if tail else "")


def _rows(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    return arr.reshape(len(arr), -1)


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1)


@scorer("own", "own-v1", "the model's own OoD score (critic potential, prior NLL, DAGMM energy)", fitted=False)
def fit_own(_train: np.ndarray | None, seed: int) -> ScoreFn:
    return _identity


@scorer("recon", "recon-sse-v1", "per-image squared reconstruction error, sum over pixels", fitted=False)
def fit_recon(_train: np.ndarray | None, seed: int) -> ScoreFn:
    return _identity


@scorer("gmm", "gmm-sklearn-v1", "negative log-likelihood under a Gaussian mixture fitted to training features")
def fit_gmm(train: np.ndarray, seed: int, components: int = 10, reg_covar: float = 1e-6) -> ScoreFn:
    from sklearn.mixture import GaussianMixture  # imported where used: `import metrics` stays light

    feats = _rows(train)
    if len(feats) < components:
        raise ValueError(f"gmm: {len(feats)} training features cannot fit {components} components")
    gmm = GaussianMixture(components, covariance_type="full", reg_covar=reg_covar, random_state=seed).fit(feats)
    return lambda x: -gmm.score_samples(_rows(x))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """OpenOOD's KNN normaliser: each row divided by its L2 norm plus 1e-10."""
    feats = _rows(x)
    return feats / (np.linalg.norm(feats, axis=1, keepdims=True) + KNN_EPS)


def kth_distance(train: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Squared L2 distance of each query row to its k-th nearest training row (exact, blockwise)."""
    sq = (train**2).sum(axis=1)
    out = np.empty(len(query))
    for start in range(0, len(query), KNN_BLOCK):
        q = query[start:start + KNN_BLOCK]
        d = np.maximum((q**2).sum(axis=1)[:, None] + sq[None, :] - 2.0 * q @ train.T, 0.0)
        out[start:start + KNN_BLOCK] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return out


@scorer("knn", "knn-openood-v1", "squared distance to the k-th nearest L2-normalised training feature (OpenOOD)")
def fit_knn(train: np.ndarray, seed: int, k: int = 50) -> ScoreFn:
    bank = l2_normalise(train)
    if not 1 <= k <= len(bank):
        raise ValueError(f"knn: k = {k} needs 1 <= k <= {len(bank)} training features")
    return lambda x: kth_distance(bank, l2_normalise(x), k)


def mean_intensity(x: np.ndarray) -> np.ndarray:
    return _rows(x).mean(axis=1)


@scorer("intensity", "intensity-z-v1", "|mean intensity - training mean| / training std (two-sided)")
def fit_intensity(train: np.ndarray, seed: int) -> ScoreFn:
    m = mean_intensity(train)
    mu, sd = float(m.mean()), float(m.std())
    if not sd > 0:
        raise ValueError("intensity: the training images' mean intensities do not vary")
    return lambda x: np.abs(mean_intensity(x) - mu) / sd


@scorer("intensity_low", "intensity-low-v1", "minus the mean intensity (darker = more OoD; unfitted)",
        fitted=False)
def fit_intensity_low(_train: np.ndarray | None, seed: int) -> ScoreFn:
    return lambda x: -mean_intensity(x)
