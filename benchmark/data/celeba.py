"""CelebA (Liu, Luo, Wang & Tang, 2015), aligned faces, as the GWAE paper's generation experiment uses them.

Data root only (1.4 GB, not obtainable here), in torchvision's layout::

    ROOT/celeba/list_eval_partition.txt          # "<file>.jpg <0|1|2>" per line: train / valid / test
    ROOT/celeba/img_align_celeba/<file>.jpg      # the extracted images, or else
    ROOT/celeba/img_align_celeba.zip             # the official zip, read in place, sha256-verified

Preprocessing (vaetc's ``celeba.py``, torchvision's transforms on PIL images): center crop 144x144
(offsets ``round((W - 144) / 2)``, ``round((H - 144) / 2)``), resize to 64x64 with PIL's bilinear
filter (antialiased when shrinking), uint8 (N, 3, 64, 64). Splits are the official partition
(162,770 / 19,867 / 19,962 images in the release). Images are decoded lazily per batch and kept
once decoded (up to 2.5 GB for all 202,599), so epochs after the first read no JPEG.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.data.checksums import verify
from benchmark.data.imageset import loader
from benchmark.data.shapes3d import GridImageSet
from core.errors import BenchmarkError

FOLDER = "celeba"
IMAGES_DIR = "img_align_celeba"
ZIP_NAME = "img_align_celeba.zip"
ZIP_SHA256 = "46fb89443c578308acf364d7d379fe1b9efb793042c0af734b6112e4fd3a8c74"
PARTITION_FILE = "list_eval_partition.txt"
SPLITS = ("train", "val", "test")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
OFFICIAL_COUNTS = {"train": 162_770, "val": 19_867, "test": 19_962}
CROP, SIZE = 144, 64


def preprocess(jpeg: bytes, where: str) -> np.ndarray:
    """One aligned-face JPEG -> (64, 64, 3) uint8: center crop 144, bilinear resize to 64."""
    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise BenchmarkError(f"{where}: not a readable image ({exc})") from None
    w, h = rgb.size
    if w < CROP or h < CROP:
        raise BenchmarkError(f"{where}: image is {w}x{h}, smaller than the {CROP}x{CROP} center crop")
    left, top = int(round((w - CROP) / 2.0)), int(round((h - CROP) / 2.0))
    face = rgb.crop((left, top, left + CROP, top + CROP))
    return np.asarray(face.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.uint8)


def read_partition(path: Path) -> tuple[list[str], np.ndarray]:
    """File names and split codes (0 train, 1 valid, 2 test) in file order; malformed lines are errors."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: file not found (expected torchvision's celeba layout)") from None
    names, codes = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].lower().endswith(".jpg") or parts[1] not in ("0", "1", "2"):
            raise BenchmarkError(f"{path}:{number}: expected '<name>.jpg <0|1|2>', got {line.strip()[:60]!r}")
        names.append(parts[0])
        codes.append(int(parts[1]))
    if not names:
        raise BenchmarkError(f"{path}: no images listed")
    if len(set(names)) != len(names):
        raise BenchmarkError(f"{path}: an image is listed twice")
    return names, np.asarray(codes, dtype=np.int64)


class JpegReader:
    """JPEG bytes by file name from the extracted folder or from the zip (opened lazily per process)."""

    def __init__(self, folder: Path | None, archive: Path | None) -> None:
        self.folder, self.archive = folder, archive
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_zip": None, "_pid": -1}

    def zip(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            try:
                self._zip = zipfile.ZipFile(self.archive)  # type: ignore[arg-type]
            except zipfile.BadZipFile as exc:
                raise BenchmarkError(f"{self.archive}: corrupt zip ({exc})") from None
            self._pid = os.getpid()
        return self._zip

    def check(self, names: list[str]) -> None:
        """Every listed image must exist: a missing file fails now, not in the middle of training."""
        if self.folder is not None:
            missing = [n for n in names if not (self.folder / n).is_file()]
            where = self.folder
        else:
            members = set(self.zip().namelist())
            missing = [n for n in names if f"{IMAGES_DIR}/{n}" not in members]
            where = self.archive
        if missing:
            raise BenchmarkError(f"{where}: {len(missing)} image(s) of {PARTITION_FILE} missing (e.g. {missing[0]})")

    def __call__(self, name: str) -> tuple[bytes, str]:
        if self.folder is not None:
            path = self.folder / name
            return path.read_bytes(), str(path)
        return self.zip().read(f"{IMAGES_DIR}/{name}"), f"{self.archive}:{IMAGES_DIR}/{name}"


class CelebAStore:
    """Every image of one root: names, split codes, reader, and the decoded-image cache."""

    def __init__(self, names: list[str], codes: np.ndarray, reader: JpegReader) -> None:
        self.names, self.codes, self.reader = names, codes, reader
        self.pixels = np.zeros((len(names), SIZE, SIZE, 3), dtype=np.uint8)  # pages committed on first write
        self.decoded = np.zeros(len(names), dtype=bool)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        for i in np.unique(idx[~self.decoded[idx]]):
            self.pixels[i] = preprocess(*self.reader(self.names[int(i)]))
            self.decoded[i] = True
        return self.pixels[idx]


class CelebA(GridImageSet):
    """A split of CelebA: lazy uint8 (N, 3, 64, 64), decoded on first use and cached in the store."""

    def __init__(self, store: CelebAStore, indices: np.ndarray, **kwargs: Any) -> None:
        self.store = store
        super().__init__(indices, factor_sizes=(len(store.names),), image_hwc=(SIZE, SIZE, 3), **kwargs)

    def _source(self, idx: np.ndarray) -> np.ndarray:
        return self.store(idx)


_VERIFIED: set[tuple[str, int, int, str]] = set()


def _verify_zip(path: Path, sha256: str) -> None:
    """sha256 once per (path, size, mtime) in this process (about 5 s for the 1.4 GB release)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, sha256)
    if key not in _VERIFIED:
        verify(path, sha256)
        _VERIFIED.add(key)


@functools.lru_cache(maxsize=2)
def _store(root: str, zip_sha256: str) -> CelebAStore:
    base = Path(root) / FOLDER
    names, codes = read_partition(base / PARTITION_FILE)
    folder, archive = base / IMAGES_DIR, base / ZIP_NAME
    if folder.is_dir():
        reader = JpegReader(folder, None)
    elif archive.is_file():
        _verify_zip(archive, zip_sha256)
        reader = JpegReader(None, archive)
    else:
        raise BenchmarkError(f"{folder}: directory not found, and no {archive} either "
                             "(expected torchvision's celeba layout)")
    reader.check(names)
    return CelebAStore(names, codes, reader)


def open_celeba(root: Path, split: str, zip_sha256: str = ZIP_SHA256) -> CelebA:
    """One split of the CelebA tree under ``root``; the zip checksum is a parameter for tests."""
    if split not in SPLITS:
        raise BenchmarkError(f"celeba: unknown split {split!r} (valid: {', '.join(SPLITS)})")
    store = _store(str(Path(root).expanduser().resolve()), zip_sha256)
    indices = np.flatnonzero(store.codes == SPLIT_CODES[split])
    if not len(indices):
        raise BenchmarkError(f"{Path(root) / FOLDER / PARTITION_FILE}: no image in the {split} partition")
    return CelebA(store, indices, name="celeba", split=split, source=str(root))


@loader(*SPLITS)
def load(split: str, data_root: Path | None) -> CelebA:
    if data_root is None:
        raise BenchmarkError(f"celeba: needs a data root holding {FOLDER}/{PARTITION_FILE} and {FOLDER}/{IMAGES_DIR}/ "
                             f"or {FOLDER}/{ZIP_NAME} (pass --data-root or set GWAE_BENCH_DATA)")
    return open_celeba(Path(data_root), split)
