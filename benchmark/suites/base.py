"""What a suite is: training data, default models, presets, and how a trained model is scored."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from benchmark import plots
from benchmark.config.run_config import DataConfig, TrainConfig
from core.registry import Registry
from metrics import METRICS, PairedDistances
from models.base import BenchmarkModel, Representation


@dataclass(frozen=True)
class NoEvalParams:
    """The evaluation parameters of a suite that has none (ood): nothing to misspell."""


@dataclass(frozen=True)
class Preset:
    """Data sizes, image shape and training budget of one preset; ``None`` counts mean 'all'."""

    image_shape: tuple[int, int, int]
    train: TrainConfig
    z_dim: int
    seeds: tuple[int, ...]
    n_train: int | None = None
    n_val: int | None = None
    n_eval: int | None = None
    checkpoints: tuple[str, ...] = ("best", "last")
    representations: tuple[str, ...] = ("mean", "sample")
    #: Points of the GW diagnostic (data vs codes), recorded in every suite.
    n_gw: int = 500
    #: The suite's typed evaluation sizes and choices (e.g. DCI points and specs); hashed into the run id.
    eval_params: Any = field(default_factory=lambda: NoEvalParams())
    #: Per-model config overrides on top of ``z_dim`` and the suite's settings (model name -> nested dict).
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per-model training overrides (model name -> ``TrainConfig`` fields), e.g. a fixed epoch count where the
    #: official settings train a model for fixed epochs instead of stopping early.
    model_train: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Training steps at which weights are kept and scored by the suite's trajectory pass (``benchmark.run.budgets``);
    #: with the ``last`` checkpoint they trace the headline along the budget. Not hashed: scoring more budgets
    #: never retrains a run.
    budgets: tuple[int, ...] = ()


@dataclass
class EvalContext:
    model: BenchmarkModel
    data: dict[str, Any]
    representation: Representation
    device: torch.device
    batch_size: int
    seed: int
    run_dir: Path | None = None
    #: The suite's typed evaluation parameters (``Preset.eval_params``), read by attribute.
    params: Any = None
    #: Which weights are loaded (``best`` or ``last``): names per-checkpoint artifact files.
    checkpoint: str = "last"


@dataclass
class Scores:
    """What scoring one checkpoint and representation returns: metric rows, and beside them (typed, not on a
    row) the files it wrote in the run folder and the curves it drew. ``records`` stores them on the first
    row, the record format the leaderboard reads (``artifacts``, ``artifact_spec``, ``roc``)."""

    rows: list[dict[str, Any]]
    #: name -> file written in ``ctx.run_dir`` (e.g. an image grid); the leaderboard copies the best seed's.
    artifacts: dict[str, str] = field(default_factory=dict)
    artifact_spec: str | None = None
    #: Curves for the suite's plots, e.g. ``{"roc": {"fpr": [...], "tpr": [...]}}``.
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.rows]
        if rows:
            extra = {**self.curves, **({"artifacts": self.artifacts} if self.artifacts else {}),
                     **({"artifact_spec": self.artifact_spec} if self.artifact_spec else {})}
            rows[0].update(extra)
        return rows


@dataclass(frozen=True)
class Headline:
    """The metric, checkpoint and representation a suite leads with: the one place that says which records
    make its headline (launch lines, leaderboard, best seeds, summary, page). ``where``: further (field,
    value) pairs a headline record has, where a suite scores one metric several ways (ood: the scorer and
    the OoD set). Unpacks as (metric, checkpoint, representation)."""

    metric: str
    checkpoint: str
    representation: str
    where: tuple[tuple[str, str], ...] = ()

    def __iter__(self) -> Iterator[str]:
        return iter((self.metric, self.checkpoint, self.representation))

    def matches(self, record: Mapping[str, Any]) -> bool:
        return (tuple(self) == (record["metric"], record["checkpoint"], record["representation"])
                and all(record.get(k) == v for k, v in self.where))

    def select(self, records: pd.DataFrame) -> pd.DataFrame:
        keep = ((records.metric == self.metric) & (records.checkpoint == self.checkpoint)
                & (records.representation == self.representation))
        for key, value in self.where:
            keep &= (records[key] == value) if key in records else False
        return records[keep]


@dataclass(frozen=True)
class Trajectory:
    """How a suite scores a kept budget: a cheap pass that yields its headline metric (or a cheap spec of it,
    named in the metric), run with the weights at that step and the codes of ``encode_as``."""

    metric: str
    encode_as: Representation
    score: Callable[[EvalContext], Scores]
    #: Further (field, value) pairs of the records it traces (as ``Headline.where``).
    where: tuple[tuple[str, str], ...] = ()


def _no_params(_eval_params: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class MetricUse:
    """One line of a suite's metric list: a registered metric (``metrics.METRICS``) and its parameters, read
    from the suite's typed evaluation parameters (the seed is the run's evaluation seed, passed by the loop)."""

    name: str
    params: Callable[[Any], dict[str, Any]] = _no_params

    def __post_init__(self) -> None:
        METRICS.get(self.name)  # a misspelt metric fails where the suite is defined


def score_metrics(uses: Sequence[MetricUse], data: Any, ctx: EvalContext, common: Mapping[str, Any],
                  fast: bool = False) -> list[dict[str, Any]]:
    """The one scoring loop: every listed metric that takes ``data``'s type, through its registered signature
    (``fast``: the cheap variant of the trajectory pass; metrics without one are skipped), one record row per
    named score with ``common`` fields and what the metric cost (``metric_s``, for choosing counts)."""
    rows = []
    for use in uses:
        metric = METRICS.get(use.name)
        fn = metric.fast if fast else metric.score
        if fn is None or not isinstance(data, metric.takes):  # type: ignore[arg-type]
            continue
        start = time.perf_counter()
        scores = fn(data, seed=ctx.seed, **use.params(ctx.params))
        cost = {"metric_s": round(time.perf_counter() - start, 2)}
        rows += [{"metric": s.name, "value": float(s.value), "metric_spec": s.spec, **common, **cost, **s.extras}
                 for s in scores]
    return rows


def plot_metrics(uses: Sequence[MetricUse], records: pd.DataFrame, dest: Path,
                 titles: Mapping[str, str] | None = None) -> list[Path]:
    """A bar chart of every record name the listed metrics yield and ``records`` hold, unless a metric opts
    out (``Metric.unplotted``)."""
    present = set(records.metric.unique())
    names = sorted({n for use in uses for n in METRICS.get(use.name).plotted()} & present)
    return [plots.metric_bars(records, name, dest / f"{name}.png", (titles or {}).get(name)) for name in names]


@dataclass(frozen=True)
class CrossTable:
    """How the page crosses model configurations with scorers and evaluation sets (ood): the records'
    ``scorer`` and ``set_field`` name them; per set, the ranking under ``own`` is compared with each other
    scorer's. ``sets``: (name, kind, what it is) in display order; ``absent``: why a set may be missing."""

    metrics: tuple[str, ...]
    sets: tuple[tuple[str, str, str], ...]
    set_field: str = "ood_set"
    own: str = "own"
    absent: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    summary: str
    dataset: str
    models: tuple[str, ...]
    presets: dict[str, Preset]
    #: Loads the evaluation sets (validating files) of a run's data config and evaluation parameters: name -> dataset.
    load_eval_data: Callable[[DataConfig, Any, Path | None], dict[str, Any]]
    #: Scores one model at one checkpoint and representation: metric rows, artifacts and curves.
    evaluate: Callable[[EvalContext], Scores]
    #: Writes the suite's plots from its leaderboard records; returns the files written.
    plot: Callable[[pd.DataFrame, Path], list[Path]]
    #: The metric, checkpoint and representation that the summary table leads with.
    headline: Headline
    #: Evaluation set whose images (and their codes) feed the GW diagnostic.
    gw_set: str
    #: The headline along the training budget: plotted against steps, ranked per budget.
    trajectory: Trajectory
    #: Training dataset when the user gives a data root (the real data), if it differs.
    root_dataset: str | None = None
    #: The suite's hyperparameters of a model where they differ from its registry default, in every preset
    #: (model name -> nested config dict; e.g. the official settings' beta 0.1 for the beta-VAE); recorded in
    #: ``hparams``.
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Configurations run beside a model's default one (model name -> config overrides each), e.g. the
    #: ``fixed`` mode beside vaetc's ``paper`` mode; each is its own leaderboard row.
    variants: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    #: Other protocols the page ranks beside the headline (e.g. vaetc's PSNR on the last checkpoint).
    also_ranked: tuple[Headline, ...] = ()
    #: One sentence naming the protocol behind the headline and ``also_ranked``, shown on the page.
    protocol: str = ""
    #: Models x scorers x sets, where a suite scores every model several ways (ood).
    cross: CrossTable | None = None

    def train_dataset(self, from_root: bool) -> str:
        return self.root_dataset if (from_root and self.root_dataset) else self.dataset


SUITES: Registry[Suite] = Registry("suite")


def register(suite: Suite) -> Suite:
    """Add a suite to ``SUITES`` under its name, listed with its summary."""
    SUITES.add(suite.name, suite, suite.summary)
    return suite


def gw_diagnostic(ctx: EvalContext, dataset: Any, n: int) -> list[dict[str, Any]]:
    """How isometric the representation is: GW discrepancy between pixel and latent distances.

    Beyond the paper, and the same for every model: a seeded sample of ``n`` evaluation images,
    Euclidean distances in pixel space (at the model's input shape) and in code space, each
    scaled by its mean, compared by POT's GW solver and at the identity coupling.
    """
    sample = dataset.subset(min(n, len(dataset)), seed=ctx.seed)
    images = torch.cat(list(sample.batches(ctx.batch_size)))
    with torch.no_grad():
        codes = torch.cat([ctx.model.encode(x.to(ctx.device), ctx.representation).cpu()
                           for x in sample.batches(ctx.batch_size)])
    data = PairedDistances(images.flatten(1).double().numpy(), codes.double().numpy())
    return score_metrics((MetricUse("gw_distortion"),), data, ctx, {"eval_dataset": sample.name})


def batched_scores(fn: Callable[[Tensor], Tensor], dataset: Any, batch_size: int, device: torch.device) -> Tensor:
    """Apply ``fn`` to a dataset in sequential batches; one float64 CPU vector."""
    out = [fn(x.to(device)).double().cpu() for x in dataset.batches(batch_size)]
    return torch.cat(out)
