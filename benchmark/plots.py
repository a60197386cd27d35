"""Leaderboard plots, drawn from stored records only (never from live models)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.storage import write_bytes_atomic  # noqa: E402


def label(row: pd.Series) -> str:
    """'gwae-gmp (paper)', plus any hyperparameters that differ from the registry defaults."""
    text = row["model"] if row.get("mode", "-") in ("-", None) else f"{row['model']} ({row['mode']})"
    hparams = row.get("hparams", "-")
    return text if hparams in ("-", None) or not isinstance(hparams, str) else f"{text} [{hparams}]"


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Render in memory, then write atomically: no half-written PNG on failure, a full disk is one line."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
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


def image_grid(images: np.ndarray, path: Path, title: str = "", row_labels: list[str] | None = None,
               col_labels: list[str] | None = None, pad: int = 1) -> Path:
    """A (rows, cols, C, H, W) array of images in [0, 1] as one labelled PNG mosaic.

    Values are clipped to [0, 1] (a decoder without a sigmoid may overshoot); one- and
    three-channel images are shown as they are, ``pad`` pixels of white between cells.
    """
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim != 5 or arr.shape[2] not in (1, 3):
        raise ValueError(f"image_grid needs (rows, cols, C, H, W) with C in (1, 3), got shape {arr.shape}")
    rows, cols, c, h, w = arr.shape
    canvas = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, c), dtype=np.float32)
    for i in range(rows):
        for j in range(cols):
            canvas[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = arr[i, j].transpose(1, 2, 0)
    canvas = np.clip(canvas, 0.0, 1.0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * cols, 0.6 + 0.55 * rows))
    ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_yticks([i * (h + pad) + h / 2 for i in range(rows)], row_labels or [""] * rows, fontsize=7)
    ax.set_xticks([j * (w + pad) + w / 2 for j in range(cols)], col_labels or [""] * cols, fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=8)
    return save_figure(fig, path)
