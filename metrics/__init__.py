"""Evaluation metrics: pure functions of score/feature arrays.

Metrics never import models or the trainer, so they can be tested against reference
implementations on synthetic arrays and reused on saved scores. Each family exports its
functions and a ``*_SPEC`` string, recorded with every number it produces, that changes
whenever a definition changes.
"""

from benchmark.registry import Registry
from metrics.ood import ood_metrics, roc_curve

#: OoD metrics: OpenOOD conventions (OoD positive, higher score = more OoD), v1 of our code.
OOD_SPEC = "ood@openood-v1"

METRICS: Registry = Registry("metric")
METRICS.add("ood", ood_metrics, f"{OOD_SPEC}: AUROC, AUPR-in, AUPR-out, FPR@95%TPR (OoD positive)")

__all__ = ["METRICS", "OOD_SPEC", "ood_metrics", "roc_curve"]
