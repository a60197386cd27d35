"""Command line: ``python -m benchmark {run,plan,status,collect,leaderboard,report,list}``.

Every input is validated (names, values, data files and their checksums) before anything is
written, and user errors print one line on stderr with a non-zero exit and no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from core.errors import BenchmarkError

EXIT_USAGE = 2
SEED_MAX = 2**32 - 1  # numpy's seed range; torch and Python take it too


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line (status 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def _csv(kind: str):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"empty {kind} list")
        return items

    return parse


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(t) for t in _csv("seed")(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if any(not 0 <= s <= SEED_MAX for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct integers in 0..{SEED_MAX}, got {text!r}")
    return seeds


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set prior.mode=fixed --set z_dim=8`` -> nested dict; values parsed as JSON when they can be."""
    from core.config import nest

    flat: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BenchmarkError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            flat[key] = json.loads(raw)
        except json.JSONDecodeError:
            flat[key] = raw
    return nest(flat)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _steps(text: str) -> tuple[int, ...]:
    from benchmark.run.budgets import parse_steps

    try:
        return parse_steps(text)
    except BenchmarkError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--score-at {text!r}: ")) from None


def _selection(p: argparse.ArgumentParser) -> None:
    """What to run: a suite and flags, or a sweep file (shared by ``run`` and ``plan``)."""
    p.add_argument("--suite", help="suite name (or give --sweep FILE)")
    p.add_argument("--sweep", type=Path, metavar="FILE",
                   help="sweep file (TOML: suite, preset, models, priors, seeds, [grid], [train]); see slurm/")
    p.add_argument("--models", type=_csv("model"), help="comma-separated model names (default: the suite's)")
    p.add_argument("--preset", help="smoke | default | paper (default: default)")
    p.add_argument("--seeds", type=_seeds, help="comma-separated seeds (default: the preset's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="model config override for every model, e.g. prior.mode=fixed (repeatable)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default: runs/)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder with full datasets in torchvision's layouts (or $GWAE_BENCH_DATA)")
    p.add_argument("--retry-failed", action="store_true",
                   help="launch the failed runs alone (default: the runs that have neither records nor a job)")
    p.add_argument("--score-at", type=_steps, metavar="STEPS",
                   help="training steps at which to keep the weights and score them, e.g. 250,500,1000, or off "
                   "(default: the preset's budgets); not part of the run id, so adding steps never retrains")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="fp32 (the paper's, the default) or bf16: forward passes under bf16 autocast, fp32 kept "
                   "where it must be (docs/speed.md); part of the run id")
    p.add_argument("--score-with", choices=("cheap", "full"), default=None,
                   help="at those steps, the suite's trajectory metrics (cheap, the default) or every metric (full)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m benchmark", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train and score the models of a suite or sweep (here, or on SLURM)")
    _selection(run)
    run.add_argument("--device", default="auto", help="cpu | cuda | auto (default: auto)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--launcher", default="local", help="local | slurm: `list` shows them (default: local)")
    run.add_argument("--threads", type=_positive, help="torch threads per run (default: usable cores / runs packed "
                     "together: affinity, SLURM_CPUS_PER_TASK, --jobs, --runs-per-task)")
    run.add_argument("--jobs", type=_positive, help="--launcher local: runs trained at once, each in its own process "
                     "(default: 1); GPUs are shared out in turn where several are visible")
    slurm = run.add_argument_group("--launcher slurm")
    slurm.add_argument("--partition", help="SLURM partition (default: the cluster's default)")
    slurm.add_argument("--gpus-per-task", type=_positive, help="GPUs per array element")
    slurm.add_argument("--cpus-per-task", type=_positive, help="CPUs per array element (also torch's threads)")
    slurm.add_argument("--mem-gb", type=_positive, help="memory per array element, GB")
    slurm.add_argument("--time", type=_positive, metavar="MIN",
                       help="time limit per element in minutes (default: 60); a timed-out element is requeued "
                       "and resumes from its last checkpoint")
    slurm.add_argument("--array-parallelism", type=_positive, help="elements running at once (default: 256)")
    slurm.add_argument("--max-array-size", type=_positive,
                       help="split arrays above this size (default: the cluster's MaxArraySize)")
    slurm.add_argument("--runs-per-task", type=_positive, metavar="K",
                       help="runs trained at once in each array element, sharing its CPUs and GPU (default: 1)")

    pl = sub.add_parser("plan", help="list every run of a suite or sweep with its estimated cost; submits nothing")
    _selection(pl)
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.add_argument("--jobs", type=_positive, default=1, help="runs at once: show the packing and its wall time")

    st = sub.add_parser("status", help="state of the runs of the sweeps in a results folder")
    st.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default: runs/)")
    st.add_argument("--sweep-id", help="one sweep (default: every sweep in --out)")
    st.add_argument("--all", action="store_true", help="list finished runs too")

    co = sub.add_parser("collect", help="gather finished sweeps: report failures, rebuild the leaderboards")
    co.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default: runs/)")
    co.add_argument("--sweep-id", help="one sweep (default: every sweep in --out)")
    co.add_argument("--wait", action="store_true", help="poll until no run is pending or running")
    co.add_argument("--poll", type=float, default=30.0, metavar="S", help="seconds between polls (default: 30)")
    co.add_argument("--timeout", type=float, default=0.0, metavar="S", help="stop waiting after S seconds (0: never)")
    co.add_argument("--to", type=Path, default=None, help="leaderboard destination (default: inside --out)")

    lb = sub.add_parser("leaderboard", help="rebuild leaderboards, summary and plots from stored records")
    lb.add_argument("--out", type=Path, default=Path("runs"), help="results folder to read (default: runs/)")
    lb.add_argument("--to", type=Path, default=None, help="destination (default: inside --out)")

    se = sub.add_parser("seal", help="add completion markers to the records of runs written before markers existed "
                        "(folders you trust)")
    se.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default: runs/)")

    rp = sub.add_parser("report", help="rebuild the leaderboards and write one HTML page of them all, <to>/index.html")
    rp.add_argument("--out", type=Path, default=Path("runs"), help="results folder to read (default: runs/)")
    rp.add_argument("--to", type=Path, default=None, help="destination (default: inside --out)")

    sub.add_parser("list", help="registered suites, models, priors, datasets, metrics and launchers")
    return p


def _sweep(args: argparse.Namespace) -> Any:
    from benchmark.launch import planning

    if args.sweep is not None:
        given = [flag for flag, value in (("--suite", args.suite), ("--models", args.models),
                                          ("--preset", args.preset), ("--seeds", args.seeds),
                                          ("--set", args.overrides)) if value]
        if given:
            raise BenchmarkError(f"--sweep {args.sweep} names the suite, preset, models and seeds itself: "
                                 f"drop {', '.join(given)}")
        sweep = planning.load_sweep(args.sweep)
    elif not args.suite:
        raise BenchmarkError("give --suite NAME or --sweep FILE")
    else:
        sweep = planning.Sweep(suite=args.suite, preset=args.preset or planning.DEFAULT_PRESET, models=args.models,
                               seeds=args.seeds, overrides=parse_overrides(args.overrides))
    given = {k: v for k, v in (("score_at", args.score_at), ("budget_scoring", args.score_with)) if v is not None}
    if args.precision is not None:
        given["train"] = {**sweep.train, "precision": args.precision}
    return dataclasses.replace(sweep, **given)


def _prepare(args: argparse.Namespace) -> Any:
    from benchmark.launch import schedule

    return schedule.prepare(_sweep(args), args.out, args.data_root)


def _counts(states: list[Any]) -> str:
    from benchmark.launch.state import counts_line

    return counts_line(states)


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.launch import schedule
    from benchmark.launch.base import LaunchOptions

    opts = LaunchOptions(
        out=args.out, data_root=args.data_root, device=args.device, progress=not args.no_progress,
        partition=args.partition, gpus_per_task=args.gpus_per_task, cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb, time=args.time, array_parallelism=args.array_parallelism,
        max_array_size=args.max_array_size, threads=args.threads, jobs=args.jobs, runs_per_task=args.runs_per_task,
    )
    return schedule.run_sweep(args.launcher, opts, _sweep(args), args.retry_failed)


def cmd_plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from benchmark.launch import cost, state
    from benchmark.launch.cost import duration as _duration
    from benchmark.launch.schedule import wanted

    prep = _prepare(args)
    sweep, specs, data, states = prep.sweep, prep.specs, prep.data, prep.states
    sid = state.sweep_id(sweep.suite, specs)
    costs = cost.estimate(specs, len(data.train), args.out)
    rows = [{"state": st.state, "run_id": spec.run_id, "model": spec.model, **dataclasses.asdict(spec.config.labels),
             "seed": spec.seed,
             **cost} for spec, st, cost in zip(specs, states, costs, strict=True)]
    todo = [r for r in rows if r["state"] == wanted(args.retry_failed)]
    slots, wall = cost.pack([r["est_s"] for r in todo], args.jobs)
    for r, slot in zip(todo, slots, strict=True):
        r["slot"] = slot
    if args.json:
        print(json.dumps({"sweep_id": sid, "suite": sweep.suite, "preset": sweep.preset, "jobs": args.jobs,
                          "packed_wall_s_lower": wall, "runs": rows}, indent=2))
        return 0
    print(f"sweep {sid}: {len(rows)} run(s) of suite {sweep.suite} ({sweep.preset}): {_counts(states)}")
    columns = ["state", "run_id", "prior", "hparams", "seed", "steps", "est_s", "slot"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table["est_s"] = table["est_s"].map(_duration)
    table["slot"] = table["slot"].map(lambda v: "-" if pd.isna(v) else int(v))
    print(table.rename(columns={"est_s": "estimate"}).to_string(index=False))
    print(f"estimated time: {_duration(sum(r['est_s'] for r in rows))} in all, "
          f"{_duration(sum(r['est_s'] for r in todo))} for the {len(todo)} run(s) to launch: training "
          f"{_duration(sum(r['train_s'] for r in todo))} (an upper bound: max_epochs x steps per epoch; early "
          f"stopping may end runs sooner) and scoring {_duration(sum(r['score_s'] for r in todo))} "
          f"({'; '.join(sorted({r['score_source'] for r in todo})) or '-'})")
    if args.jobs > 1:
        print(f"packed {args.jobs} at a time (`run --jobs {args.jobs}`, column slot): wall time {_duration(wall)} if "
              f"packed runs do not slow each other, up to {_duration(sum(r['est_s'] for r in todo))} if each run's "
              "speed scales with its share of the cores (scripts/bench_packing.py measures where it lies)")
    for model, group in pd.DataFrame(rows).groupby("model", sort=False):
        first = group.iloc[0]
        print(f"  {model}: {first['s_per_step']:.3f} s/step ({first['cost_source']})")
    return 0


def _metas(args: argparse.Namespace) -> list[dict[str, Any]]:
    from benchmark.launch import state

    if not args.out.is_dir():
        raise BenchmarkError(f"results folder {args.out} does not exist")
    metas = state.all_metas(args.out)
    if args.sweep_id:
        metas = [m for m in metas if m["sweep_id"] == args.sweep_id]
        if not metas:
            known = ", ".join(m["sweep_id"] for m in state.all_metas(args.out)) or "none"
            raise BenchmarkError(f"no sweep {args.sweep_id!r} in {args.out / state.SWEEPS_DIR} (known: {known})")
    if not metas:
        raise BenchmarkError(f"no sweeps in {args.out / state.SWEEPS_DIR} (start one with `python -m benchmark run`)")
    return metas


def _describe(args: argparse.Namespace, state: Any) -> str:
    from benchmark.launch.launchers import log_path

    log = log_path(args.out, state.run_id) if state.state in ("failed", "missing") else None
    return (f"  {state.state:<8} {state.run_id}  job {state.job or '-'}  {state.detail}"
            + (f"  log: {log}" if log else ""))


def cmd_status(args: argparse.Namespace) -> int:
    from benchmark.launch import launchers

    for meta in _metas(args):
        states = launchers.sweep_states(args.out, list(meta["runs"]))
        arrays = [a["job_id"] for sub in meta["submissions"] for a in sub["arrays"]]
        print(f"sweep {meta['sweep_id']} ({meta['suite']}, {meta['preset']}; {meta['source']}; created "
              f"{meta['created']}; arrays: {' '.join(arrays) or '-'}): {len(states)} run(s): {_counts(states)}")
        for state in sorted(states, key=lambda s: ("running", "pending", "failed", "missing", "done").index(s.state)):
            if args.all or state.state != "done":
                print(_describe(args, state))
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    import time

    from benchmark.launch import launchers
    from benchmark.results import leaderboard
    from benchmark.results.build import write_all

    metas = _metas(args)
    run_ids = list(dict.fromkeys(r for m in metas for r in m["runs"]))
    start, shown = time.monotonic(), ""
    while True:
        states = launchers.sweep_states(args.out, run_ids)
        active = sum(s.state in ("pending", "running") for s in states)
        if not args.wait or not active or (args.timeout and time.monotonic() - start > args.timeout):
            break
        if _counts(states) != shown:
            shown = _counts(states)
            print(f"waiting for {active} run(s): {shown}", file=sys.stderr, flush=True)
        time.sleep(args.poll)
    for state in states:
        if state.state != "done":
            print(_describe(args, state), file=sys.stderr)
    if leaderboard.usable_records(args.out, warn=False):
        for path in write_all(args.out, args.to):
            print(path)
        for suite in dict.fromkeys(m["suite"] for m in metas):
            table = leaderboard.headline(args.out, suite)
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    done = sum(s.state == "done" for s in states)
    print(f"collected {done} of {len(states)} run(s): {_counts(states)}", file=sys.stderr)
    return 0 if done == len(states) else 1


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark.results.build import write_all

    for path in write_all(args.out, args.to):
        print(path)
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    from benchmark.records.io import RECORDS, seal_records

    if not args.out.is_dir():
        raise BenchmarkError(f"results folder {args.out} does not exist")
    sealed = refused = 0
    for path in sorted(args.out.rglob(RECORDS)):
        try:
            count = seal_records(path)
        except BenchmarkError as exc:
            refused += 1
            print(f"not sealed: {path}: {exc}", file=sys.stderr)
            continue
        if count is not None:
            sealed += 1
            print(f"sealed {path} ({count} records)")
    print(f"{sealed} run(s) sealed, {refused} refused", file=sys.stderr)
    return 1 if refused else 0


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.results.build import write_all

    page = write_all(args.out, args.to)[-1]
    print(f"{page} ({page.stat().st_size:,} bytes; open it in a browser, offline)")
    return 0


def cmd_list(_: argparse.Namespace) -> int:
    from benchmark.data import DATASETS
    from benchmark.launch.launchers import LAUNCHERS
    from benchmark.suites import SUITES
    from metrics import METRICS
    from models import MODELS
    from models.gwae.priors import PRIORS

    for title, reg in (("suites", SUITES), ("models", MODELS), ("priors", PRIORS), ("datasets", DATASETS),
                       ("metrics", METRICS), ("launchers", LAUNCHERS)):
        print(f"{title}:")
        for entry in reg:
            extra = f" [presets: {', '.join(entry.obj.presets)}]" if title == "suites" else ""
            print(f"  {entry.name:<20} {entry.summary}{extra}")
    return 0


COMMANDS = {
    "run": cmd_run, "plan": cmd_plan, "status": cmd_status, "collect": cmd_collect, "leaderboard": cmd_leaderboard,
    "report": cmd_report, "list": cmd_list, "seal": cmd_seal,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler), raised where SIGINT would raise ``KeyboardInterrupt``."""


def _terminate(signum: int, _frame: Any) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run a command. ``KeyboardInterrupt`` is reported in one line and re-raised (``__main__`` turns it into
    status 130, or 143 for SIGTERM), so a caller in the same process, e.g. pytest, stops too."""
    args = build_parser().parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return COMMANDS[args.command](args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"{how}: rerun the same command to resume from the last checkpoint", file=sys.stderr, flush=True)
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
