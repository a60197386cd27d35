"""The one metric signature: ``score(eval_set, seed=..., **params) -> list[Score]``.

A metric registers where it is defined (``@metric(...)`` above its wrapper), so adding one is one module
plus one line in a suite. The wrapper takes the suite's evaluation set (a dataclass of arrays below, never
a model or a dataset object), calls the module's pure function and names what it returns: each ``Score``
carries its record name, value and spec (every parameter that shaped it but the seed), so suites never
rename outputs by hand. A metric registered without a direction for every record name fails at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

import numpy as np

from core.registry import Registry

Better = Literal["higher", "lower"]
HIGHER: Better = "higher"
LOWER: Better = "lower"


# ----------------------------------------------------------------------------- evaluation sets


@dataclass(frozen=True)
class FactorCodes:
    """Disentanglement: codes and discrete factors of a train and a test set, and for the interventional
    scores a factor sampler and a representation function (factors -> codes of images with those factors)."""

    codes_train: np.ndarray
    factors_train: np.ndarray
    codes_test: np.ndarray
    factors_test: np.ndarray
    #: The points' set, named in the records of metrics that draw their own points (``chosen factors``).
    name: str = ""
    sample_factors: Callable[[int, np.random.RandomState], np.ndarray] | None = None
    represent: Callable[[np.ndarray], Any] | None = None


@dataclass(frozen=True)
class OodScores:
    """OoD detection: per-sample scores of in-distribution and OoD inputs (higher = more OoD)."""

    id_scores: np.ndarray
    ood_scores: np.ndarray
    #: What produced the scores, with its parameters (``metrics.scorers.scorer_spec``): named in the spec.
    scorer: str = ""


@dataclass(frozen=True)
class FeatureSets:
    """Generation: extractor features of real images and of one generated set (``kind``: ``samples`` or
    ``recon``), with what shaped them: the extractor's spec, the resize, the quantization; ``suffix`` tells a
    second extractor's record names apart (``_inception``)."""

    real: np.ndarray
    fake: np.ndarray
    kind: str
    extractor: str
    resize: str = "none"
    quantize: str = "uint8"
    suffix: str = ""


@dataclass(frozen=True)
class Reconstructions:
    """Generation: the per-image PSNR of reconstructions (computed batch by batch, so images need not be kept)."""

    per_image_psnr: np.ndarray


@dataclass(frozen=True)
class PairedDistances:
    """GW diagnostic: the same points in data space and in code space, one row per point."""

    data: np.ndarray
    codes: np.ndarray


# ----------------------------------------------------------------------------- scores and registration


@dataclass(frozen=True)
class Score:
    """One named output of a metric: the record's ``metric``, ``value`` and ``metric_spec``, plus extras
    (e.g. ``train_accuracy``) that go on the same record."""

    name: str
    value: float
    spec: str
    extras: dict[str, Any] = field(default_factory=dict)


ScoreFn = Callable[..., list[Score]]


@dataclass(frozen=True)
class Metric:
    """A registered metric: the pure function it wraps, its versioned spec, the record names it yields with
    the direction that wins, and the signature wrapper (``score``) with an optional cheap one for trajectories.

    ``reference`` holds the counts of the metric's reference implementation: a spec with a smaller count is
    marked ``reduced`` (``mark_reduced``), because fewer points bias these scores, not only widen them.
    """

    fn: Callable[..., Any]
    spec: str
    yields: dict[str, Better]
    score: ScoreFn | None = None
    #: The evaluation-set type ``score`` takes: a suite calls it on its sets of that type.
    takes: type | None = None
    fast: ScoreFn | None = None
    reference: Mapping[str, int] = field(default_factory=dict)
    #: Record names that a suite's plot step leaves out (it draws a bar chart of every other one).
    unplotted: tuple[str, ...] = ()

    def plotted(self) -> list[str]:
        return [name for name in self.yields if name not in self.unplotted]


def _check(name: str, metric: Metric) -> None:
    if not metric.yields:
        raise ValueError(f"metric {name!r} declares no record names")
    bad = {k: v for k, v in metric.yields.items() if v not in (HIGHER, LOWER)}
    if bad:
        raise ValueError(f"metric {name!r}: every record name needs a direction, 'higher' or 'lower'; got {bad}")


METRICS: Registry[Metric] = Registry("metric", check=_check)


def each(names: list[str], better: Better) -> dict[str, Better]:
    return dict.fromkeys(names, better)


def metric(name: str, fn: Callable[..., Any], spec: str, yields: dict[str, Better], summary: str, *,
           fast: ScoreFn | None = None, cheap: bool = False, reference: Mapping[str, int] | None = None,
           unplotted: tuple[str, ...] = ()) -> Callable[[ScoreFn], ScoreFn]:
    """Register the decorated wrapper as metric ``name``. ``fast`` is its cheap variant for trajectories;
    ``cheap`` says the metric itself is cheap enough to be its own."""

    def register(score: ScoreFn) -> ScoreFn:
        variant = score if cheap else fast
        takes = get_type_hints(score)["data"]
        METRICS.add(name, Metric(fn, spec, yields, score, takes, variant, dict(reference or {}), unplotted), summary)
        return score

    return register


def tag(spec: str, params: Mapping[str, Any]) -> str:
    """The versioned spec id with every parameter that shaped the number but the seed.

    The seed is the run's evaluation seed, stored in every record as ``eval_seed``; leaving it
    out of the spec is what lets the leaderboard pool one protocol across seeds.
    """
    return f"{spec}/" + ",".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "seed")


def tagged(out: Mapping[str, Any]) -> str:
    """``tag`` of a pure function's output (``spec`` and ``params``), marked if below its reference counts."""
    return mark_reduced(tag(out["spec"], out["params"]))


# ----------------------------------------------------------------------------- reduced counts

REDUCED = "reduced"


def _params(spec: str) -> dict[str, str]:
    parts = spec.split("/")
    return dict(p.split("=", 1) for p in parts[1].split(",") if "=" in p) if len(parts) > 1 else {}


def below_reference(spec: str) -> dict[str, int]:
    """Reference counts that a tagged spec's counts fall below (``{}`` for a spec at or above them)."""
    base = spec.split("/", 1)[0]
    for entry in METRICS:
        if entry.obj.spec == base and entry.obj.reference:
            params = _params(spec)
            return {k: ref for k, ref in entry.obj.reference.items() if k in params and int(params[k]) < ref}
    return {}


def mark_reduced(spec: str) -> str:
    """A spec below its metric's reference counts, marked so (``.../reduced=reference num_eval=5000,...``):
    applied when a metric scores and again when records are read, so older records are marked alike."""
    if f"/{REDUCED}=" in spec:
        return spec
    below = below_reference(spec)
    if not below:
        return spec
    return f"{spec}/{REDUCED}=reference " + ",".join(f"{k}={v}" for k, v in sorted(below.items()))


def reduced_note(specs: Iterable[str]) -> str:
    """What a page or plot says of specs below their reference's counts (``""`` where none is)."""
    below = {k: v for spec in set(specs) for k, v in below_reference(spec).items()}
    if not below:
        return ""
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(below.items()))
    return f"below the reference counts ({counts}): biased, not comparable with published values"
