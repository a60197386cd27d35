"""The local launcher: train the runs here, one after the other or ``--jobs N`` at once in worker processes."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterator

from benchmark.config.run_config import RunSpec
from benchmark.launch import cost, workers
from benchmark.launch.base import LAUNCHERS, Launcher, Record, headline_line, seconds_per_step
from benchmark.records.io import read_records
from benchmark.run import threads
from benchmark.run.runner import SuiteData


@LAUNCHERS.register("local", "train the runs here: one after the other, or --jobs N at once (the default)")
class LocalLauncher(Launcher):
    name = "local"
    options = frozenset({"jobs"})

    def check(self) -> None:
        from benchmark.run.trainer import resolve_device

        self.device = resolve_device(self.opts.device)
        self.jobs = self.opts.jobs or 1
        self.policy = threads.policy(self.jobs, self.opts.threads)

    def launch(self, sweep_id: str, specs: list[RunSpec], data: SuiteData, record: Record) -> None:
        out = self.opts.out
        if specs:
            record({s.run_id: None for s in specs}, [])
        jobs = min(self.jobs, max(len(specs), 1))
        print(f"{len(specs)} run(s) to train on {self.device.type}, {jobs} at a time, {self.policy.describe()} "
              f"torch thread(s) each; results in {out} (sweep {sweep_id})", file=sys.stderr)
        self.failed: list[str] = []
        outcomes = self._serial(specs, data) if jobs == 1 else workers.run_packed(
            specs, out, self.opts.data_root, self.opts.device, jobs, self.policy)
        for i, outcome in enumerate(outcomes, 1):
            result = headline_line(specs[0].suite, outcome.records) if outcome.records is not None else \
                f"failed: {outcome.error}"
            print(f"[{i}/{len(specs)}] {outcome.run_id}: {result}", file=sys.stderr, flush=True)
            self.failed += [outcome.run_id] if outcome.records is None else []

    def _serial(self, specs: list[RunSpec], data: SuiteData) -> Iterator[workers.Outcome]:
        """The runs one after the other in this process, each announced with the sweep's ETA."""
        threads.apply(self.policy)
        costs = cost.estimate(specs, len(data.train), self.opts.out)
        measured: dict[str, list[float]] = {}
        for i, spec in enumerate(specs, 1):
            rates = {m: statistics.median(v) for m, v in measured.items()}
            print(cost.progress_line(i, costs, [s.model for s in specs], rates), file=sys.stderr, flush=True)
            outcome = workers.run_one(spec, self.opts.out, self.opts.data_root, self.opts.device, data=data,
                                      progress=self.opts.progress, progress_desc=f"run {i}/{len(specs)} {spec.run_id}")
            if outcome.records and outcome.records[0].get("steps"):
                measured.setdefault(spec.model, []).append(seconds_per_step(outcome.records))
            yield outcome

    def report(self, sweep_id: str, suite: str) -> None:
        from benchmark.results import leaderboard
        from benchmark.results.build import write_all

        out = self.opts.out
        failed = getattr(self, "failed", [])
        if failed:
            print(f"{len(failed)} run(s) failed (reasons: `python -m benchmark status --out {out}`; relaunch them "
                  "with --retry-failed)", file=sys.stderr)
        if not read_records(out, warn=False):
            return
        write_all(out)
        table = leaderboard.headline(out, suite)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"leaderboard: {out / suite / 'leaderboard.csv'}; every suite on one page: {out / 'index.html'}",
              file=sys.stderr)
