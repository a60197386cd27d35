"""Omniglot: the out-of-distribution evaluation set, (N, 1, 28, 28) uint8, in two renderings.

``omniglot`` inverts the files to white strokes on black, like MNIST (the harder task: the background no
longer tells the sets apart); ``omniglot-official`` keeps them as the official GWAE code feeds them, black
strokes on white (the paper's protocol, where the mean intensity alone separates the sets).

The embedded source is every PNG in the three shipped zips (``images_background_small1``,
``images_background_small2``, ``all_runs``): 6,640 PNGs, of which 1,000 (the Greek and Latin
alphabets, present in both ``small`` zips) are byte-identical copies, leaving 5,640 unique
images after de-duplication by the sha256 of the PNG bytes. Duplicates would double-count
those characters in OoD metrics.

Preprocessing, identical for both sources: decode the one-bit 105x105 PNG to grayscale, invert
(``omniglot`` only: 255 - v), and shrink to 28x28 with PIL's BOX (area) filter, which averages stroke
coverage instead of dropping thin strokes.
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


def preprocess(png: bytes, where: str, invert: bool = True) -> np.ndarray:
    """One PNG -> 28x28 uint8, area-resized; inverted (white strokes on black) unless ``invert`` is False."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            gray = image.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise BenchmarkError(f"{where}: not a readable PNG ({exc})") from None
    shown = Image.fromarray(255 - np.asarray(gray)) if invert else gray
    return np.asarray(shown.resize((SIZE, SIZE), Image.Resampling.BOX))


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


def decode_unique(pngs: Iterable[tuple[str, bytes]], invert: bool = True) -> np.ndarray:
    """Preprocess the PNGs, skipping byte-identical repeats (first occurrence wins)."""
    seen: set[bytes] = set()
    images = []
    for where, png in pngs:
        digest = hashlib.sha256(png).digest()
        if digest not in seen:
            seen.add(digest)
            images.append(preprocess(png, where, invert))
    return np.stack(images)[:, None]


@functools.lru_cache(maxsize=4)
def _decoded(root: str | None, shipped_dir: str, invert: bool) -> np.ndarray:
    """All images of one source, decoded once per process and rendering (about a second for the 5.6k)."""
    if root is None:
        return decode_unique(_zip_pngs([shipped_file(f"omniglot/{name}") for name in ZIPS]), invert)
    return decode_unique(_dir_pngs(Path(root)), invert)


def _load(split: str, data_root: Path | None, name: str, invert: bool) -> ImageSet:
    if split not in SPLITS:
        raise BenchmarkError(f"{name}: unknown split {split!r} (valid: {', '.join(SPLITS)})")
    root = None if data_root is None else str(Path(data_root).expanduser().resolve())
    images = _decoded(root, str(shipped_data_dir()) if root is None else "", invert)
    return ImageSet(torch.from_numpy(images.copy()), None, name=name, split=split, source=root or "embedded")


@loader(*SPLITS)
def load(split: str, data_root: Path | None) -> ImageSet:
    """White strokes on black (inverted), like MNIST."""
    return _load(split, data_root, "omniglot", invert=True)


@loader(*SPLITS)
def load_official(split: str, data_root: Path | None) -> ImageSet:
    """Black strokes on white, as the official GWAE code feeds Omniglot (not inverted)."""
    return _load(split, data_root, "omniglot-official", invert=False)
