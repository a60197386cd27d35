"""Score trajectories: a suite's trajectory metric against training steps, ranked at every budget.

Points come from the budget records (``trajectory.jsonl``, the weights kept at listed steps) and
from the ``last`` checkpoint's records (the final budget), for the suite's trajectory metric and
headline representation; a budget record wins where both exist at one step. Per model
configuration and step: mean over seeds, sample std, a 95% interval (``benchmark.results.stats``) and the
rank among the configurations scored at that step. One sentence says whether the ranking holds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from benchmark import plots
from benchmark.records.io import iter_runs
from benchmark.records.schema import CONFIG_KEYS
from benchmark.results.cross import tiers_text
from benchmark.results.stats import CSV_FLOAT, mean_ci, ranks
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES
from core.storage import write_text_atomic
from metrics import better

TABLE, RANKS = "trajectory.csv", "trajectory_ranks.csv"


def budget_records(out: Path, run_ids: set[str]) -> list[dict]:
    """The budget records of the runs in ``run_ids`` (runs whose own records are whole); damaged files named."""
    found: list[dict] = []
    for path, records in iter_runs(out, RunFolder.TRAJECTORY):
        if isinstance(records, str):
            print(f"warning: skipping {path}: {records}", file=sys.stderr)
        else:
            found += [r for r in records if r.get("run_id") in run_ids]
    return found


def points(records: pd.DataFrame, budget: list[dict], suite_name: str) -> pd.DataFrame:
    """One row per (run, step) of the suite's trajectory metric: the budget scores and the last checkpoint's."""
    suite = SUITES.get(suite_name)
    metric, rep = suite.trajectory.metric, suite.headline.representation
    last = records[(records.metric == metric) & (records.checkpoint == "last") & (records.representation == rep)]
    last = _where(last, suite.trajectory.where)
    # a record too old to say its step (``schema.upgrade``) has no place on the trajectory
    last = last.dropna(subset=["step"]) if "step" in last else last.iloc[:0].assign(step=pd.Series(dtype=float))
    frames = [last.assign(source="last checkpoint")]
    if budget:
        kept = pd.DataFrame(budget)
        kept = _where(kept[(kept.metric == metric) & (kept.representation == rep) & (kept.suite == suite_name)],
                      suite.trajectory.where)
        frames.insert(0, kept.assign(source="kept budget"))
    frame = pd.concat(frames, ignore_index=True)
    frame["step"] = frame["step"].astype(int)
    frame = frame.drop_duplicates(["run_id", "step"], keep="first")  # the budget record where both exist
    return frame[[*CONFIG_KEYS, "seed", "run_id", "step", "metric", "metric_spec", "value", "source"]].sort_values(
        [*CONFIG_KEYS, "seed", "step"]).reset_index(drop=True)


def _where(frame: pd.DataFrame, where: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """The rows with every (field, value) of ``where`` (a record without the field has none of them)."""
    for key, value in where:
        frame = frame[frame[key] == value] if key in frame else frame.iloc[:0]
    return frame


def aggregate(pts: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, 95% interval and rank (1 = best, among configurations scored at that step) per step."""
    grouped = pts.groupby([*CONFIG_KEYS, "metric", "step"], dropna=False)
    table = grouped["value"].agg(mean="mean", std="std", n_seeds="count")
    table["std"] = table["std"].fillna(0.0)
    ci = grouped["value"].agg(lambda v: mean_ci(v.to_numpy()))
    table["ci95_low"], table["ci95_high"], table["ci_method"] = ci.str[0], ci.str[1], ci.str[2]
    table["metric_spec"] = grouped["metric_spec"].agg(lambda s: "; ".join(sorted(set(s))))
    table = table.reset_index()
    table["better"] = table["metric"].map(better)
    lower = table["better"] == "lower"
    table["rank"] = ranks(table["mean"], lower, table["step"])
    table["n_ranked"] = table.groupby("step")["mean"].transform("count").astype(int)
    return table.sort_values(["step", "rank"]).reset_index(drop=True)


def label(row: pd.Series | dict) -> str:
    return plots.label(pd.Series(row))


def stability(table: pd.DataFrame) -> str:
    """One sentence: does the order of the configurations (by rank: equal shown means tie) hold at every budget,
    and from where."""
    if table.empty:
        return "no budgets scored"
    table = table.assign(label=table.apply(label, axis=1))
    by_step = {s: g.sort_values(["rank", "label"]) for s, g in table.groupby("step")}
    steps = sorted(by_step)
    rank_at = {s: dict(zip(g["label"], g["rank"], strict=True)) for s, g in by_step.items()}
    orders = {s: [tuple(t.label) for _, t in g.groupby("rank", sort=False)] for s, g in by_step.items()}
    span = f"{steps[0]:,}-{steps[-1]:,} steps" if len(steps) > 1 else f"{steps[0]:,} steps"
    if len(steps) == 1:
        return f"one budget only ({span}): {tiers_text(orders[steps[0]])}"
    if all(orders[s] == orders[steps[0]] for s in steps):
        return f"the ranking is the same at all {len(steps)} budgets ({span}): {tiers_text(orders[steps[0]])}"
    changes = sum(orders[a] != orders[b] for a, b in zip(steps, steps[1:], strict=False))
    held = []
    for name in (n for tier in orders[steps[-1]] for n in tier):
        final = rank_at[steps[-1]][name]
        since = steps[-1]
        for s in reversed(steps):
            if rank_at[s].get(name) == final:
                since = s
            else:
                break
        held.append(f"{name} {_ordinal(final)} from {since:,}")
    return (f"the ranking changes {changes} time(s) over {len(steps)} budgets ({span}): first "
            f"{tiers_text(orders[steps[0]])}, last {tiers_text(orders[steps[-1]])}; held to the end: "
            + "; ".join(held))


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def figure(pts: pd.DataFrame, table: pd.DataFrame, path: Path, title: str) -> Path:
    """Mean over seeds per configuration against steps, each seed faint, ±1 std shaded."""
    fig, ax = plots.plt.subplots(figsize=(7.5, 4.4))
    pts = pts.assign(label=pts.apply(label, axis=1))
    table = table.assign(label=table.apply(label, axis=1))
    for i, (name, group) in enumerate(table.groupby("label", sort=True)):
        color = f"C{i % 10}"
        group = group.sort_values("step")
        seeds = group["n_seeds"].max()
        ax.plot(group["step"], group["mean"], "-o", color=color, lw=1.8, ms=4, label=f"{name} ({seeds} seeds)")
        ax.fill_between(group["step"], group["mean"] - group["std"], group["mean"] + group["std"], color=color,
                        alpha=0.15, lw=0)
        for _, seed in pts[pts.label == name].groupby("seed"):
            ax.plot(seed["step"], seed["value"], "-", color=color, lw=0.7, alpha=0.35)
    metric = str(table["metric"].iloc[0])
    if metric == "auroc":
        ax.axhline(0.5, color="k", ls=":", lw=1, label="chance (0.5)")
    ax.set_xlabel("training steps")
    ax.set_ylabel(plots.metric_words(metric))
    ax.set_title(f"{title}\n{better(metric)} is better; lines: mean over seeds, faint: each seed, band: ±1 sample std",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return plots.save_figure(fig, path)


def rank_table(table: pd.DataFrame) -> pd.DataFrame:
    """Configurations x steps: the rank at each budget (``-`` where a configuration has no score)."""
    wide = table.assign(label=table.apply(label, axis=1)).pivot_table(
        index="label", columns="step", values="rank", aggfunc="first")
    wide = wide.sort_values(wide.columns.max())
    wide.columns = [f"rank at {c} steps" for c in wide.columns]
    return wide.astype("Int64").reset_index().rename(columns={"label": "model configuration"})


def build(records: pd.DataFrame, out: Path, suite_name: str, dest: Path) -> tuple[list[Path], str]:
    """Write ``<dest>/trajectory.csv`` and the plot for one suite; the files and the stability sentence."""
    budget = budget_records(out, set(records["run_id"]))
    pts = points(records, budget, suite_name)
    if pts.empty or pts["step"].nunique() < 2:
        return [], ""
    table = aggregate(pts)
    path = dest / TABLE
    write_text_atomic(path, table.to_csv(index=False, float_format=CSV_FLOAT))
    ranks = dest / RANKS
    write_text_atomic(ranks, rank_table(table).to_csv(index=False))
    suite = SUITES.get(suite_name)
    metric = suite.trajectory.metric
    rep, where = suite.headline.representation, "".join(f", {v}" for _, v in suite.trajectory.where)
    title = f"{suite_name}: {plots.metric_words(metric)} along the training budget ({rep} code{where})"
    return [path, ranks, figure(pts, table, dest / f"trajectory_{metric}.png", title)], stability(table)
