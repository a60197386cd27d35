"""MNIST: white digits on black, (N, 1, 28, 28) uint8.

Splits: ``train`` is 90% (54,000) and ``val`` 10% (6,000) of the official 60k training set,
``test`` is the official 10k test set. The train/val split uses a FIXED permutation seed
(``SPLIT_SEED = 0``), independent of run seeds, so every run of every model is trained and
validated on the same images and results stay comparable across seeds.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np
import torch

from benchmark.data.checksums import shipped_data_dir, shipped_file
from benchmark.data.imageset import ImageSet, loader
from core.errors import BenchmarkError

SPLITS = ("train", "val", "test")
SPLIT_SEED = 0
VAL_FRACTION = 0.1
# Canonical md5 of the decompressed files (the values torchvision checks).
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def parse_idx(data: bytes, where: str = "<bytes>") -> np.ndarray:
    """Decode an IDX blob: magic ``00 00 <dtype> <ndim>``, ndim big-endian uint32 sizes, data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise BenchmarkError(f"{where}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BenchmarkError(f"{where}: IDX header truncated")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise BenchmarkError(f"{where}: IDX size {len(data)} bytes, header {dims} implies {expected}")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file is gzip (detected by its magic, not its name)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise BenchmarkError(f"{path}: corrupt gzip ({exc})") from None


def read_idx(path: Path | str) -> np.ndarray:
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def _decode(images_blob: bytes, labels_blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    for blob, magic, kind in ((images_blob, _IMAGES_MAGIC, "images"), (labels_blob, _LABELS_MAGIC, "labels")):
        got = int.from_bytes(blob[:4], "big")
        if got != magic:
            raise BenchmarkError(f"{where}: MNIST {kind} file has magic {got}, expected {magic}")
    images = parse_idx(images_blob, f"{where} images")
    labels = parse_idx(labels_blob, f"{where} labels")
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise BenchmarkError(f"{where}: images {images.shape} do not match labels {labels.shape}")
    return images, labels


@functools.lru_cache(maxsize=8)
def _official(part: str, root: str | None, shipped_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """One official part ("train" or "t10k"), decoded once per process and source."""
    names = (f"{part}-images-idx3-ubyte", f"{part}-labels-idx1-ubyte")
    if root is None:
        blobs = [read_bytes(shipped_file(f"mnist/{name}.gz")) for name in names]
        return _decode(blobs[0], blobs[1], f"{shipped_dir}/mnist")
    raw = Path(root) / "MNIST" / "raw"
    blobs = []
    for name in names:
        path = next((p for p in (raw / name, raw / f"{name}.gz") if p.is_file()), None)
        if path is None:
            raise BenchmarkError(f"{raw / name}: file not found (expected torchvision's MNIST/raw layout)")
        blob = read_bytes(path)
        got = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        if got != MD5[name]:
            raise BenchmarkError(
                f"{path}: md5 mismatch (expected {MD5[name]}, got {got}); "
                "the file is corrupt or not the expected release"
            )
        blobs.append(blob)
    return _decode(blobs[0], blobs[1], str(raw))


def split_indices(n: int) -> dict[str, np.ndarray]:
    """Sorted train/val indices into the official training set, from the fixed ``SPLIT_SEED``."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_val = round(n * VAL_FRACTION)
    return {"val": np.sort(perm[:n_val]), "train": np.sort(perm[n_val:])}


@loader(*SPLITS)
def load(split: str, data_root: Path | None) -> ImageSet:
    if split not in SPLITS:
        raise BenchmarkError(f"mnist: unknown split {split!r} (valid: {', '.join(SPLITS)})")
    root = None if data_root is None else str(Path(data_root).expanduser().resolve())
    part = "t10k" if split == "test" else "train"
    images, labels = _official(part, root, str(shipped_data_dir()) if root is None else "")
    # Copy (fancy indexing) so callers never share memory with the cached arrays.
    idx = np.arange(len(images)) if split == "test" else split_indices(len(images))[split]
    images, labels = images[idx], labels[idx]
    return ImageSet(
        torch.from_numpy(images).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        name="mnist",
        split=split,
        source=root or "embedded",
    )
