"""Evaluation metrics: pure functions of score/feature arrays.

Metrics never import models or the trainer, so they can be tested against reference
implementations on synthetic arrays and reused on saved scores. Each family exports its
functions and a ``*_SPEC`` string, recorded with every number it produces, that changes
whenever a definition changes, and registers its metrics under the one signature of ``metrics.base``.
"""

from metrics.base import (
    FactorCodes,
    FeatureSets,
    OodScores,
    PairedDistances,
    Reconstructions,
    Score,
    below_reference,
    mark_reduced,
    reduced_note,
)
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
from metrics.registry import (
    FID_SPEC,
    GW_SPEC,
    INCEPTION_SUFFIX,
    KID_SPEC,
    LOWER_IS_BETTER,
    METRICS,
    OOD_SPEC,
    PSNR_SPEC,
    Metric,
    better,
)

__all__ = [
    "FactorCodes",
    "FeatureSets",
    "OodScores",
    "PairedDistances",
    "Reconstructions",
    "Score",
    "below_reference",
    "mark_reduced",
    "reduced_note",
    "INCEPTION_SUFFIX",
    "Metric",
    "better",
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
