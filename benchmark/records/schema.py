"""The record schema: the fields that describe a run, those that say how a score was taken, and ``upgrade``.

A record is one score with its run's description beside it (``RunInfo``), so leaderboards are rebuilt from
records alone. Records written by older versions lack fields added since; ``upgrade`` is the one place
that says what such a record stands for, and every reader gets records through it (``records.io``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: What tells configurations apart in every table: seeds of one configuration are pooled, never across them.
CONFIG_KEYS = ("model", "prior", "mode", "hparams")
#: How a score was taken: which weights, at which point of training, with which codes, and when.
EVAL_FIELDS = ("checkpoint", "checkpoint_epoch", "step", "representation", "budget_scoring", "eval_wall_s",
               "timestamp")
#: Fields a record must have: without them a row would be wrong (e.g. seeds pooled under another prior).
REQUIRED = ("run_id", "suite", "model", "prior", "seed", "dataset", "checkpoint", "representation", "metric", "value")
#: Fields added after the first records were written, and what an older record stands for.
DEFAULTS: dict[str, Any] = {"mode": "-", "hparams": "-", "eval_dataset": "-", "preset": "-", "wall_s": float("nan"),
                            "hardware_summary": "unknown", "versions": {}, "eval_wall_s": 0.0,
                            "precision": "fp32"}


@dataclass(frozen=True)
class RunInfo:
    """The fields of a run's records that describe the run, not one score: budget records copy them."""

    run_id: str
    suite: str
    preset: str
    model: str
    #: Where the model's code comes from: ``gwae-bench <version>`` for a built-in, ``<dist> <version>`` for a plugin
    #: (``core.plugins``). Records from before it lack it and are left so (no reader needs it; they were built-ins).
    model_source: str
    prior: str
    mode: str
    hparams: str
    #: ``fp32`` or ``bf16`` (``TrainConfig.precision``); records from before the option ran fp32.
    precision: str
    dataset: str
    seed: int
    eval_seed: int
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    data_config: dict[str, Any]
    epochs: int
    best_epoch: int
    stopped_early: bool
    steps: int
    wall_s: float
    peak_rss_mb: float
    peak_cuda_mb: float
    versions: dict[str, Any]
    hardware: dict[str, Any]
    hardware_summary: str

    @classmethod
    def of(cls, run: Any, result: Any, versions: dict[str, Any], hardware: dict[str, Any], summary: str,
           source: str) -> RunInfo:
        """From a ``RunConfig`` and its ``TrainResult`` (typed loosely: records sit below both)."""
        resolved = run.to_dict()
        return cls(
            run.run_id, run.suite, run.preset, run.model, source, run.labels.prior, run.labels.mode, run.labels.hparams,
            run.train.precision, run.data.dataset, run.seed, run.eval.eval_seed, resolved["model_config"],
            resolved["train"], resolved["data"], result.epochs, result.best_epoch, result.stopped_early, result.steps,
            round(result.wall_s, 2), round(result.peak_rss_mb, 1), round(result.peak_cuda_mb, 1), versions, hardware,
            summary)

    def fields(self) -> dict[str, Any]:
        return asdict(self)


RUN_FIELDS = tuple(f.name for f in fields(RunInfo))


def run_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The run's description on one of its records (what a budget record copies)."""
    return {k: record[k] for k in RUN_FIELDS if k in record}


def record(run: dict[str, Any], evaluation: dict[str, Any], score: dict[str, Any]) -> dict[str, Any]:
    """One record: the run's fields, how the score was taken (``EVAL_FIELDS`` only), then the score's fields."""
    unknown = sorted(set(evaluation) - set(EVAL_FIELDS))
    if unknown:
        raise ValueError(f"not evaluation fields: {', '.join(unknown)}")
    return {**run, **evaluation, **score}


def schema_problem(records: list[dict[str, Any]]) -> str:
    """Why these records cannot be aggregated ('' if they can)."""
    for n, record in enumerate(records, 1):
        missing = [f for f in REQUIRED if record.get(f) is None]
        if missing:
            return f"record {n} has no {missing[0]!r} field (an older or damaged schema)"
        if isinstance(record["value"], bool) or not isinstance(record["value"], int | float):
            return f"record {n}: value {record['value']!r} is not a number"
    return ""


#: The model of model-free reference rows (ood: scores of the pixels alone), scored alike by every run of a preset
#: and seed: readers keep one of each (``drop_repeated_references``).
REFERENCE_MODEL = "reference"
#: What an ood score from before the scorer and OoD-set axes stands for: the model's own scorer on Omniglot
#: inverted to white on black (then the only set, named ``omniglot``).
OLD_OOD_SET = ("mnist-test vs omniglot", "mnist-test vs omniglot-inverted", "omniglot-inverted", "near")


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A record of any earlier format in today's: absent fields get what an older record stands for (a record
    without ``metric_spec`` used the metric's only spec; one without ``step``/``checkpoint_epoch`` was scored at
    the step its checkpoint was saved; an ood score without ``scorer_spec`` is the model's own scorer, then named
    in ``scorer``, on the inverted Omniglot). A current record comes back equal."""
    out = {**record, **{k: v for k, v in DEFAULTS.items() if record.get(k) is None}}
    if out.get("suite") == "ood" and out.get("scorer") is not None and out.get("scorer_spec") is None:
        old, new, ood_set, kind = OLD_OOD_SET
        out.update(scorer="own", scorer_spec=f"own:{out['scorer']}", ood_set=ood_set, ood_kind=kind,
                   eval_dataset=new if out["eval_dataset"] == old else out["eval_dataset"])
    if out.get("metric_spec") is None and "metric" in out:
        out["metric_spec"] = out["metric"]
    epochs, best, steps = out.get("epochs"), out.get("best_epoch"), out.get("steps")
    if out.get("checkpoint") in ("best", "last") and out.get("checkpoint_epoch") is None and epochs is not None:
        out["checkpoint_epoch"] = best if out["checkpoint"] == "best" else epochs
    epoch = out.get("checkpoint_epoch")
    if out.get("step") is None and steps is not None and epochs is not None and epoch is not None:
        out["step"] = round(steps * epoch / max(epochs, 1))  # as the runner computes it: epochs are whole
    return out


def drop_repeated_references(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with one copy of each reference score: every run of a (suite, preset, seed) scores the same
    model-free rows, so pooling them would count a seed once per model."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for r in records:
        if r.get("model") == REFERENCE_MODEL:
            key = tuple(str(r.get(k)) for k in ("suite", "preset", "seed", "eval_seed", "eval_dataset", "scorer_spec",
                                                "metric", "metric_spec"))
            if key in seen:
                continue
            seen.add(key)
        out.append(r)
    return out
