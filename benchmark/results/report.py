"""One static page of every leaderboard, ``<to>/index.html``, built from the records alone (as the CSVs are).

Self-contained for offline reading: style and script inline (``report_assets``), images beside it
(the suites' plots and artifacts, linked by relative paths, never fetched from a network). On top,
the summary across suites; per suite, the headline table (sortable by any column) with each
row's provenance in a ``<details>``, every plot, and the artifacts. Every text from the records is
HTML-escaped.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.plots import metric_words
from benchmark.records.schema import CONFIG_KEYS
from benchmark.results import cross, leaderboard
from benchmark.results.report_assets import CSS, JS
from benchmark.results.stats import BOOTSTRAP_MIN_N
from benchmark.suites import SUITES, Headline
from core.storage import write_text_atomic
from metrics import better, reduced_note

INDEX = "index.html"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def number(value: float) -> str:
    """Digits that fit the scale: 0.7260, 12.345, 1093.1."""
    if pd.isna(value):
        return "-"
    return f"{value:.1f}" if abs(value) >= 100 else (f"{value:.3f}" if abs(value) >= 1 else f"{value:.4f}")


def config_label(row: pd.Series | dict[str, Any]) -> str:
    parts = [str(row["model"])] + [f"{k} {row[k]}" for k in ("prior", "mode", "hparams") if row[k] not in ("-", None)]
    return ", ".join(parts)


def cell(value: Any, sort: Any = None, num: bool = False) -> str:
    attr = f' data-v="{esc(sort)}"' if sort is not None else ""
    return f"<td{attr}{' class=num' if num else ''}>{esc(value)}</td>"


def table(table_id: str, columns: list[tuple[str, str]], rows: list[tuple[str, list[str]]], css: str = "",
          suite: str = "") -> str:
    """A sortable table: ``columns`` are (data-col, header), ``rows`` (row id, cells as HTML)."""
    head = "".join(f'<th data-col="{esc(c)}" scope="col">{esc(h)}</th>' for c, h in columns)
    body = "".join(f'<tr id="{esc(rid)}">{"".join(cells)}</tr>' for rid, cells in rows)
    data = f' data-suite="{esc(suite)}"' if suite else ""
    return (f'<div class="scroll"><table id="{esc(table_id)}" class="sortable {css}"{data}><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table></div>")


def threads_of(group: pd.DataFrame) -> str:
    """Torch threads per seed ('2 (seeds 0 1)'): records match at equal threads and precision, not across them."""
    by_count: dict[str, list[str]] = {}
    hardware = group["hardware"] if "hardware" in group else [None] * len(group)
    for seed, hw in sorted(zip(group["seed"], hardware, strict=True), key=lambda p: p[0]):
        count = hw.get("torch_threads", "unknown") if isinstance(hw, dict) else "unknown"
        by_count.setdefault(str(count), []).append(str(seed))
    return "; ".join(f"{c} (seed{'s' * (len(v) > 1)} {' '.join(v)})" for c, v in by_count.items())


def provenance(group: pd.DataFrame) -> str:
    """What produced a row: spec, preset, seeds, runs, precision, threads, hardware, versions, git revision, wall
    time."""
    versions = sorted({", ".join(f"{k} {v}" for k, v in sorted(d.items()) if k != "git")
                       for d in group["versions"] if isinstance(d, dict)})
    gits = sorted({d.get("git", "unknown") for d in group["versions"] if isinstance(d, dict)})
    items = [
        ("metric spec", "; ".join(sorted(set(group["metric_spec"])))),
        ("eval set", "; ".join(sorted(set(group["eval_dataset"].astype(str))))),
        ("preset", " ".join(sorted(set(group["preset"])))),
        ("seeds", " ".join(str(s) for s in sorted(group["seed"]))),
        ("runs", " ".join(sorted(set(group["run_id"])))) if "run_id" in group else ("runs", "-"),
        ("precision", " ".join(sorted(set(group["precision"])))),
        ("torch threads", threads_of(group)),
        ("hardware", "; ".join(sorted(set(group["hardware_summary"])))),
        ("versions", "; ".join(versions) or "-"),
        ("git revision", " ".join(gits) or "-"),
        ("training wall time", ", ".join(f"{w:.1f} s" for w in group.sort_values("seed")["wall_s"])
         + f" (mean {group['wall_s'].mean():.1f} s)"),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f"<td><details><summary>provenance</summary><dl>{body}</dl></details></td>"


def interval(row: pd.Series) -> tuple[str, float]:
    if row["n_seeds"] < 2:
        return "- (1 seed)", row["mean"]
    return f"[{number(row['ci95_low'])}, {number(row['ci95_high'])}]", row["ci95_low"]


def headline_table(suite_name: str, records: pd.DataFrame, which: Headline | None = None) -> tuple[str, int]:
    """The ranked table of the suite's headline (or of ``which``, one of its ``also_ranked`` protocols)."""
    headline = which or SUITES.get(suite_name).headline
    direction = better(headline.metric)
    table_rows = leaderboard.headline(records, suite_name, headline)
    lead = headline.select(records)
    columns = [("config", "model configuration"), ("mean", f"mean ({direction} is better)"),
               ("interval", "95% interval"), ("ci_method", "interval method"), ("n_seeds", "seeds"),
               ("rank", "rank"), ("provenance", "provenance")]
    rows = []
    for i, row in enumerate(table_rows.itertuples(index=False)):
        r = row._asdict()
        group = lead[(lead.model == r["model"]) & (lead.prior == r["prior"]) & (lead["mode"] == r["mode"])
                     & (lead.hparams == r["hparams"])]
        text, low = interval(pd.Series(r))
        rows.append((f"{suite_name}-row-{i}", [
            cell(config_label(r)), cell(number(r["mean"]), r["mean"], True), cell(text, low, True),
            cell(r["ci_method"]), cell(r["n_seeds"], r["n_seeds"], True),
            cell(f"{r['rank']} of {r['n_ranked']}", r["rank"], True), provenance(group),
        ]))
    table_id = f"table-{suite_name}" + ("" if which is None else f"-{which.metric}-{which.checkpoint}")
    return table(table_id, columns, rows, "headline" if which is None else "also-ranked", suite_name), len(rows)


def summary_table(frame: pd.DataFrame) -> str:
    """Rows: model configurations; per suite its headline mean and rank; then n_suites and mean rank."""
    summ = leaderboard.summary(frame)
    suites = sorted(summ["suite"].unique())
    columns = [("config", "model configuration")]
    for s in suites:
        metric = SUITES.get(s).headline.metric
        columns += [(f"{s}-mean", f"{s}: {metric_words(metric)}"), (f"{s}-rank", f"{s}: rank")]
    columns += [("n_suites", "suites scored"), ("mean_rank", "mean rank over them")]
    rows = []
    for i, (_, group) in enumerate(summ.groupby(list(CONFIG_KEYS), dropna=False, sort=False)):
        first = group.iloc[0]
        cells = [cell(config_label(first))]
        for s in suites:
            hit = group[group.suite == s]
            if hit.empty:
                cells += [cell("-", ""), cell("not scored", "")]
            else:
                h = hit.iloc[0]
                cells += [cell(number(h["mean"]), h["mean"], True), cell(f"{h['rank']} of {h['n_ranked']}", h["rank"],
                                                                         True)]
        cells += [cell(first["n_suites"], first["n_suites"], True),
                  cell(f"{first['mean_rank']:.2f}", first["mean_rank"], True)]
        rows.append((f"summary-row-{i}", cells))
    return table("table-summary", columns, rows, "summary")


def reduced_notes(records: pd.DataFrame) -> dict[str, str]:
    """Metric -> a visible note where some of its records were scored below the reference's counts (a bias,
    not only a wider spread: the beta-VAE score at 200/100 points reads about 0.66 where 10,000/5,000 read 0.90)."""
    notes = {str(metric): reduced_note(specs) for metric, specs in records.groupby("metric")["metric_spec"]}
    return {metric: note for metric, note in notes.items() if note}


def figures(paths: list[Path], root: Path, notes: dict[str, str] | None = None) -> str:
    items = []
    for path in sorted(p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES):
        src = Path(os.path.relpath(path, root)).as_posix()
        note = (notes or {}).get(path.stem)
        flag = f' <strong class="flag">{esc(note)}</strong>' if note else ""
        items.append(f'<figure><a href="{esc(src)}"><img src="{esc(src)}" alt="{esc(path.stem)}" loading="eager">'
                     f"</a><figcaption>{esc(path.name)}{flag}</figcaption></figure>")
    return f'<div class="grid">{"".join(items)}</div>' if items else '<p class="note">none</p>'


def suite_section(suite_name: str, records: pd.DataFrame, files: list[Path], root: Path, stable: str = "") -> str:
    suite = SUITES.get(suite_name)
    metric, checkpoint, rep = suite.headline
    direction = better(metric)
    tbl, n = headline_table(suite_name, records)
    artifacts = [p for p in files if p.parent.name == "artifacts"]
    plots = [p for p in files if p not in artifacts]
    csvs = [p for p in files if p.suffix == ".csv"]
    links = " ".join(f'<a href="{esc(Path(os.path.relpath(p, root)).as_posix())}">{esc(p.name)}</a>' for p in csvs)
    return (
        f'<section id="suite-{esc(suite_name)}" class="suite"><h2>{esc(suite_name)}</h2>'
        f'<p>{esc(suite.summary)}.</p><p class="note">Headline: {esc(metric_words(metric))} ({esc(direction)} is '
        f"better), {esc(checkpoint)} checkpoint, {esc(rep)} code; {n} model configuration(s); presets "
        f"{esc(', '.join(sorted(set(records['preset']))))}. Every metric, checkpoint and code: {links}.</p>"
        f"{_protocol(suite)}{tbl}{_also(suite, records)}{_cross(suite, records)}{_along(suite, stable)}"
        f"<h3>Plots</h3>{figures(plots, root, reduced_notes(records))}"
        f"<h3>Artifacts (best seed of each configuration)</h3>{figures(artifacts, root)}</section>"
    )


def _protocol(suite: Any) -> str:
    return f'<p class="note">Protocol: {esc(suite.protocol)}.</p>' if suite.protocol else ""


def _also(suite: Any, records: pd.DataFrame) -> str:
    """A ranked table per ``also_ranked`` protocol, under the headline's."""
    parts = []
    for which in suite.also_ranked:
        tbl, _ = headline_table(suite.name, records, which)
        parts.append(f"<h3>Also ranked: {esc(metric_words(which.metric))} ({esc(better(which.metric))} is better), "
                     f"{esc(which.checkpoint)} checkpoint, {esc(which.representation)} code</h3>{tbl}")
    return "".join(parts)


def _cross(suite: Any, records: pd.DataFrame) -> str:
    """Models x scorers x sets: a row per (configuration, scorer), a cell per set (the suite's metrics, mean over
    seeds), then per set whether the own scorers' ranking holds under the common ones, and the absent sets."""
    if suite.cross is None:
        return ""
    frame = cross.table(records, suite.name)
    if frame.empty:
        return ""
    c = suite.cross
    sets = [(name, kind) for name, kind, _ in c.sets if name in set(frame[c.set_field])]
    words = " / ".join(metric_words(m) for m in c.metrics)
    columns = [("config", "model configuration"), ("scorer", "scorer")] + [
        (f"set-{name}", f"{name} ({kind}): {words}") for name, kind in sets]
    rows = []
    for i, ((label, scorer), group) in enumerate(frame.groupby(["label", "scorer"], sort=False)):
        cells = [cell(label), cell(scorer)]
        for name, _ in sets:
            here = group[group[c.set_field] == name].set_index("metric")["mean"]
            values = [here.get(m) for m in c.metrics]
            text = " / ".join("-" if v is None else number(v) for v in values)
            cells.append(cell(text, "" if values[0] is None else values[0], True))
        rows.append((f"{suite.name}-cross-{i}", cells))
    about = "; ".join(f"{name}: {text}" for name, _, text in c.sets)
    lines = "".join(f"<li>{esc(line)}</li>" for line in cross.rankings(frame, c) + cross.absent(frame, c))
    lead = suite.headline
    return (f"<h3>Every model under every scorer, on every set</h3><p class=\"note\">Mean over seeds, "
            f"{esc(lead.checkpoint)} checkpoint, {esc(lead.representation)} code; reference rows score the pixels "
            f"alone (no model): what a model must beat. Sets: {esc(about)}. The headline uses "
            f"{esc(dict(lead.where).get('eval_dataset', '-'))}.</p>"
            f"{table(f'table-{suite.name}-cross', columns, rows, 'cross', suite.name)}<ul>{lines}</ul>")


def _along(suite: Any, stable: str) -> str:
    if not stable:
        return ""
    return (f'<p class="note">Along the training budget ({esc(metric_words(suite.trajectory.metric))}, '
            f"trajectory plot and trajectory_ranks.csv below): {esc(stable)}.</p>")


def write(frame: pd.DataFrame, out: Path, root: Path, files: dict[str, list[Path]],
          stable: dict[str, str] | None = None) -> Path:
    """Write ``<root>/index.html`` for the records in ``frame``; ``files``: suite -> files ``build`` wrote."""
    suites = sorted(str(s) for s in frame["suite"].unique())
    runs = frame["run_id"].nunique() if "run_id" in frame else len(frame)
    newest = frame["timestamp"].dropna().max() if "timestamp" in frame else "-"  # not now: a rebuild is identical
    nav = "".join(f'<a href="#suite-{esc(s)}">{esc(s)}</a>' for s in suites)
    body = (
        f"<h1>gwae-bench results</h1><p class=meta>{len(frame)} records of {runs} runs (read from {esc(out)}), "
        f"the newest scored {esc(newest)}.</p><nav>{nav}</nav>"
        '<section id="summary"><h2>Summary across suites</h2><p class="note">Each suite ranks its own model '
        "configurations by its headline metric (rank r of n). Suites score different model sets, so the mean rank "
        "is over the suites a configuration is scored in, shown next to it; compare mean ranks only between equal "
        "counts. Click a column header to sort.</p>"
        f"{summary_table(frame)}"
        f'<p class="note">95% intervals of the mean over seeds: Student-t below {BOOTSTRAP_MIN_N} seeds '
        f"(a percentile bootstrap of so few seeds is about their range), percentile bootstrap from "
        f"{BOOTSTRAP_MIN_N}; one seed has none.</p></section>"
        + "".join(suite_section(s, frame[frame.suite == s], files.get(s, []), root, (stable or {}).get(s, ""))
                  for s in suites)
    )
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>gwae-bench results</title><style>{CSS}</style>'
            f"</head><body>{body}<script>{JS}</script></body></html>\n")
    path = Path(root) / INDEX
    write_text_atomic(path, page)
    return path
