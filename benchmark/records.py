"""Result records: one JSON object per (run, metric), stored as ``records.jsonl`` in the run folder.

Every record is self-describing (config, seeds, checkpoint, representation, metric spec,
sample counts, versions, hardware, cost), so leaderboards are rebuilt from records alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmark.errors import BenchmarkError

RECORDS = "records.jsonl"


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_records(run_dir: Path, records: Iterable[dict[str, Any]]) -> Path:
    path = Path(run_dir) / RECORDS
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records))
    return path


def read_records(out: Path) -> list[dict[str, Any]]:
    """Every record under ``out`` (any depth), in a stable order."""
    out = Path(out)
    if not out.is_dir():
        raise BenchmarkError(f"results folder {out} does not exist")
    records: list[dict[str, Any]] = []
    for path in sorted(out.rglob(RECORDS)):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise BenchmarkError(f"{path}:{n}: not a valid JSON record") from None
    return records
