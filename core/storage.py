"""Writing results folders safely: atomic files that honour the umask, write failures as one line, run locks.

Every file goes to a temporary name in its folder and is renamed into place, so a reader (or a
rerun after a crash or a full disk) never sees half a file; an ``OSError`` becomes an
``OutputError`` that says what went wrong (disk full, quota, read-only, not a directory).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import OutputError

REASONS = {
    errno.ENOSPC: "no space left on the device (disk full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a path component is a file, not a directory",
    errno.EEXIST: "exists and is not a directory",
}
LOCK = ".lock"


def reason(exc: OSError) -> str:
    return REASONS.get(exc.errno or 0, exc.strerror or str(exc))


def file_mode() -> int:
    """``0o666 & ~umask``: what ``open`` would give; ``mkstemp``'s 0600 would hide files from the group."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def make_dir(path: Path) -> None:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path}: {reason(exc)}") from None


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename; on any failure nothing is left."""
    path = Path(path)
    make_dir(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), file_mode())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {reason(exc)}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def check_output(out: Path) -> None:
    """Before training: ``out`` is (or can become) a writable folder, checked without writing to it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a directory")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"--out {out}: {probe} is a file, not a directory")
    try:
        stat = os.statvfs(probe)
    except OSError as exc:
        raise OutputError(f"--out {out}: {reason(exc)}") from None
    if stat.f_flag & os.ST_RDONLY:
        raise OutputError(f"--out {out} is on a read-only file system")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: permission denied (cannot write in {probe})")
    if stat.f_bavail * stat.f_frsize < 1 << 20:
        raise OutputError(f"--out {out}: no space left on the device (under 1 MiB free)")


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``run_dir/.lock``: a second process for the same run waits here.

    The kernel drops the lock when its holder dies (even ``kill -9``), so a stale lock never blocks.
    """
    make_dir(run_dir)
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {reason(exc)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting: another process is running {Path(run_dir).name} (lock {path})", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
