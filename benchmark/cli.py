"""Command line: ``python -m benchmark {run,leaderboard,list}``.

Every input is validated (names, values, data files and their checksums) before anything is
written, and user errors print one line on stderr with a non-zero exit and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmark.errors import BenchmarkError

EXIT_USAGE = 2


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
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct non-negative integers, got {text!r}")
    return seeds


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set prior.mode=fixed --set z_dim=8`` -> nested dict; values parsed as JSON when they can be."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BenchmarkError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train and score the models of a suite")
    run.add_argument("--suite", required=True)
    run.add_argument("--models", type=_csv("model"), help="comma-separated model names (default: the suite's)")
    run.add_argument("--preset", default="default", help="smoke | default | paper (default: default)")
    run.add_argument("--seeds", type=_seeds, help="comma-separated seeds (default: the preset's)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default: runs/)")
    run.add_argument("--data-root", type=Path, default=None,
                     help="folder with full datasets in torchvision's layouts (or $GWAE_BENCH_DATA)")
    run.add_argument("--device", default="auto", help="cpu | cuda | auto (default: auto)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="model config override for every model, e.g. prior.mode=fixed (repeatable)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    lb = sub.add_parser("leaderboard", help="rebuild leaderboards and plots from stored records")
    lb.add_argument("--out", type=Path, default=Path("runs"), help="results folder to read (default: runs/)")
    lb.add_argument("--to", type=Path, default=None, help="destination (default: inside --out)")

    sub.add_parser("list", help="registered suites, models, priors, datasets and metrics")
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark import leaderboard, runner
    from benchmark.data import resolve_data_root
    from benchmark.suites import SUITES
    from benchmark.trainer import resolve_device

    data_root = resolve_data_root(args.data_root)
    device = resolve_device(args.device)
    suite = SUITES.get(args.suite)
    specs = runner.plan(
        args.suite, args.preset, args.models, args.seeds, parse_overrides(args.overrides),
        data_source="embedded" if data_root is None else "data_root",
    )
    data = runner.load_suite_data(suite, suite.presets[args.preset], data_root)
    print(f"{len(specs)} run(s) of suite {args.suite} ({args.preset}) on {device.type}; results in {args.out}",
          file=sys.stderr)
    for i, spec in enumerate(specs, 1):
        records = runner.execute(spec, args.out, data, device, progress=not args.no_progress)
        lead = [r for r in records if r["metric"] == suite.headline[0] and r["checkpoint"] == suite.headline[1]
                and r["representation"] == suite.headline[2]]
        shown = f"{suite.headline[0]} = {lead[0]['value']:.4f}" if lead else "done"
        print(f"[{i}/{len(specs)}] {spec.run_id}: {shown}", file=sys.stderr)
    leaderboard.build(args.out)
    table = leaderboard.headline(args.out, args.suite)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"leaderboard: {args.out / args.suite / 'leaderboard.csv'}", file=sys.stderr)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark import leaderboard

    for path in leaderboard.build(args.out, args.to):
        print(path)
    return 0


def cmd_list(_: argparse.Namespace) -> int:
    from benchmark.data import DATASETS
    from benchmark.suites import SUITES
    from metrics import METRICS
    from models import MODELS
    from models.priors import PRIORS

    for title, reg in (("suites", SUITES), ("models", MODELS), ("priors", PRIORS), ("datasets", DATASETS),
                       ("metrics", METRICS)):
        print(f"{title}:")
        for entry in reg:
            extra = f" [presets: {', '.join(entry.obj.presets)}]" if title == "suites" else ""
            print(f"  {entry.name:<20} {entry.summary}{extra}")
    return 0


COMMANDS = {"run": cmd_run, "leaderboard": cmd_leaderboard, "list": cmd_list}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
