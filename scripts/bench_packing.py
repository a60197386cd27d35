"""Runs per hour of a sweep at several ``--jobs`` values, through the real CLI (a benchmark, not a test).

Each configuration runs the same sweep into a fresh results folder and times the whole command
(imports, data, training, scoring, leaderboard). ``--threads-as-before`` adds the behaviour before the
thread policy: every packed run with torch's default thread count (one per core), i.e. oversubscribed.

    python scripts/bench_packing.py                                   # ood smoke and a default VAE pair
    python scripts/bench_packing.py --case ood:default:vae:0,1 --jobs 1,2
    python scripts/bench_packing.py --device cuda --jobs 1,2,4,8      # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ["ood:smoke:vae,dagmm,dagmm-zong,gwae-gmp:0", "ood:default:vae:0,1"]


def run_case(case: str, jobs: int, device: str, threads: int | None) -> dict:
    suite, preset, models, seeds = case.split(":")
    n_runs = len(models.split(",")) * len(seeds.split(","))
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "benchmark", "run", "--suite", suite, "--preset", preset, "--models", models,
               "--seeds", seeds, "--jobs", str(jobs), "--device", device, "--no-progress", "--out", out]
        cmd += ["--threads", str(threads)] if threads else []
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return {"case": case, "jobs": jobs, "threads": threads or "policy", "runs": n_runs, "wall_s": round(wall, 1),
            "runs_per_hour": round(3600 * n_runs / wall, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", action="append", help="SUITE:PRESET:MODELS:SEEDS (repeatable)")
    p.add_argument("--jobs", default="1,2", help="comma-separated --jobs values")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads-as-before", action="store_true",
                   help="also run every packed configuration with torch's default threads (cores per run)")
    a = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    for case in a.case or DEFAULT_CASES:
        for jobs in (int(j) for j in a.jobs.split(",")):
            rows.append(run_case(case, jobs, a.device, None))
            print(json.dumps(rows[-1]), flush=True)
            if a.threads_as_before and jobs > 1:
                rows.append(run_case(case, jobs, a.device, cores))
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n{cores} usable cores, device {a.device}")
    print(f"{'case':<48} {'jobs':>4} {'threads':>8} {'runs':>4} {'wall s':>8} {'runs/h':>8}")
    for r in rows:
        print(f"{r['case']:<48} {r['jobs']:>4} {r['threads']!s:>8} {r['runs']:>4} {r['wall_s']:>8} "
              f"{r['runs_per_hour']:>8}")


if __name__ == "__main__":
    main()
