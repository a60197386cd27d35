"""Leaderboard plots, drawn from stored records only (never from live models)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.storage import write_bytes_atomic
from metrics import better, reduced_note


class _Pyplot:
    """matplotlib.pyplot (Agg backend), imported on first use: commands that draw nothing (``list``,
    ``--help``, ``plan``) do not pay for it."""

    def __getattr__(self, name: str) -> Any:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot

        return getattr(matplotlib.pyplot, name)


plt = _Pyplot()


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


#: Metric names in words, for titles and axis labels (a reviewer should not need the README).
METRIC_WORDS = {
    "auroc": "AUROC", "ap_in": "average precision (in-distribution positive)",
    "ap_out": "average precision (OoD positive)", "fpr95": "false-positive rate at 95% true-positive rate",
    "aupr_in_openood": "AUPR, OpenOOD's trapezoid (in-distribution positive)",
    "aupr_out_openood": "AUPR, OpenOOD's trapezoid (OoD positive)",
    "fpr95_openood": "FPR at 95% TPR, OpenOOD's ROC points",
    "fid_samples": "FID of prior samples", "fid_recon": "FID of reconstructions",
    "kid_samples": "KID of prior samples", "kid_recon": "KID of reconstructions",
    "psnr": "PSNR of reconstructions (dB)", "mig": "mutual information gap (MIG)", "sap": "SAP score",
    "gw_distortion": "GW distortion, data vs codes", "gw_identity_distortion": "identity-coupling distortion",
    "modularity": "modularity (Ridgeway & Mozer)", "explicitness": "explicitness (Ridgeway & Mozer)",
    "irs": "interventional robustness score (IRS)", "beta_vae_score": "beta-VAE score (Higgins et al.)",
    "factor_vae_score": "FactorVAE score (Kim & Mnih)",
    "gaussian_total_correlation": "Gaussian total correlation of the codes",
    "gaussian_wasserstein_correlation_norm": "Gaussian Wasserstein dependency of the codes (normalised)",
    "mutual_info_score": "mutual information score of the codes",
}
LABEL_WRAP = 16  # characters per line of an x tick label


def metric_words(metric: str) -> str:
    """``dci_dlib_disentanglement`` -> 'DCI disentanglement (dlib spec)'; ``fid_samples`` -> 'FID of prior samples'."""
    base, inception = (metric[: -len("_inception")], True) if metric.endswith("_inception") else (metric, False)
    if base.startswith("dci_") and base.count("_") >= 2:
        _, spec, part = base.split("_", 2)
        words = f"DCI {part} ({spec} spec)"
    else:
        words = METRIC_WORDS.get(base, base.replace("_", " "))
    return f"{words}, Inception features" if inception else words


def feature_extractor(records: pd.DataFrame) -> str | None:
    """The feature extractor named in FID/KID metric specs (``fid-v1@mnist-cnn-v1/...`` -> mnist-cnn-v1)."""
    names = sorted({spec.split("@", 1)[1].split("/", 1)[0] for spec in records.get("metric_spec", [])
                    if isinstance(spec, str) and spec.startswith(("fid", "kid")) and "@" in spec})
    return ", ".join(names) or None


def roc_figure(records: pd.DataFrame, path: Path, title: str) -> Path:
    """Mean ROC curve per model over seeds (vertical average on a common FPR grid), seeds faint."""
    grid = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for i, (name, group) in enumerate(records.assign(label=records.apply(label, axis=1)).groupby("label")):
        color = f"C{i}"
        curves = []
        for roc in group["roc"]:
            tpr = np.interp(grid, roc["fpr"], roc["tpr"])
            curves.append(tpr)
            ax.plot(grid, tpr, color=color, alpha=0.25, lw=0.8)
        auc = group["value"]
        spread = f" ± {auc.std(ddof=1):.3f} (std, {len(auc)} seeds)" if len(auc) > 1 else " (1 seed)"
        ax.plot(grid, np.mean(curves, axis=0), color=color, lw=2, label=f"{name}: AUROC {auc.mean():.3f}{spread}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance (AUROC 0.5)")
    ax.set(xlabel="false-positive rate (in-distribution flagged as OoD)", ylabel="true-positive rate (OoD detected)",
           title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, frameon=False)  # below: covers nothing
    return save_figure(fig, path)


def _wrap(text: str) -> str:
    return textwrap.fill(text, LABEL_WRAP, break_long_words=False, break_on_hyphens=False)


def metric_bars(records: pd.DataFrame, metric: str, path: Path, title: str | None = None) -> Path:
    """Mean over seeds per model, error bars one sample std (none for a single seed), one bar per
    (checkpoint, representation); the title says which direction is better and, for FID/KID, the features."""
    sub = records[records.metric == metric].assign(label=lambda d: d.apply(label, axis=1))
    stats = sub.groupby(["label", "checkpoint", "representation"])["value"].agg(["mean", "std", "count"])
    table = stats.unstack(["checkpoint", "representation"])
    fig, ax = plt.subplots(figsize=(2.2 + 1.5 * len(table), 4.4))
    means, stds, counts = table["mean"], table["std"].fillna(0.0), table["count"].fillna(0).astype(int)
    width = 0.8 / max(len(means.columns), 1)
    x = np.arange(len(means))
    for j, col in enumerate(means.columns):
        err = None if (counts[col] <= 1).all() else stds[col].where(counts[col] > 1, 0.0)
        code = "prior samples" if col[1] == "prior" else f"{col[1]} code"
        ax.bar(x + j * width, means[col], width, yerr=err, capsize=3, label=f"{col[0]} checkpoint, {code}")
    ax.set_xticks(x + width * (len(means.columns) - 1) / 2, [_wrap(n) for n in means.index], rotation=30,
                  ha="right", rotation_mode="anchor", fontsize=8)
    words = metric_words(metric)
    extractor = feature_extractor(sub) if metric.startswith(("fid", "kid")) else None
    n = sorted(set(counts.to_numpy().ravel()) - {0})
    seeds = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    bars = ("one seed per bar: no error bars" if n == [1] else
            f"bars: mean over {seeds} seeds; error bars: ±1 sample std")
    lines = [title or words, f"{better(metric)} is better; {bars}"]
    if extractor:
        lines.insert(1, f"features: {extractor}")
    if note := reduced_note(sub.get("metric_spec", [])):
        lines.insert(1, textwrap.fill(note, 100))
    if metric == "auroc":
        ax.axhline(0.5, color="k", ls=":", lw=1, label="chance (0.5)")
    ax.set_ylabel(words + (f" ({extractor} features)" if extractor else ""))
    ax.set_title("\n".join(lines), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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
