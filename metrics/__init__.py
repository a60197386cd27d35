"""Evaluation metrics: pure functions of score/feature arrays.

Metrics never import models or the trainer, so they can be tested against reference
implementations on synthetic arrays and reused on saved scores. Each family exports its
functions and a ``*_SPEC`` string, recorded with every number it produces, that changes
whenever a definition changes.
"""

from core.registry import Registry
from metrics.disentanglement import DCI_SPECS, MIG_SPEC, SAP_SPEC, dci, dci_matrix_scores, mig, sap
from metrics.dlib_scores import (
    BETA_VAE_SPEC,
    FACTOR_VAE_SPEC,
    IRS_SPEC,
    MODULARITY_SPEC,
    UNSUPERVISED_SPEC,
    GridFactorSampler,
    beta_vae_score,
    factor_vae_score,
    irs,
    modularity_explicitness,
    unsupervised_scores,
)
from metrics.extractors import EXTRACTORS, build_extractor
from metrics.generation import feature_statistics, fid_from_features, frechet_distance, kid, psnr, psnr_per_image
from metrics.gw import gw_distortion
from metrics.ood import ood_metrics, roc_curve

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

#: Metric names (as in records) for which a smaller value is better; every other metric ranks higher-is-better.
LOWER_IS_BETTER = frozenset({
    "fpr95", "fpr95_openood", "gw_distortion", "gw_identity_distortion",
    "fid_samples", "fid_recon", "kid_samples", "kid_recon",
    "fid_samples_inception", "fid_recon_inception", "kid_samples_inception", "kid_recon_inception",
    # disentanglement_lib's unsupervised scores: dependence between code dims
    "gaussian_total_correlation", "gaussian_wasserstein_correlation", "gaussian_wasserstein_correlation_norm",
    "mutual_info_score",
})

METRICS: Registry = Registry("metric")
METRICS.add("ood", ood_metrics, f"{OOD_SPEC}: AUROC, AP-in/out, FPR@95%TPR, and OpenOOD's trapezoid AUPR-in/out "
            "and FPR@95 (*_openood) (OoD positive)")
METRICS.add(
    "gw_distortion",
    gw_distortion,
    f"{GW_SPEC}: Gromov-Wasserstein discrepancy and identity-coupling distortion between data and codes",
)
METRICS.add(
    "dci",
    dci,
    "disentanglement, completeness, informativeness of codes vs discrete factors; specs "
    + ", ".join(f"{k}={v}" for k, v in DCI_SPECS.items())
    + " (dlib: disentanglement_lib GBT; vaetc: GWAE authors' RF; fast: subsampled estimate of dlib)",
)
METRICS.add("mig", mig, f"{MIG_SPEC}: mutual information gap, 20-bin histogram codes (disentanglement_lib)")
METRICS.add("fid", fid_from_features, f"{FID_SPEC}: Frechet distance of two feature sets' Gaussian fits "
            "(float64, eigen-decomposition matrix square root); extractors: " + ", ".join(EXTRACTORS.names()))
METRICS.add("kid", kid, f"{KID_SPEC}: kernel Inception distance, 100 subsets of <= 1,000 points, (x.y/d + 1)^3")
METRICS.add("psnr", psnr, f"{PSNR_SPEC}: mean per-image PSNR of reconstructions, images in [0, 1]")
METRICS.add("sap", sap, f"{SAP_SPEC}: SAP score, 1-D LinearSVC(C=0.01) accuracy gap (disentanglement_lib)")
METRICS.add("beta_vae_score", beta_vae_score, f"{BETA_VAE_SPEC}: logistic-regression accuracy of the fixed factor "
            "from mean |code differences| of batch pairs (interventional: factor sampler + representation function)")
METRICS.add("factor_vae_score", factor_vae_score, f"{FACTOR_VAE_SPEC}: majority-vote accuracy of the fixed factor "
            "from the least-variance std-scaled code dim, collapsed dims pruned (interventional)")
METRICS.add("modularity_explicitness", modularity_explicitness, f"{MODULARITY_SPEC}: Ridgeway & Mozer modularity "
            "(20-bin MI) and explicitness (logistic-regression ROC-AUC)")
METRICS.add("irs", irs, f"{IRS_SPEC}: interventional robustness score (Suter et al.), 0.99 quantile")
METRICS.add("unsupervised", unsupervised_scores, f"{UNSUPERVISED_SPEC}: Gaussian total correlation, Gaussian "
            "Wasserstein dependency and mean pairwise MI of the code dims (lower = more independent)")

__all__ = [
    "BETA_VAE_SPEC",
    "FACTOR_VAE_SPEC",
    "IRS_SPEC",
    "MODULARITY_SPEC",
    "UNSUPERVISED_SPEC",
    "GridFactorSampler",
    "beta_vae_score",
    "factor_vae_score",
    "irs",
    "modularity_explicitness",
    "unsupervised_scores",
    "DCI_SPECS",
    "EXTRACTORS",
    "FID_SPEC",
    "KID_SPEC",
    "PSNR_SPEC",
    "build_extractor",
    "feature_statistics",
    "fid_from_features",
    "frechet_distance",
    "kid",
    "psnr",
    "psnr_per_image",
    "GW_SPEC",
    "LOWER_IS_BETTER",
    "METRICS",
    "MIG_SPEC",
    "OOD_SPEC",
    "SAP_SPEC",
    "dci",
    "dci_matrix_scores",
    "gw_distortion",
    "mig",
    "ood_metrics",
    "roc_curve",
    "sap",
]
