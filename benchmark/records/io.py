"""Result records: one JSON object per (run, metric), stored as ``records.jsonl`` in the run folder.

Every record is self-describing (config, seeds, checkpoint, representation, metric spec,
sample counts, versions, hardware, cost), so leaderboards are rebuilt from records alone.
The file ends with a completion marker (record count and SHA-256 of the lines before it):
a file cut short, emptied or edited has no valid marker, and its run is not done.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmark.records.schema import upgrade
from core.errors import BenchmarkError
from core.storage import write_text_atomic

RECORDS = "records.jsonl"
MARKER = "records_complete"

__all__ = ["RECORDS", "read_records", "run_records", "seal_records", "write_json", "write_records"]


def write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _marker(body: str, count: int) -> str:
    digest = hashlib.sha256(body.encode()).hexdigest()
    return json.dumps({MARKER: {"records": count, "sha256": digest}}) + "\n"


def write_records(run_dir: Path, records: Iterable[dict[str, Any]], name: str = RECORDS) -> Path:
    """``records.jsonl`` (or another record file of the run, e.g. ``trajectory.jsonl``) with its marker."""
    lines = [json.dumps(r, sort_keys=True, default=str) + "\n" for r in records]
    body = "".join(lines)
    path = Path(run_dir) / name
    write_text_atomic(path, body + _marker(body, len(lines)))
    return path


def run_records(path: Path) -> list[dict[str, Any]]:
    """The records of one ``records.jsonl`` in today's schema (``schema.upgrade``); ``BenchmarkError`` saying why
    if it is not whole."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"unreadable ({exc})") from None
    if not text:
        raise BenchmarkError("empty")
    body, _, last = text.rstrip("\n").rpartition("\n")
    body = body + "\n" if body else ""
    try:
        marker = json.loads(last).get(MARKER) if last.startswith("{") else None
    except json.JSONDecodeError:
        marker = None
    if not isinstance(marker, dict):
        raise BenchmarkError("no completion marker (cut short, or written by an older version)")
    lines = body.splitlines()
    if marker.get("records") != len(lines) or marker.get("sha256") != hashlib.sha256(body.encode()).hexdigest():
        raise BenchmarkError(f"completion marker does not match its {len(lines)} record(s) (damaged or edited)")
    return [upgrade(r) for r in _objects(lines)]


def _objects(lines: list[str]) -> list[dict[str, Any]]:
    """One JSON object per line, or ``BenchmarkError`` naming the first line that is not one."""
    records = []
    for n, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise BenchmarkError(f"line {n} is not valid JSON") from None
        if not isinstance(record, dict):
            raise BenchmarkError(f"line {n} is not a JSON object")
        records.append(record)
    return records


def iter_runs(out: Path, name: str = RECORDS) -> Iterator[tuple[Path, list[dict[str, Any]] | str]]:
    """(records file, its records or why it is damaged) under ``out`` (any depth), in a stable order."""
    out = Path(out)
    if not out.is_dir():
        raise BenchmarkError(f"results folder {out} does not exist")
    for path in sorted(out.rglob(name)):
        try:
            yield path, run_records(path)
        except BenchmarkError as exc:
            yield path, str(exc)


def read_records(out: Path, warn: bool = True) -> list[dict[str, Any]]:
    """Every record of every whole run under ``out``; a damaged run is skipped (and named, if ``warn``)."""
    records: list[dict[str, Any]] = []
    for path, found in iter_runs(out):
        if isinstance(found, str):
            if warn:
                print(f"warning: skipping {path}: {found}; rerun `run` to re-score it", file=sys.stderr)
        else:
            records += found
    return records


def seal_records(path: Path) -> int | None:
    """Add the completion marker to a ``records.jsonl`` written before markers existed; the record count.

    For folders the user trusts (``python -m benchmark seal``): every line must be a JSON object with a
    ``metric`` and a ``value``, else ``BenchmarkError`` says which. A file that is already whole is left
    alone (``None``); a file with a marker that does not match is damaged, not old, and is refused.
    """
    try:
        run_records(path)
        return None
    except BenchmarkError as exc:
        if not str(exc).startswith("no completion marker"):
            raise
    try:
        records = _objects([line for line in Path(path).read_text().splitlines() if line.strip()])
    except BenchmarkError as exc:
        raise BenchmarkError(f"{exc}: not sealed") from None
    for n, record in enumerate(records, 1):
        if "metric" not in record or "value" not in record:
            raise BenchmarkError(f"line {n} is not a record (no metric and value): not sealed")
    if not records:
        raise BenchmarkError("no records: not sealed")
    write_records(Path(path).parent, records)
    return len(records)
