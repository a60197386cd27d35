"""Disentanglement suite: 3D Shapes (or its procedural re-implementation), disentanglement_lib's metric set.

Protocol: codes of images sampled uniformly from the factor grid (disentanglement_lib's
10,000 train / 5,000 test points, drawn with fixed seeds), scored against the six ground-truth
factors with every DCI spec the preset names (``dlib`` is the reference; ``vaetc`` the GWAE
code's; ``fast`` for sweeps), MIG, SAP, modularity and explicitness, IRS and the unsupervised
scores (on the same codes); and the interventional beta-VAE and FactorVAE scores, which draw
images with chosen factors from the grid (``GridImageSet.at_factors``, the same way from the
renderer and from the 3D Shapes file) at the preset's counts. The official code evaluates sampled
codes of the last-epoch model; every record says which representation and checkpoint it used.
Without ``--data-root`` the suite trains on the procedural 3D-Shapes-grid renderer, which is
a re-implementation, so its numbers are not comparable with published 3D Shapes numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

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
    plot_metrics,
    register,
    score_metrics,
)
from metrics import DCI_SPECS, FactorCodes, GridFactorSampler

DCI_TRAIN, DCI_TEST = "dci-train", "dci-test"
#: Interventional-score counts of the default preset, ours (C): disentanglement_lib's batch of 64 and prune
#: threshold, fewer points (its 10,000 / 5,000 would encode 1.9 million images per beta-VAE score; these encode
#: 38,400, and 21,200 for the FactorVAE score: about 20 s per representation on 2 idle cores).
DEFAULT_BETA_VAE = {"batch_size": 64, "num_train": 200, "num_eval": 100}
DEFAULT_FACTOR_VAE = {"batch_size": 64, "num_train": 200, "num_eval": 100, "num_variance_estimate": 2_000,
                      "prune_threshold": 0.05}
#: Per-model overrides that depend on the preset's budget (C): the dlib study anneals AnnealedVAE's capacity
#: over 100,000 of its 300,000 steps, so short budgets anneal over the same third; beta-TCVAE's MWS/MSS
#: weights need the training-set size (3D Shapes' train split is 384,000 images).
_DEFAULT_STEPS = 8 * 100


def _budget_overrides(steps: int | None, n_train: int | None) -> dict[str, dict]:
    out: dict[str, dict] = {"beta-tcvae": {"dataset_size": n_train or 384_000}}
    if steps is not None:
        out["annealed-vae"] = {"anneal_steps": max(1, steps // 3)}
    return out


@dataclass(frozen=True)
class DisentanglementEval:
    """Grid points of the DCI-family scores, the DCI specs, and the interventional scores' counts."""

    n_dci_train: int
    n_dci_test: int
    dci_specs: tuple[str, ...]
    beta_vae: dict[str, int]
    factor_vae: dict[str, int | float]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.dci_specs) - set(DCI_SPECS))
        if unknown:
            raise ValueError(f"unknown DCI spec(s) {', '.join(unknown)} (known: {', '.join(DCI_SPECS)})")


PRESETS = {
    # A few steps of every model at 32x32, the last checkpoint, DCI dlib and fast on 300/150 points (dlib so that the
    # headline exists), every other metric at tiny counts; numbers mean nothing.
    "smoke": Preset(
        image_shape=(3, 32, 32), z_dim=10, seeds=(0,), n_train=512, n_val=128, n_gw=128,
        train=TrainConfig(batch_size=64, max_epochs=2, patience=2, steps_per_epoch=4),
        checkpoints=("last",),
        eval_params=DisentanglementEval(
            300, 150, ("dlib", "fast"), beta_vae={"batch_size": 16, "num_train": 40, "num_eval": 20},
            factor_vae={"batch_size": 16, "num_train": 40, "num_eval": 20, "num_variance_estimate": 300,
                        "prune_threshold": 0.05}),
        model_overrides=_budget_overrides(2 * 4, 512),
    ),
    # Sized for 8 models x 3 seeds in under two hours on 2 CPU cores: 32x32 images, the same 800-step budget (8 epochs x
    # 100 steps) for every model, because a GWAE step (5 critic steps) costs about 0.3 s against 0.03 s for a VAE; only
    # the last checkpoint (the official protocol's) is scored; DCI dlib and fast (vaetc, about 40 s per representation,
    # only in the paper preset since the eight-model suite), MIG, SAP, modularity/explicitness, IRS and the unsupervised
    # scores on disentanglement_lib's 10,000 / 5,000 grid points, both representations; the interventional beta-VAE and
    # FactorVAE scores at reduced counts (DEFAULT_BETA_VAE, DEFAULT_FACTOR_VAE); DCI fast and MIG (sampled codes, same
    # points) also at 200, 400 and 600 steps, which with the last checkpoint trace them along the budget. z_dim 10 is
    # our choice (disentanglement_lib's).
    "default": Preset(
        image_shape=(3, 32, 32), z_dim=10, seeds=(0, 1, 2), n_train=None, n_val=2048,
        train=TrainConfig(batch_size=64, max_epochs=8, patience=3, steps_per_epoch=100),
        checkpoints=("last",),
        eval_params=DisentanglementEval(10_000, 5_000, ("dlib", "fast"), DEFAULT_BETA_VAE, DEFAULT_FACTOR_VAE),
        model_overrides=_budget_overrides(_DEFAULT_STEPS, None),
        budgets=(200, 400, 600),
    ),
    # Official settings: 3x64x64, batch 64, patience 10, 80/10/10 split; every metric at disentanglement_lib's counts;
    # z_dim 10 is our choice.
    "paper": Preset(
        image_shape=(3, 64, 64), z_dim=10, seeds=(0, 1, 2), n_train=None, n_val=None,
        train=TrainConfig(batch_size=64, max_epochs=1000, patience=10),
        eval_params=DisentanglementEval(
            10_000, 5_000, ("dlib", "vaetc", "fast"),
            beta_vae={"batch_size": 64, "num_train": 10_000, "num_eval": 5_000},
            factor_vae={"batch_size": 64, "num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000,
                        "prune_threshold": 0.05}),
        model_overrides=_budget_overrides(None, None),
    ),
}


def load_eval_data(data: DataConfig, params: DisentanglementEval, data_root: Path | None) -> dict[str, Any]:
    common = {"data_root": data_root, "image_shape": data.image_shape}
    return {
        DCI_TRAIN: load_dataset(data.dataset, "all", n=params.n_dci_train, seed=1, **common),
        DCI_TEST: load_dataset(data.dataset, "all", n=params.n_dci_test, seed=2, **common),
    }


@torch.no_grad()
def codes_of(ctx: EvalContext, dataset: Any) -> np.ndarray:
    return torch.cat([ctx.model.encode(x.to(ctx.device), ctx.representation).cpu()
                      for x in dataset.batches(ctx.batch_size)]).double().numpy()


def represent_factors(ctx: EvalContext, dataset: Any):
    """The representation function of the interventional scores: (n, F) factors -> codes of the grid
    images with those factors, encoded as ``ctx`` says (``sample`` draws fresh noise per call)."""

    def represent(factors: np.ndarray) -> np.ndarray:
        return codes_of(ctx, dataset.at_factors(factors))

    return represent


#: The suite's metrics, in record order; parameters from ``DisentanglementEval``. The trajectory pass scores the
#: cheap variants (DCI ``fast``, MIG): the dlib DCI's gradient boosting costs about a minute per representation,
#: and the ``fast`` spec ranks models alike (see README).
METRICS = (
    MetricUse("dci", lambda p: {"specs": p.dci_specs}),
    MetricUse("mig"),
    MetricUse("sap"),
    MetricUse("modularity_explicitness"),
    MetricUse("irs"),
    MetricUse("unsupervised"),
    MetricUse("beta_vae_score", lambda p: dict(p.beta_vae)),
    MetricUse("factor_vae_score", lambda p: dict(p.factor_vae)),
)


def _score(ctx: EvalContext, fast: bool) -> tuple[list[dict[str, Any]], Any, np.ndarray]:
    train, test = ctx.data[DCI_TRAIN], ctx.data[DCI_TEST]
    z_tr, z_te = codes_of(ctx, train), codes_of(ctx, test)
    data = FactorCodes(z_tr, np.asarray(train.factors), z_te, np.asarray(test.factors), name=f"{test.name} grid",
                       sample_factors=GridFactorSampler(test.factor_sizes), represent=represent_factors(ctx, test))
    common = {"eval_dataset": f"{train.name} grid", "n_train": len(z_tr), "n_test": len(z_te)}
    return score_metrics(METRICS, data, ctx, common, fast=fast), test, z_te


def evaluate(ctx: EvalContext) -> Scores:
    rows, test, z_te = _score(ctx, fast=False)
    if ctx.run_dir is None:
        return Scores(rows)
    name, spec = write_traversal(ctx, test, z_te)
    return Scores(rows, artifacts={name.rsplit(".", 1)[0]: name}, artifact_spec=spec)


def score_budget(ctx: EvalContext) -> Scores:
    """The trajectory pass: the cheap variant of every metric that has one, on the DCI points."""
    return Scores(_score(ctx, fast=True)[0])


#: Columns of a traversal: offsets from the base code, in units of each dim's std over the test codes.
TRAVERSAL_STEPS = np.linspace(-2.0, 2.0, 9)


@torch.no_grad()
def write_traversal(ctx: EvalContext, dataset: Any, codes: np.ndarray) -> tuple[str, str]:
    """Latent traversal grid of this checkpoint and representation in ``ctx.run_dir``.

    Rows are latent dims, columns the base code with that dim moved to ``value + t * std_i``
    (``TRAVERSAL_STEPS``: -2..2 in 9 steps; ``std_i`` over the DCI test codes of the same
    representation, so a collapsed dim shows as a constant row). The base is one test image
    picked with the evaluation seed, encoded as ``codes`` were (mean or one sample). Returns the
    file name and a spec that says all of this.
    """
    index = int(np.random.default_rng(ctx.seed).integers(len(codes)))
    base, std = codes[index], codes.std(axis=0)
    z = np.repeat(base[None, None], len(base), axis=0).repeat(len(TRAVERSAL_STEPS), axis=1)
    for i in range(len(base)):
        z[i, :, i] = base[i] + TRAVERSAL_STEPS * std[i]
    flat = torch.as_tensor(z.reshape(-1, len(base)), dtype=torch.float32, device=ctx.device)
    images = torch.cat([ctx.model.decode(chunk).float().cpu() for chunk in flat.split(ctx.batch_size)])
    grid = images.numpy().reshape(len(base), len(TRAVERSAL_STEPS), *images.shape[1:])
    name = f"traversal_{ctx.checkpoint}_{ctx.representation}.png"
    plots.image_grid(
        grid, ctx.run_dir / name,
        title=f"{ctx.checkpoint} checkpoint, {ctx.representation} code of {dataset.name} grid image "
        f"{int(dataset.indices[index])}; columns: code + t x std, t in [-2, 2]",
        row_labels=[f"z{i} (std {std[i]:.2f})" for i in range(len(base))],
        col_labels=[f"{t:+.1f}" for t in TRAVERSAL_STEPS],
    )
    spec = (f"traversal-v1/base=test[{index}],grid_index={int(dataset.indices[index])},"
            f"rep={ctx.representation},steps=linspace(-2,2,9)*std(test codes),clip=[0,1]")
    return name, spec


def plot(records: pd.DataFrame, dest: Path) -> list[Path]:
    return plot_metrics(METRICS, records, dest)


SUMMARY = ("3D Shapes (procedural grid by default): DCI (dlib, vaetc, fast specs), MIG, SAP, modularity, "
           "explicitness, IRS, unsupervised scores, beta-VAE and FactorVAE scores")

register(Suite(
    name="disentanglement",
    summary=SUMMARY,
    dataset="shapes3d-procedural",
    root_dataset="shapes3d",
    models=("vae", "beta-vae", "gwae-fnp", "beta-tcvae", "factorvae", "dip-vae-i", "dip-vae-ii", "annealed-vae"),
    presets=PRESETS,
    load_eval_data=load_eval_data,
    evaluate=evaluate,
    plot=plot,
    headline=Headline("dci_dlib_disentanglement", "last", "sample"),
    gw_set=DCI_TEST,
    trajectory=Trajectory("dci_fast_disentanglement", "sample", score_budget),
))
