"""The metric registry: each metric function with its spec and the record names it yields, each with the
direction that wins. A metric registered without a direction for every name it yields fails at import,
so no name is ever ranked backwards; ``better`` refuses a name nobody declared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import BenchmarkError
from core.registry import Registry
from metrics.disentanglement import DCI_SPECS, MIG_SPEC, SAP_SPEC, dci, mig, sap
from metrics.dlib_scores import (
    BETA_VAE_SPEC,
    FACTOR_VAE_SPEC,
    IRS_SPEC,
    MODULARITY_SPEC,
    UNSUPERVISED_SPEC,
    beta_vae_score,
    factor_vae_score,
    irs,
    modularity_explicitness,
    unsupervised_scores,
)
from metrics.extractors import EXTRACTORS
from metrics.generation import fid_from_features, kid, psnr
from metrics.gw import gw_distortion
from metrics.ood import ood_metrics

Better = Literal["higher", "lower"]
HIGHER: Better = "higher"
LOWER: Better = "lower"

#: OoD metrics: OpenOOD conventions (OoD positive, higher score = more OoD). v2: AP named ``ap_*`` and
#: OpenOOD's trapezoid AUPR and drop-intermediate FPR@95 added as ``*_openood`` (metrics/ood.py).
OOD_SPEC = "ood@openood-v2"
#: GW distortion of a representation: POT's solvers on (optionally mean-normalized) distances, v1.
GW_SPEC = "gw@pot-v1"
#: Frechet distance of feature Gaussians (eigen route, float64); the extractor is appended: ``fid-v1@mnist-cnn-v1``.
FID_SPEC = "fid-v1"
#: KID: unbiased MMD^2, cubic polynomial kernel, averaged over random subsets (torch-fidelity's estimator).
KID_SPEC = "kid-v1"
#: PSNR: per-image 10 log10(1 / MSE) on [0, 1] images, MSE floored at 1e-10 (100 dB), averaged over images.
PSNR_SPEC = "psnr-v1/max=1,mse_floor=1e-10,mean_of_per_image"
#: Generation metrics are recorded per image set, and with a suffix for the Inception features beside a domain
#: extractor (``fid_samples_inception``).
IMAGE_SETS, INCEPTION_SUFFIX = ("samples", "recon"), "_inception"


@dataclass(frozen=True)
class Metric:
    """A metric function, its versioned spec, and the record name(s) it yields with the direction that wins."""

    fn: Callable[..., Any]
    spec: str
    yields: dict[str, Better]


def _check(name: str, metric: Metric) -> None:
    if not metric.yields:
        raise ValueError(f"metric {name!r} declares no record names")
    bad = {k: v for k, v in metric.yields.items() if v not in (HIGHER, LOWER)}
    if bad:
        raise ValueError(f"metric {name!r}: every record name needs a direction, 'higher' or 'lower'; got {bad}")


def _each(names: list[str], better: Better) -> dict[str, Better]:
    return dict.fromkeys(names, better)


def _per_set(prefix: str) -> list[str]:
    return [f"{prefix}_{s}{suffix}" for s in IMAGE_SETS for suffix in ("", INCEPTION_SUFFIX)]


METRICS: Registry[Metric] = Registry("metric", check=_check)
METRICS.add("ood", Metric(ood_metrics, OOD_SPEC, {
    **_each(["auroc", "ap_in", "ap_out", "aupr_in_openood", "aupr_out_openood"], HIGHER),
    **_each(["fpr95", "fpr95_openood"], LOWER)}),
    f"{OOD_SPEC}: AUROC, AP-in/out, FPR@95%TPR, and OpenOOD's trapezoid AUPR-in/out and FPR@95 (*_openood) "
    "(OoD positive)")
METRICS.add("gw_distortion", Metric(gw_distortion, GW_SPEC, _each(["gw_distortion", "gw_identity_distortion"], LOWER)),
            f"{GW_SPEC}: Gromov-Wasserstein discrepancy and identity-coupling distortion between data and codes")
METRICS.add("dci", Metric(dci, ", ".join(DCI_SPECS.values()), _each(
    [f"dci_{s}_{m}" for s in DCI_SPECS for m in ("disentanglement", "completeness", "informativeness")], HIGHER)),
    "disentanglement, completeness, informativeness of codes vs discrete factors; specs "
    + ", ".join(f"{k}={v}" for k, v in DCI_SPECS.items())
    + " (dlib: disentanglement_lib GBT; vaetc: GWAE authors' RF; fast: subsampled estimate of dlib)")
METRICS.add("mig", Metric(mig, MIG_SPEC, {"mig": HIGHER}),
            f"{MIG_SPEC}: mutual information gap, 20-bin histogram codes (disentanglement_lib)")
METRICS.add("fid", Metric(fid_from_features, FID_SPEC, _each(_per_set("fid"), LOWER)),
            f"{FID_SPEC}: Frechet distance of two feature sets' Gaussian fits (float64, eigen-decomposition matrix "
            "square root); extractors: " + ", ".join(EXTRACTORS.names()))
METRICS.add("kid", Metric(kid, KID_SPEC, _each(_per_set("kid"), LOWER)),
            f"{KID_SPEC}: kernel Inception distance, 100 subsets of <= 1,000 points, (x.y/d + 1)^3")
METRICS.add("psnr", Metric(psnr, PSNR_SPEC, {"psnr": HIGHER}),
            f"{PSNR_SPEC}: mean per-image PSNR of reconstructions, images in [0, 1]")
METRICS.add("sap", Metric(sap, SAP_SPEC, {"sap": HIGHER}),
            f"{SAP_SPEC}: SAP score, 1-D LinearSVC(C=0.01) accuracy gap (disentanglement_lib)")
METRICS.add("beta_vae_score", Metric(beta_vae_score, BETA_VAE_SPEC, {"beta_vae_score": HIGHER}),
            f"{BETA_VAE_SPEC}: logistic-regression accuracy of the fixed factor from mean |code differences| of "
            "batch pairs (interventional: factor sampler + representation function)")
METRICS.add("factor_vae_score", Metric(factor_vae_score, FACTOR_VAE_SPEC, {"factor_vae_score": HIGHER}),
            f"{FACTOR_VAE_SPEC}: majority-vote accuracy of the fixed factor from the least-variance std-scaled code "
            "dim, collapsed dims pruned (interventional)")
METRICS.add("modularity_explicitness", Metric(modularity_explicitness, MODULARITY_SPEC, _each(
    ["modularity", "explicitness"], HIGHER)),
    f"{MODULARITY_SPEC}: Ridgeway & Mozer modularity (20-bin MI) and explicitness (logistic-regression ROC-AUC)")
METRICS.add("irs", Metric(irs, IRS_SPEC, {"irs": HIGHER}),
            f"{IRS_SPEC}: interventional robustness score (Suter et al.), 0.99 quantile")
METRICS.add("unsupervised", Metric(unsupervised_scores, UNSUPERVISED_SPEC, _each(
    ["gaussian_total_correlation", "gaussian_wasserstein_correlation", "gaussian_wasserstein_correlation_norm",
     "mutual_info_score"], LOWER)),
    f"{UNSUPERVISED_SPEC}: Gaussian total correlation, Gaussian Wasserstein dependency and mean pairwise MI of the "
    "code dims (lower = more independent)")

#: Record name -> the direction that wins, over every registered metric.
DIRECTIONS: dict[str, Better] = {name: d for entry in METRICS for name, d in entry.obj.yields.items()}
LOWER_IS_BETTER = frozenset(name for name, d in DIRECTIONS.items() if d == LOWER)


def better(name: str) -> Better:
    """Which direction wins for a record's metric name; an undeclared name is an error, never a guess."""
    try:
        return DIRECTIONS[name]
    except KeyError:
        raise BenchmarkError(f"metric {name!r} is not declared by any registered metric (metrics/registry.py): "
                             "its direction is unknown") from None
