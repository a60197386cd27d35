"""Leaderboard plots, drawn from stored records only (never from live models)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def label(row: pd.Series) -> str:
    """'gwae-gmp (paper)', plus any hyperparameters that differ from the registry defaults."""
    text = row["model"] if row.get("mode", "-") in ("-", None) else f"{row['model']} ({row['mode']})"
    hparams = row.get("hparams", "-")
    return text if hparams in ("-", None) or not isinstance(hparams, str) else f"{text} [{hparams}]"


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save next to the destination, then rename: no half-written PNG on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def roc_figure(records: pd.DataFrame, path: Path, title: str) -> Path:
    """Mean ROC curve per model over seeds (vertical average on a common FPR grid), seeds faint."""
    grid = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(5, 5))
    for i, (name, group) in enumerate(records.assign(label=records.apply(label, axis=1)).groupby("label")):
        color = f"C{i}"
        curves = []
        for roc in group["roc"]:
            tpr = np.interp(grid, roc["fpr"], roc["tpr"])
            curves.append(tpr)
            ax.plot(grid, tpr, color=color, alpha=0.25, lw=0.8)
        auc = group["value"]
        ax.plot(grid, np.mean(curves, axis=0), color=color, lw=2,
                label=f"{name}: AUROC {auc.mean():.3f} ± {auc.std(ddof=1) if len(auc) > 1 else 0:.3f} (n={len(auc)})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false-positive rate (ID flagged as OoD)", ylabel="true-positive rate (OoD detected)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def metric_bars(records: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    """Mean and standard deviation over seeds per model, one bar per (checkpoint, representation)."""
    sub = records[records.metric == metric].assign(label=lambda d: d.apply(label, axis=1))
    stats = sub.groupby(["label", "checkpoint", "representation"])["value"].agg(["mean", "std"]).fillna(0.0)
    table = stats.unstack(["checkpoint", "representation"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(table), 4))
    means, stds = table["mean"], table["std"]
    width = 0.8 / max(len(means.columns), 1)
    x = np.arange(len(means))
    for j, col in enumerate(means.columns):
        ax.bar(x + j * width, means[col], width, yerr=stds[col], capsize=3, label=f"{col[0]}, {col[1]} z")
    ax.set_xticks(x + width * (len(means.columns) - 1) / 2, means.index, rotation=15)
    ax.set(ylabel=metric, title=title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
