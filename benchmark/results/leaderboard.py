"""Leaderboards rebuilt from stored records alone: one CSV and the suite's plots per suite, and a summary.

Across seeds: mean, sample std, and a 95% interval of the mean, ``ci_method`` naming how it was
computed (Student-t below 10 seeds, percentile bootstrap from 10: ``benchmark.results.stats``); ``rank``
orders the rows of each (eval dataset, scorer, metric, checkpoint, representation) by mean, 1 = best, of
``n_ranked`` rows; means equal at the CSVs' four decimals share the better rank; ``better`` says which
direction wins (declared with the metric where it is registered: ``metrics.better``).

Artifacts: a record may carry ``artifacts`` ({name: file in its run folder}, e.g. a latent
traversal grid); for each model configuration the files of its best seed (by the suite's
headline metric and protocol) are copied to ``<to>/<suite>/artifacts/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from benchmark.records.io import iter_runs
from benchmark.records.schema import CONFIG_KEYS, drop_repeated_references, schema_problem
from benchmark.results.stats import mean_ci, ranks
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES, Headline
from core.storage import write_bytes_atomic
from metrics import better, mark_reduced

GROUP = [
    *CONFIG_KEYS, "dataset", "eval_dataset", "scorer", "checkpoint", "representation", "metric",
    "metric_spec",
]
#: Each scorer ranks its own rows (ood: a model under its own scorer is not ranked against another's GMM).
RANK_WITHIN = ["eval_dataset", "scorer", "metric", "checkpoint", "representation"]
SUMMARY_COLUMNS = [
    "suite", *CONFIG_KEYS, "metric", "checkpoint", "representation", "better", "mean",
    "ci95_low", "ci95_high", "ci_method", "n_seeds", "rank", "n_ranked",
]

HEADLINE_COLUMNS = [*CONFIG_KEYS, "metric", "better", "mean", "std", "ci95_low", "ci95_high",
                    "ci_method", "n_seeds", "rank", "n_ranked"]

def usable_records(out: Path, warn: bool = True) -> list[dict]:
    """Records of every whole run with the required fields (older ones upgraded as they are read); a damaged
    run is skipped and named, never failing the leaderboard of every other run."""
    records: list[dict] = []
    for path, found in iter_runs(out):
        problem = found if isinstance(found, str) else schema_problem(found)
        if problem:
            if warn:
                print(f"warning: skipping {path}: {problem}", file=sys.stderr)
            continue
        # a count below the metric's reference is marked from the spec itself: older records need no rewrite
        records += [{**r, "metric_spec": mark_reduced(r["metric_spec"])} for r in found]
    return drop_repeated_references(records)


def aggregate(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds for every (model, prior, protocol, metric) group."""
    keyed = records.copy()
    for column in ("eval_dataset", "scorer", "hparams"):  # records from before a column existed, or of other suites
        keyed[column] = keyed[column].fillna("-") if column in keyed else "-"
    grouped = keyed.groupby(GROUP, dropna=False)
    table = grouped["value"].agg(mean="mean", std="std", min="min", max="max", n_seeds="count")
    table["std"] = table["std"].fillna(0.0)
    ci = grouped["value"].agg(lambda v: mean_ci(v.to_numpy()))
    table["ci95_low"], table["ci95_high"], table["ci_method"] = ci.str[0], ci.str[1], ci.str[2]
    table["seeds"] = grouped["seed"].agg(lambda s: " ".join(str(v) for v in sorted(s)))
    table["preset"] = grouped["preset"].agg(lambda s: " ".join(sorted(set(s))))
    table["train_wall_s_mean"] = grouped["wall_s"].mean().round(1)
    table["hardware"] = grouped["hardware_summary"].agg(lambda s: "; ".join(sorted(set(s))))
    table["versions"] = grouped["versions"].agg(
        lambda s: "; ".join(sorted({f"torch {v.get('torch')}, sklearn {v.get('scikit-learn')}, git {v.get('git')}"
                                    for v in s}))
    )
    table = table.reset_index()
    table["better"] = table["metric"].map(better)
    lower = table["better"] == "lower"
    within = [table[c] for c in RANK_WITHIN]
    table["rank"] = ranks(table["mean"], lower, within)
    table["n_ranked"] = table.groupby(within, dropna=False)["mean"].transform("count").astype(int)
    return table.sort_values([*RANK_WITHIN, "rank"]).reset_index(drop=True)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Each suite's headline rows (mean, CI, rank of n_ranked per model configuration), and per configuration
    ``mean_rank`` over the ``n_suites`` suites it is scored in. Suites rank different model sets, so rows
    are ordered by n_suites first: a configuration scored in one suite never heads the ones scored in all."""
    rows = []
    for suite_name, sub in frame.groupby("suite"):
        _, checkpoint, representation = SUITES.get(str(suite_name)).headline
        table = headline(sub, str(suite_name)).assign(
            suite=str(suite_name), checkpoint=checkpoint, representation=representation)
        rows.append(table[SUMMARY_COLUMNS])
    table = pd.concat(rows, ignore_index=True)
    by_model = table.groupby(list(CONFIG_KEYS), dropna=False)["rank"]
    table["mean_rank"], table["n_suites"] = by_model.transform("mean"), by_model.transform("count")
    table = table.sort_values(["n_suites", "mean_rank", "suite", "rank"], ascending=[False, True, True, True])
    return table.reset_index(drop=True)


def best_runs(records: pd.DataFrame, suite_name: str) -> pd.DataFrame:
    """The best seed's record of each model configuration, by the suite's headline metric and protocol."""
    headline = SUITES.get(suite_name).headline
    lead = headline.select(records)
    if lead.empty:
        return lead
    key = lead["value"] if better(headline.metric) == "lower" else -lead["value"]
    return lead.assign(_key=key).sort_values(["_key", "seed"]).groupby(list(CONFIG_KEYS), dropna=False).head(1)


def copy_best_artifacts(records: pd.DataFrame, out: Path, dest: Path) -> list[Path]:
    """Copy the artifact files of each configuration's best seed to ``dest`` as ``<label>_<name><ext>``."""
    if "artifacts" not in records:
        return []
    with_files = records[records["artifacts"].apply(lambda a: isinstance(a, dict) and bool(a))]
    if with_files.empty:
        return []
    folders = {p.parent.name: p.parent.resolve() for p in out.rglob(RunFolder.RECORDS)}
    written: list[Path] = []
    refused: set[Path] = set()
    for _, best in best_runs(records, str(records["suite"].iloc[0])).iterrows():
        files = with_files[with_files.run_id == best["run_id"]]
        label = "_".join(str(best[k]) for k in CONFIG_KEYS if best[k] not in ("-", None))
        label = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
        for artifacts in files["artifacts"]:
            for name, filename in sorted(artifacts.items()):
                folder = folders.get(best["run_id"])
                if folder is None:
                    continue
                src = (folder / str(filename)).resolve()
                if not src.is_relative_to(folder):  # a record must not make us copy files from elsewhere
                    if src in refused:
                        continue
                    refused.add(src)
                    print(f"warning: artifact {filename!r} of {best['run_id']} is outside its run folder; not copied",
                          file=sys.stderr)
                    continue
                target = dest / f"{label}_{name}{Path(str(filename)).suffix}"
                if src.is_file() and target not in written:
                    write_bytes_atomic(target, src.read_bytes())
                    written.append(target)
    return written


def headline(out_or_frame: Path | pd.DataFrame, suite_name: str, which: Headline | None = None) -> pd.DataFrame:
    """The suite's headline rows (its lead metric under its lead protocol, or ``which`` of its ``also_ranked``),
    best first."""
    frame = out_or_frame
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(usable_records(frame, warn=False))
    table = aggregate(frame[frame.suite == suite_name])
    return (which or SUITES.get(suite_name).headline).select(table)[HEADLINE_COLUMNS]
