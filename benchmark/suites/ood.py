"""OoD suite (clustering meta-prior): train on MNIST, detect Omniglot as out-of-distribution.

Protocol (docs/suite-ood.md; scores: docs/method.md, "Scores"): ID = MNIST test, OoD = Omniglot,
labels ID 0 / OoD 1, each model scored by its own scorer (GWAE: critic potential f(G(z), z);
VAE: prior NLL of z; DAGMM: energy). Deviations, each recorded: Omniglot is inverted to white-on-black
(the official code does not invert, which makes the task trivially about background colour), and both checkpoints
(best and last) and both representations (mean and sampled z) are scored; the official numbers
correspond to ``checkpoint=last, representation=sample``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchmark import plots
from benchmark.config.run_config import DataConfig, TrainConfig
from benchmark.data import load_dataset
from benchmark.suites.base import (
    EvalContext,
    Headline,
    MetricUse,
    Preset,
    Scores,
    Suite,
    Trajectory,
    batched_scores,
    plot_metrics,
    register,
    score_metrics,
)
from metrics import OodScores, roc_curve

ID_SET, OOD_SET = "mnist-test", "omniglot"
#: The suite's metrics: every OoD metric of one scorer's ID and OoD scores.
METRICS = (MetricUse("ood"),)

PRESETS = {
    # A few steps of every model, for tests and a first look; numbers mean nothing.
    "smoke": Preset(
        image_shape=(1, 28, 28), z_dim=8, seeds=(0,), n_train=512, n_val=128, n_eval=256, n_gw=128,
        train=TrainConfig(batch_size=64, max_epochs=2, patience=2, steps_per_epoch=4),
    ),
    # The whole suite in about an hour on 2 CPU cores: every model gets the same 1,500-step budget (epochs of 150 steps,
    # early stopping with patience 3); z_dim 16 is our choice; AUROC also at 375, 750 and 1,125 steps (sampled z), which
    # with the last checkpoint traces it along the budget.
    "default": Preset(
        image_shape=(1, 28, 28), z_dim=16, seeds=(0, 1, 2), n_train=None, n_val=2048, n_eval=None,
        train=TrainConfig(batch_size=64, max_epochs=10, patience=3, steps_per_epoch=150),
        budgets=(375, 750, 1125),
    ),
    # Official settings: 3x64x64 images, batch 64, early stopping with patience 10, full splits; z_dim 16 and K = 10
    # mixture components are our choice (not retrievable).
    "paper": Preset(
        image_shape=(3, 64, 64), z_dim=16, seeds=(0, 1, 2), n_train=None, n_val=None, n_eval=None,
        train=TrainConfig(batch_size=64, max_epochs=1000, patience=10),
    ),
}


def load_eval_data(data: DataConfig, _params: Any, data_root: Path | None) -> dict[str, Any]:
    common = {"data_root": data_root, "image_shape": data.image_shape, "n": data.n_eval, "seed": 0}
    return {
        ID_SET: load_dataset("mnist", "test", **common),
        OOD_SET: load_dataset("omniglot", "test", **common),
    }


def evaluate(ctx: EvalContext) -> Scores:
    model = ctx.model

    def score(x):
        return model.ood_score(x, ctx.representation)

    id_scores = batched_scores(score, ctx.data[ID_SET], ctx.batch_size, ctx.device).numpy()
    ood_scores = batched_scores(score, ctx.data[OOD_SET], ctx.batch_size, ctx.device).numpy()
    data = OodScores(id_scores, ood_scores, model.ood_scorer)
    rows = score_metrics(METRICS, data, ctx, {"eval_dataset": f"{ID_SET} vs {OOD_SET}"})
    fpr, tpr = roc_curve(id_scores, ood_scores)
    roc = {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}
    return Scores(rows, curves={"roc": roc})


def plot(records: pd.DataFrame, dest: Path) -> list[Path]:
    written = []
    for (ckpt, rep), group in records[records.metric == "auroc"].groupby(["checkpoint", "representation"]):
        title = f"ROC, MNIST (in) vs Omniglot (OoD)\n{ckpt} checkpoint, {rep} code"
        written.append(plots.roc_figure(group, dest / f"roc_{ckpt}_{rep}.png", title))
    titles = {"auroc": "AUROC of OoD detection, MNIST (in) vs Omniglot (OoD)"}
    return written + plot_metrics(METRICS, records, dest, titles)


register(Suite(
    name="ood",
    summary="train on MNIST, detect Omniglot as OoD (AUROC, AP-in/out, FPR@95, and OpenOOD's AUPR and FPR@95)",
    dataset="mnist",
    models=("vae", "dagmm", "dagmm-zong", "gwae-gmp"),
    presets=PRESETS,
    load_eval_data=load_eval_data,
    evaluate=evaluate,
    plot=plot,
    headline=Headline("auroc", "last", "sample"),
    gw_set=ID_SET,
    trajectory=Trajectory("auroc", "sample", evaluate),  # every OoD metric: scoring is two encoder passes
))
