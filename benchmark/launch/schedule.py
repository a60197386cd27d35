"""A sweep from flags to report: its runs, data and states (shared with ``plan``), which runs to launch, the
launch itself recorded in the sweep metadata, and what to print after; ``cli run`` only parses flags."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.config.run_config import RunSpec
from benchmark.launch import launchers, planning, state
from benchmark.launch.base import LaunchOptions
from benchmark.run.budgets import pending, unreachable
from benchmark.run.folder import RunFolder
from benchmark.run.runner import SuiteData
from core.storage import check_output


@dataclass(frozen=True)
class Prepared:
    sweep: planning.Sweep
    specs: list[RunSpec]
    data: SuiteData
    states: list[state.RunState]


def prepare(sweep: planning.Sweep, out: Path, data_root: Path | None) -> Prepared:
    """Runs, data (loaded and checksummed) and run states of ``run``/``plan``; writes nothing."""
    from benchmark.data import resolve_data_root
    from benchmark.run import runner

    root = resolve_data_root(data_root)
    specs = planning.expand(sweep, data_source="embedded" if root is None else "data_root")
    data = runner.load_suite_data(specs[0].config, root)
    states = launchers.sweep_states(out, [s.run_id for s in specs]) if out.is_dir() else [
        state.run_state(out, s.run_id, None, None) for s in specs]
    return Prepared(sweep, specs, data, states)


def wanted(retry_failed: bool) -> str:
    """The state of the runs to launch: missing ones, or with ``--retry-failed`` the failed ones."""
    return "failed" if retry_failed else "missing"


def to_launch(prep: Prepared, out: Path, retry_failed: bool) -> list[RunSpec]:
    """The runs in the wanted state, then finished runs with asked budgets still to score; warns of finished runs
    that kept no weights at some asked budget (those are never scored)."""
    todo_ids = {s.run_id for s in prep.states if s.state == wanted(retry_failed)}
    done = {s.run_id for s in prep.states if s.state == "done"}
    rescore = [s for s in prep.specs if s.run_id in done and pending(out / s.run_id, s.budgets, s.budget_scoring)]
    unkept = {s.run_id: u for s in prep.specs
              if s.run_id in done and (u := unreachable(out / s.run_id, s.budgets, s.budget_scoring))}
    if unkept:
        first, steps = next(iter(unkept.items()))
        print(f"warning: {len(unkept)} finished run(s) kept no weights at some of the asked budgets, which are not "
              f"scored (e.g. {first}: step(s) {', '.join(map(str, steps))}); a budget's weights are kept only "
              "while the run trains past it", file=sys.stderr)
    return [s for s in prep.specs if s.run_id in todo_ids] + rescore


def run_sweep(launcher_name: str, opts: LaunchOptions, sweep: planning.Sweep, retry_failed: bool) -> int:
    """Launch the sweep's runs to do with ``launcher_name`` and report; 1 if a run failed, else 0. The launcher
    checks its environment and the output folder is checked before anything is written."""
    launcher = launchers.LAUNCHERS.get(launcher_name)(opts)
    launcher.check()
    prep = prepare(sweep, opts.out, opts.data_root)
    check_output(opts.out)
    sid = state.sweep_id(sweep.suite, prep.specs)
    todo = to_launch(prep, opts.out, retry_failed)
    launched = {s.run_id for s in todo}
    rescored = sum(s.state == "done" for s in prep.states if s.run_id in launched)
    again = f", {rescored} done to score at new budgets" if rescored else ""
    print(f"sweep {sid}: {len(prep.specs)} run(s) of suite {sweep.suite} ({sweep.preset}): "
          f"{state.counts_line(prep.states)}; {len(todo)} to launch ({launcher.name}){again}", file=sys.stderr)
    failed = sum(s.state == "failed" for s in prep.states)
    if failed and not retry_failed:
        print(f"{failed} failed run(s) left alone: see `status`, and relaunch them with --retry-failed",
              file=sys.stderr)
    meta = state.load_meta(opts.out, sid) or state.new_meta(sid, sweep, prep.specs)
    for spec in todo:
        RunFolder(opts.out / spec.run_id).error.unlink(missing_ok=True)

    submission: dict[str, Any] | None = None

    def record(jobs: dict[str, Any], arrays: list[dict[str, Any]]) -> None:
        nonlocal submission
        submission = state.record_submission(opts.out, meta, launcher.name, opts.given(), jobs, arrays, submission)

    launcher.launch(sid, todo, prep.data, record)
    launcher.report(sid, sweep.suite)
    return 1 if getattr(launcher, "failed", None) else 0
