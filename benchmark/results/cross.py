"""Models x scorers x evaluation sets (a suite's ``cross``, ood): one table, one heatmap, one sentence per set.

Model rows are the headline's checkpoint and code; reference rows (model-free, ``schema.REFERENCE_MODEL``)
have neither. Per set, the ranking of the model configurations under their own scorer is compared with
the ranking under each common scorer, and the best reference score is named: what a model must beat.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import plots
from benchmark.records.schema import CONFIG_KEYS, REFERENCE_MODEL
from benchmark.results.stats import CSV_FLOAT
from benchmark.suites import SUITES
from benchmark.suites.base import CrossTable
from core.storage import write_text_atomic
from metrics import better

TABLE, FIGURE = "cross.csv", "cross.png"
#: Means equal at the precision the page shows tie: ranking 1.0000 above 0.9999 would be reading noise.
DECIMALS = 3


def table(records: pd.DataFrame, suite_name: str) -> pd.DataFrame:
    """Mean, std and seeds per (configuration, scorer, set, metric): the headline's protocol, and the references."""
    suite = SUITES.get(suite_name)
    cross = suite.cross
    if cross is None or "scorer" not in records or cross.set_field not in records:
        return pd.DataFrame()
    lead = suite.headline
    keep = records.metric.isin(cross.metrics) & records.scorer.notna() & (
        ((records.checkpoint == lead.checkpoint) & (records.representation == lead.representation))
        | (records.model == REFERENCE_MODEL))
    sub = records[keep].assign(label=lambda d: d.apply(plots.label, axis=1),
                               reference=lambda d: d.model == REFERENCE_MODEL)
    keys = ["reference", "label", *CONFIG_KEYS, "scorer", cross.set_field, "metric"]
    out = sub.groupby(keys, dropna=False)["value"].agg(mean="mean", std="std", n_seeds="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    kinds = {name: kind for name, kind, _ in cross.sets}
    out["kind"] = out[cross.set_field].map(kinds)
    order = {name: i for i, (name, _, _) in enumerate(cross.sets)}
    out["_set"] = out[cross.set_field].map(order)
    return out.sort_values(["_set", "metric", "reference", "label", "scorer"]).drop(columns="_set").reset_index(
        drop=True)


def rankings(frame: pd.DataFrame, cross: CrossTable) -> list[str]:
    """Per set: does the own scorer's ranking of the models hold under each common scorer; the best reference.
    Means equal to ``DECIMALS`` places tie ("a = b > c")."""
    lines = []
    metric = cross.metrics[0]
    higher = better(metric) == "higher"
    auc = frame[frame.metric == metric].assign(shown=lambda d: d["mean"].round(DECIMALS))
    for name, kind, _ in cross.sets:
        here = auc[auc[cross.set_field] == name]
        if here.empty:
            continue
        models = here[~here.reference]
        order = {s: _order(g, higher) for s, g in models.groupby("scorer")}
        own = order.get(cross.own, [])
        parts = [f"{name} ({kind}): own scorers rank {tiers_text(own)}"]
        for scorer in sorted(s for s in order if s != cross.own):
            parts.append(f"{scorer}: {'the same' if order[scorer] == own else tiers_text(order[scorer])}")
        refs = here[here.reference]
        if not refs.empty:
            best = refs.loc[refs.shown.idxmax() if higher else refs.shown.idxmin()]
            beat = models[models.shown > best.shown] if higher else models[models.shown < best.shown]
            parts.append(f"best reference {best['scorer']} {best.shown:.{DECIMALS}f}, beaten by "
                         f"{len(beat)} of {len(models)} model x scorer rows")
        lines.append("; ".join(parts))
    return lines


def _order(group: pd.DataFrame, higher: bool) -> list[tuple[str, ...]]:
    """The labels best first, in tiers of equal shown mean (alphabetical within a tier)."""
    ranked = group.sort_values(["shown", "label"], ascending=[not higher, True])
    return [tuple(tier.label) for _, tier in ranked.groupby("shown", sort=False)]


def tiers_text(tiers: list[tuple[str, ...]]) -> str:
    """Tiers best first: \"a = b > c\"."""
    return " > ".join(" = ".join(tier) for tier in tiers) or "nothing"


def absent(frame: pd.DataFrame, cross: CrossTable) -> list[str]:
    """One line per set the suite knows that no record scored, saying why it may be so."""
    present = set(frame[cross.set_field]) if not frame.empty else set()
    return [f"{name}: not scored" + (f" ({cross.absent[name]})" if name in cross.absent else "")
            for name, _, _ in cross.sets if name not in present]


def figure(frame: pd.DataFrame, cross: CrossTable, path: Path, title: str) -> Path:
    """One heatmap per metric: rows configuration x scorer (references last), columns sets, the mean annotated."""
    sets = [name for name, _, _ in cross.sets if name in set(frame[cross.set_field])]
    rows = frame.drop_duplicates(["reference", "label", "scorer"])[["reference", "label", "scorer"]]
    names = [f"{r.label} · {r.scorer}" for r in rows.itertuples()]
    fig, axes = plots.plt.subplots(1, len(cross.metrics), figsize=(4 + 1.3 * len(sets) * len(cross.metrics),
                                                                   1.5 + 0.32 * len(rows)), squeeze=False)
    for ax, metric in zip(axes[0], cross.metrics, strict=True):
        sub = frame[frame.metric == metric]
        grid = np.full((len(rows), len(sets)), np.nan)
        for i, r in enumerate(rows.itertuples()):
            for j, s in enumerate(sets):
                hit = sub[(sub.label == r.label) & (sub.scorer == r.scorer) & (sub[cross.set_field] == s)]
                if not hit.empty:
                    grid[i, j] = hit["mean"].iloc[0]
        cmap = "RdYlGn" if better(metric) == "higher" else "RdYlGn_r"
        ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        kinds = dict((name, kind) for name, kind, _ in cross.sets)
        ax.set_xticks(range(len(sets)), [f"{s}\n({kinds[s]})" for s in sets], rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), names if ax is axes[0][0] else [], fontsize=7)
        ax.set_title(f"{plots.metric_words(metric)} ({better(metric)} is better)", fontsize=9)
    fig.suptitle(title, fontsize=9)
    return plots.save_figure(fig, path)


def build(records: pd.DataFrame, suite_name: str, dest: Path) -> list[Path]:
    """Write ``<dest>/cross.csv`` and ``cross.png`` for a suite that crosses scorers and sets."""
    cross = SUITES.get(suite_name).cross
    frame = table(records, suite_name)
    if cross is None or frame.empty:
        return []
    path = dest / TABLE
    write_text_atomic(path, frame.to_csv(index=False, float_format=CSV_FLOAT))
    lead = SUITES.get(suite_name).headline
    title = (f"{suite_name}: every model under every scorer on every set (mean over seeds; {lead.checkpoint} "
             f"checkpoint, {lead.representation} code; reference rows: pixels, no model)")
    return [path, figure(frame, cross, dest / FIGURE, title)]
