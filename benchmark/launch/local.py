"""The local launcher: train the runs here, one after the other or ``--jobs N`` at once in worker processes."""

from __future__ import annotations

import statistics
import sys

from benchmark.config.run_config import RunSpec
from benchmark.launch import cost, workers
from benchmark.launch.base import LAUNCHERS, Launcher, Record, headline_line, seconds_per_step
from benchmark.records.io import read_records
from benchmark.run import runner, threads
from benchmark.run.runner import SuiteData
from core.errors import OutputError


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
        if jobs > 1:
            self._launch_packed(specs, jobs)
            return
        threads.apply(self.policy)
        costs = cost.estimate(specs, len(data.train), out)
        measured: dict[str, list[float]] = {}
        for i, spec in enumerate(specs, 1):
            rates = {m: statistics.median(v) for m, v in measured.items()}
            print(cost.progress_line(i, costs, [s.model for s in specs], rates), file=sys.stderr, flush=True)
            try:
                records = runner.execute(spec, out, data, self.device, progress=self.opts.progress,
                                         progress_desc=f"run {i}/{len(specs)} {spec.run_id}")
            except OutputError:
                raise  # the results folder itself is the problem: every later run would fail the same way
            except Exception as exc:  # one failing run never stops the others; its reason stays in its folder
                error = workers.record_failure(out / spec.run_id, spec.run_id, "local", exc)
                self.failed.append(spec.run_id)
                print(f"[{i}/{len(specs)}] {spec.run_id}: failed: {error}", file=sys.stderr)
                continue
            if records and records[0].get("steps"):
                measured.setdefault(spec.model, []).append(seconds_per_step(records))
            print(f"[{i}/{len(specs)}] {spec.run_id}: {headline_line(spec.suite, records)}", file=sys.stderr)

    def _launch_packed(self, specs: list[RunSpec], jobs: int) -> None:
        outcomes = workers.run_packed(specs, self.opts.out, self.opts.data_root, self.opts.device, jobs, self.policy)
        for i, outcome in enumerate(outcomes, 1):
            result = headline_line(specs[0].suite, outcome.records) if outcome.records is not None else \
                f"failed: {outcome.error}"
            print(f"[{i}/{len(specs)}] {outcome.run_id}: {result}", file=sys.stderr, flush=True)
            self.failed += [outcome.run_id] if outcome.records is None else []

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
