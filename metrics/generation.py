"""Generation and reconstruction metrics from arrays: Frechet distance (FID), KID, PSNR.

FID and KID compare two sets of *features* (computed by an extractor from ``metrics.extractors``);
they never see images or models here, so the same functions serve Inception and domain features
and are tested against closed forms and scipy on synthetic Gaussians.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from metrics.base import HIGHER, LOWER, FeatureSets, Reconstructions, Score, each, metric
from metrics.extractors import EXTRACTORS

#: Per-image MSE floor of ``psnr``: a perfect reconstruction scores 100 dB instead of +inf.
PSNR_MSE_FLOOR = 1e-10
KID_SUBSETS, KID_SUBSET_SIZE, KID_DEGREE = 100, 1000, 3  # torch-fidelity's defaults
#: Frechet distance of feature Gaussians (eigen route, float64); the extractor is appended: ``fid-v1@mnist-cnn-v1``.
FID_SPEC = "fid-v1"
#: KID: unbiased MMD^2, cubic polynomial kernel, averaged over random subsets (torch-fidelity's estimator).
KID_SPEC = "kid-v1"
#: PSNR: per-image 10 log10(1 / MSE) on [0, 1] images, MSE floored at 1e-10 (100 dB), averaged over images.
PSNR_SPEC = "psnr-v1/max=1,mse_floor=1e-10,mean_of_per_image"
#: Generation metrics are recorded per image set, and with a suffix for the Inception features beside a domain
#: extractor (``fid_samples_inception``).
IMAGE_SETS, INCEPTION_SUFFIX = ("samples", "recon"), "_inception"


def _vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D mean vector, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite entries")
    return arr


def _covariance(values: ArrayLike, name: str, d: int) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (d, d):
        raise ValueError(f"{name} must be a ({d}, {d}) covariance matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite entries")
    scale = max(float(np.abs(arr).max()), 1.0)
    if not np.allclose(arr, arr.T, rtol=0.0, atol=1e-8 * scale):
        raise ValueError(f"{name} is not symmetric")
    return (arr + arr.T) / 2


def _psd_sqrt(sigma: NDArray[np.float64]) -> NDArray[np.float64]:
    """Symmetric square root of a symmetric PSD matrix; round-off negative eigenvalues count as 0."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})``. The trace term is computed as
    ``sum sqrt(eig(R S2 R))`` with ``R = S1^{1/2}``: ``S1 S2`` and ``R S2 R`` have the same
    eigenvalues, and ``R S2 R`` is symmetric PSD, so ``eigh`` applies, every eigenvalue is real and
    the round-off negatives (true zeros of a singular covariance, e.g. fewer samples than feature
    dimensions) are clipped to 0. ``scipy.linalg.sqrtm(S1 @ S2)`` of the non-symmetric product
    (pytorch-fid's route) can instead return complex parts that must be discarded by a tolerance, and
    needs an epsilon retry when the product is singular; the eigen route needs neither. A result a
    few ulps below 0 (equal Gaussians) is returned as 0.
    """
    m1 = _vector(mu1, "mu1")
    m2 = _vector(mu2, "mu2")
    if m1.shape != m2.shape:
        raise ValueError(f"mu1 and mu2 differ in length: {m1.size} vs {m2.size}")
    s1 = _covariance(sigma1, "sigma1", m1.size)
    s2 = _covariance(sigma2, "sigma2", m1.size)
    root = _psd_sqrt(s1)
    inner = root @ s2 @ root
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = m1 - m2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def _features(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be (N >= 2, D >= 1) features, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite features")
    return arr


def feature_statistics(features: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and unbiased (N - 1) covariance of (N, D) features, in float64 (pytorch-fid's convention)."""
    arr = _features(features, "features")
    return arr.mean(axis=0), np.atleast_2d(np.cov(arr, rowvar=False))


def fid_from_features(real: ArrayLike, fake: ArrayLike) -> float:
    """FID of two feature sets: the Frechet distance of their Gaussian fits."""
    r, f = _features(real, "real features"), _features(fake, "fake features")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sizes differ: {r.shape[1]} vs {f.shape[1]}")
    return frechet_distance(*feature_statistics(r), *feature_statistics(f))


def kid(
    real: ArrayLike,
    fake: ArrayLike,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    degree: int = KID_DEGREE,
    seed: int = 0,
) -> dict[str, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the kernel (x.y / D + 1)^degree.

    Averaged over ``subsets`` random subsets of ``min(subset_size, N_real, N_fake)`` points of each
    side (drawn without replacement, generator seeded with ``seed``), as torch-fidelity; returns the
    mean, the standard deviation over subsets and the subset size actually used.
    """
    r, f = _features(real, "real features"), _features(fake, "fake features")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sizes differ: {r.shape[1]} vs {f.shape[1]}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    m = min(subset_size, len(r), len(f))
    d = r.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = r[rng.choice(len(r), m, replace=False)]
        y = f[rng.choice(len(f), m, replace=False)]
        kxx = (x @ x.T / d + 1.0) ** degree
        kyy = (y @ y.T / d + 1.0) ** degree
        kxy = (x @ y.T / d + 1.0) ** degree
        off = m * (m - 1)
        values[i] = ((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off
                     - 2.0 * kxy.mean())
    return {"kid": float(values.mean()), "kid_std": float(values.std()), "subset_size": m, "subsets": subsets}


def psnr_per_image(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """PSNR of each image pair, images in [0, 1]: ``10 log10(1 / max(MSE, PSNR_MSE_FLOOR))``.

    The MSE is over every pixel and channel of an image. The floor makes a perfect reconstruction
    score ``10 log10(1 / 1e-10) = 100`` dB instead of +inf, so one exact copy cannot make a mean infinite.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(f"x and y must be non-empty image batches of one shape, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("images have non-finite values")
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
    mse = ((a - b) ** 2).reshape(a.shape[0], -1).mean(axis=1)
    return 10.0 * np.log10(1.0 / np.maximum(mse, PSNR_MSE_FLOOR))


def psnr(x: ArrayLike, y: ArrayLike) -> float:
    """Mean over images of the per-image PSNR (``psnr_per_image``), in dB; images in [0, 1]."""
    return float(psnr_per_image(x, y).mean())


# ----------------------------------------------------------------------------- registered signature


def _per_set(prefix: str) -> list[str]:
    return [f"{prefix}_{s}{suffix}" for s in IMAGE_SETS for suffix in ("", INCEPTION_SUFFIX)]


def _tail(data: FeatureSets) -> str:
    return f"n_real={len(data.real)},n_fake={len(data.fake)},resize={data.resize},quantize={data.quantize}"


@metric("fid", fid_from_features, FID_SPEC, each(_per_set("fid"), LOWER),
        f"{FID_SPEC}: Frechet distance of two feature sets' Gaussian fits (float64, eigen-decomposition matrix "
        "square root); extractors: " + ", ".join(EXTRACTORS.names()), cheap=True)
def fid_scores(data: FeatureSets, seed: int) -> list[Score]:
    spec = f"{FID_SPEC}@{data.extractor}/{_tail(data)}"
    return [Score(f"fid_{data.kind}{data.suffix}", fid_from_features(data.real, data.fake), spec)]


@metric("kid", kid, KID_SPEC, each(_per_set("kid"), LOWER),
        f"{KID_SPEC}: kernel Inception distance, 100 subsets of <= 1,000 points, (x.y/d + 1)^3", cheap=True,
        unplotted=tuple(_per_set("kid")))
def kid_scores(data: FeatureSets, seed: int, subsets: int = KID_SUBSETS,
               subset_size: int = KID_SUBSET_SIZE) -> list[Score]:
    k = kid(data.real, data.fake, subsets=subsets, subset_size=subset_size, seed=seed)
    spec = f"{KID_SPEC}@{data.extractor}/subsets={k['subsets']},subset_size={k['subset_size']},degree=3,{_tail(data)}"
    return [Score(f"kid_{data.kind}{data.suffix}", k["kid"], spec, {"kid_std": k["kid_std"]})]


@metric("psnr", psnr, PSNR_SPEC, {"psnr": HIGHER},
        f"{PSNR_SPEC}: mean per-image PSNR of reconstructions, images in [0, 1]", cheap=True)
def psnr_scores(data: Reconstructions, seed: int) -> list[Score]:
    values = data.per_image_psnr
    return [Score("psnr", float(values.mean()), f"{PSNR_SPEC}/n={len(values)}",
                  {"n_eval": len(values), "psnr_std": float(values.std())})]
