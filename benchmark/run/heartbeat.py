"""A run's heartbeat: ``heartbeat.json`` in its run folder says which process is training or scoring it.

``status`` reads it so that a run in progress under the local launcher (which has no queue to ask)
shows as running rather than missing. On the same host the process id decides; elsewhere (a
cluster node) a beat younger than ``STALE_S`` does.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from benchmark.records.io import write_json
from benchmark.run.folder import RunFolder

#: A beat older than this from another host means its process is gone (beats come at least every
#: ``curves.FLUSH_EVERY_S`` while training; scoring a paper-size run takes minutes, not more).
STALE_S = 1800.0


def beat(run_dir: Path, phase: str, **info: Any) -> None:
    write_json(RunFolder(run_dir).heartbeat, {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
                                           "phase": phase, **info})


def clear(run_dir: Path) -> None:
    RunFolder(run_dir).heartbeat.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:  # never signal a process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(run_dir: Path) -> str | None:
    """What the run's live process is doing (e.g. 'training: epoch 2, step 40 of 300'), or None."""
    path = RunFolder(run_dir).heartbeat
    try:
        beat_ = json.loads(path.read_text())
    except (OSError, ValueError):  # absent, unreadable (an --out that is a file), or not JSON
        return None
    age = time.time() - float(beat_.get("time", 0))
    if beat_.get("host") == socket.gethostname():
        if not _alive(int(beat_.get("pid", -1))):
            return None
    elif age > STALE_S:
        return None
    where = f"pid {beat_.get('pid')} on {beat_.get('host')}, last beat {age:.0f} s ago"
    if beat_.get("phase") == "training":
        return (f"training: epoch {beat_.get('epoch')}, step {beat_.get('step')} of at most "
                f"{beat_.get('total_steps')} ({where})")
    return f"{beat_.get('phase', 'working')} ({where})"
