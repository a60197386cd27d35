"""Omniglot: the out-of-distribution evaluation set, white strokes on black, (N, 1, 28, 28) uint8.

The embedded source is every PNG in the three shipped zips (``images_background_small1``,
``images_background_small2``, ``all_runs``): 6,640 PNGs, of which 1,000 (the Greek and Latin
alphabets, present in both ``small`` zips) are byte-identical copies, leaving 5,640 unique
images after de-duplication by the sha256 of the PNG bytes. Duplicates would double-count
those characters in OoD metrics.

Preprocessing, identical for both sources: decode the one-bit 105x105 PNG to grayscale, invert
(255 - v: the files are black strokes on white, MNIST is white on black), and shrink to 28x28
with PIL's BOX (area) filter, which averages stroke coverage instead of dropping thin strokes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from benchmark.data.checksums import shipped_data_dir, shipped_file
from benchmark.data.imageset import ImageSet, loader
from core.errors import BenchmarkError

SPLITS = ("test",)
SIZE = 28
ZIPS = ("images_background_small1.zip", "images_background_small2.zip", "all_runs.zip")
ROOT_SUBDIR = Path("omniglot-py") / "images_evaluation"


def preprocess(png: bytes, where: str) -> np.ndarray:
    """One PNG -> inverted 28x28 uint8 (white strokes on black), area-resized."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            gray = image.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise BenchmarkError(f"{where}: not a readable PNG ({exc})") from None
    inverted = Image.fromarray(255 - np.asarray(gray))
    return np.asarray(inverted.resize((SIZE, SIZE), Image.Resampling.BOX))


def _zip_pngs(paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every PNG in the zips, read in place (no extraction), in sorted order."""
    for path in paths:
        try:
            with zipfile.ZipFile(path) as archive:
                for name in sorted(n for n in archive.namelist() if n.lower().endswith(".png")):
                    yield f"{path}:{name}", archive.read(name)
        except zipfile.BadZipFile as exc:
            raise BenchmarkError(f"{path}: corrupt zip ({exc})") from None


def _dir_pngs(root: Path) -> Iterator[tuple[str, bytes]]:
    folder = root / ROOT_SUBDIR
    if not folder.is_dir():
        raise BenchmarkError(f"{folder}: directory not found (expected torchvision's omniglot-py layout)")
    files = sorted(folder.rglob("*.png"))
    if not files:
        raise BenchmarkError(f"{folder}: no PNG files found")
    for path in files:
        yield str(path), path.read_bytes()


def decode_unique(pngs: Iterable[tuple[str, bytes]]) -> np.ndarray:
    """Preprocess the PNGs, skipping byte-identical repeats (first occurrence wins)."""
    seen: set[bytes] = set()
    images = []
    for where, png in pngs:
        digest = hashlib.sha256(png).digest()
        if digest not in seen:
            seen.add(digest)
            images.append(preprocess(png, where))
    return np.stack(images)[:, None]


@functools.lru_cache(maxsize=4)
def _decoded(root: str | None, shipped_dir: str) -> np.ndarray:
    """All images of one source, decoded once per process (about a second for the 5.6k)."""
    if root is None:
        return decode_unique(_zip_pngs([shipped_file(f"omniglot/{name}") for name in ZIPS]))
    return decode_unique(_dir_pngs(Path(root)))


@loader(*SPLITS)
def load(split: str, data_root: Path | None) -> ImageSet:
    if split not in SPLITS:
        raise BenchmarkError(f"omniglot: unknown split {split!r} (valid: {', '.join(SPLITS)})")
    root = None if data_root is None else str(Path(data_root).expanduser().resolve())
    images = _decoded(root, str(shipped_data_dir()) if root is None else "")
    return ImageSet(
        torch.from_numpy(images.copy()), None, name="omniglot", split=split, source=root or "embedded"
    )
