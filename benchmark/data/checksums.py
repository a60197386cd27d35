"""Checksums for shipped and user-supplied data files.

A silently corrupt or different data file changes every number the benchmark reports, so
each file is verified before it is decoded, and a mismatch is one clear ``BenchmarkError``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core.errors import BenchmarkError

MANIFEST_NAME = "MANIFEST.sha256"
SHIPPED_DATA_ENV = "GWAE_BENCH_SHIPPED_DATA"
_CHUNK = 1 << 20


def shipped_data_dir() -> Path:
    """The shipped data, package data beside this module so an installed wheel has it too.

    ``$GWAE_BENCH_SHIPPED_DATA`` overrides it (tests use a corrupted copy).
    """
    override = os.environ.get(SHIPPED_DATA_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent / "shipped"


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so large files never sit in memory twice."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: file not found") from None
    return digest.hexdigest()


def verify(path: Path | str, expected_sha256: str) -> Path:
    """Raise ``BenchmarkError`` unless ``path`` exists and has the expected sha256."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: file not found")
    got = sha256_file(path)
    if got != expected_sha256.lower():
        raise BenchmarkError(
            f"{path}: sha256 mismatch (expected {expected_sha256}, got {got}); "
            "the file is corrupt or not the expected release"
        )
    return path


def read_manifest(data_dir: Path) -> dict[str, str]:
    """Parse ``data_dir/MANIFEST.sha256`` (``sha256sum`` format) into {relative path: sha256}."""
    manifest = data_dir / MANIFEST_NAME
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchmarkError(f"{manifest}: file not found") from None
    entries: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, sep, name = line.partition(" ")
        name = name[1:] if name[:1] in (" ", "*") else name
        if not sep or len(digest) != 64 or not name:
            raise BenchmarkError(f"{manifest}:{number}: not a '<sha256>  <path>' line")
        entries[name] = digest.lower()
    return entries


def verify_manifest(data_dir: Path | None = None) -> list[Path]:
    """Verify every file the manifest lists; returns their paths (for ``--check-data`` style use)."""
    data_dir = shipped_data_dir() if data_dir is None else Path(data_dir)
    return [verify(data_dir / name, digest) for name, digest in read_manifest(data_dir).items()]


def shipped_file(relative: str) -> Path:
    """Path of a shipped data file, verified against the manifest before anyone reads it."""
    data_dir = shipped_data_dir()
    entries = read_manifest(data_dir)
    if relative not in entries:
        raise BenchmarkError(f"{data_dir / MANIFEST_NAME}: no entry for {relative}")
    return verify(data_dir / relative, entries[relative])
