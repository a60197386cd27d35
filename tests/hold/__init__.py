"""Holding a real run after an epoch, for tests that interrupt CLI processes at a known point (events, never
wall-clock budgets). ``held`` gives the environment of such a child: ``sitecustomize`` in this folder, run at
the start of every Python process that inherits it (spawned workers and SLURM jobs too), installs the hold as
the trainer's ``after_epoch`` seam."""

import os
from pathlib import Path

HOLD_ENV = "GWAE_BENCH_HOLD"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def pythonpath() -> str:
    """``PYTHONPATH`` that loads this folder's ``sitecustomize`` and the repository's packages."""
    return os.pathsep.join([str(HERE), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def held(hold: Path) -> dict[str, str]:
    """Env that makes training touch ``hold/<run id>.epoch<N>`` after each epoch and wait while ``hold/hold``
    exists (created here)."""
    hold.mkdir(exist_ok=True)
    (hold / "hold").touch()
    return {HOLD_ENV: str(hold), "PYTHONPATH": pythonpath()}
