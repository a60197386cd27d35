"""Do a suite's verdicts survive bf16? Its fp32 and bf16 records side by side, as a Markdown report.

For each model configuration run in both precisions (the same config but for ``precision``, so matched by
model, prior, mode, hparams and seed), this prints the headline per seed and its mean in fp32 and bf16, the
ranking of the configurations in each, the headline along the trajectory budgets (mean over seeds at each
step, both precisions), and the speed-up of training (summed ``wall_s``, fp32 over bf16). Wall times compare
only where the runs shared the machine alike (e.g. both ``--jobs 2``: one thread each).

    python tools/compare_precision.py --fp32 results/records --bf16 runs-bf16 [--suite ood]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from benchmark.records.io import iter_runs
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES
from core.errors import BenchmarkError
from metrics import better

KEY = ["model", "prior", "mode", "hparams"]


def frame(out: Path, suite: str, precision: str) -> pd.DataFrame:
    """The suite's final and trajectory records of one precision in ``out`` (whole runs only)."""
    found = [r for name in (RunFolder.RECORDS, RunFolder.TRAJECTORY) for _, rs in iter_runs(out, name)
             if not isinstance(rs, str) for r in rs if r["suite"] == suite]
    records = pd.DataFrame(found)
    if records.empty:
        raise BenchmarkError(f"{out}: no {suite} records")
    records = records[records.precision == precision].copy()
    # a bf16 row's hparams carry its precision: stripped, so it meets its fp32 twin
    records["hparams"] = records.hparams.str.replace(f"precision={precision}", "").str.strip().replace("", "-")
    return records


def report(fp32: pd.DataFrame, bf16: pd.DataFrame, suite: str) -> str:
    spec = SUITES.get(suite)
    head = {p: spec.headline.select(f) for p, f in (("fp32", fp32), ("bf16", bf16))}
    both = head["fp32"].merge(head["bf16"], on=[*KEY, "seed"], suffixes=("_fp32", "_bf16"))
    if both.empty:
        raise BenchmarkError("no configuration has records in both precisions")
    both["rel_diff"] = (both.value_bf16 - both.value_fp32).abs() / both.value_fp32.abs()
    h = spec.headline
    lines = [f"## {suite}: {h.metric} ({h.checkpoint}, {h.representation}), fp32 against bf16", "",
             "| configuration | seed | fp32 | bf16 | relative difference |", "|---|---|---|---|---|"]
    for _, r in both.sort_values([*KEY, "seed"]).iterrows():
        lines.append(f"| {label(r)} | {r.seed} | {r.value_fp32:.4f} | {r.value_bf16:.4f} | {r.rel_diff:.2e} |")
    means = both.groupby(KEY).agg(fp32=("value_fp32", "mean"), bf16=("value_bf16", "mean")).reset_index()
    ascending = better(spec.headline.metric) == "lower"
    means["rank_fp32"] = means.fp32.rank(ascending=ascending, method="min").astype(int)
    means["rank_bf16"] = means.bf16.rank(ascending=ascending, method="min").astype(int)
    held = (means.rank_fp32 == means.rank_bf16).all()
    lines += ["", "| configuration | mean fp32 | mean bf16 | rank fp32 | rank bf16 | train wall fp32 / bf16 |",
              "|---|---|---|---|---|---|"]
    for _, r in means.iterrows():
        sel = [(f[KEY] == r[KEY]).all(axis=1) for f in (head["fp32"], head["bf16"])]
        walls = [f[s].drop_duplicates("run_id").wall_s.sum() for f, s in zip(head.values(), sel, strict=True)]
        lines.append(f"| {label(r)} | {r.fp32:.4f} | {r.bf16:.4f} | {r.rank_fp32} | {r.rank_bf16} | "
                     f"{walls[0] / walls[1]:.2f}x |")
    lines += ["", f"Ranking by mean {'holds' if held else 'changes'} in bf16.", ""]
    lines += trajectory(fp32, bf16, spec.trajectory.metric)
    return "\n".join(lines)


def trajectory(fp32: pd.DataFrame, bf16: pd.DataFrame, metric: str) -> list[str]:
    steps = {}
    for name, f in (("fp32", fp32), ("bf16", bf16)):
        pts = f[(f.checkpoint == "step") & (f.metric == metric)]
        if pts.empty:
            continue
        steps[name] = pts.groupby([*KEY, "step"]).value.mean()
    if len(steps) < 2:
        return ["No trajectory records in one of the folders."]
    table = pd.concat(steps, axis=1).dropna().reset_index()
    lines = [f"Trajectory ({metric}, mean over seeds):", "", "| configuration | step | fp32 | bf16 |",
             "|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {label(r)} | {int(r.step)} | {r.fp32:.4f} | {r.bf16:.4f} |")
    return lines


def label(row: pd.Series) -> str:
    return " ".join(str(row[k]) for k in KEY if row[k] != "-")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fp32", type=Path, required=True, help="folder with the fp32 records (e.g. results/records)")
    p.add_argument("--bf16", type=Path, required=True, help="folder with the bf16 records")
    p.add_argument("--suite", default="ood")
    a = p.parse_args(argv)
    try:
        print(report(frame(a.fp32, a.suite, "fp32"), frame(a.bf16, a.suite, "bf16"), a.suite))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
