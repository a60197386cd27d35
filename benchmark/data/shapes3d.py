"""3D Shapes (Burgess & Kim, 2018) read lazily from ``ROOT/3dshapes.h5``, and the lazy grid dataset base.

The file holds 480,000 images (5.9 GB as uint8 pixels, 267 MB gzip-compressed on disk), so pixels
are read per batch through an h5py handle and never loaded whole. Image ``i`` sits at grid
position ``np.unravel_index(i, FACTOR_SIZES)`` (row-major over the factors), so the factors are
computed from the index without reading ``labels``.

Splits: there is no official split (DeepMind's release has none; the vaetc code draws an unseeded
random 80/10/10). Here ``train``/``val``/``test`` are 80/10/10% of a permutation with the FIXED
seed ``SPLIT_SEED = 0``, independent of run seeds, so every run shares them; ``all`` is everything.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.data.checksums import verify
from benchmark.data.imageset import ImageSet, _check_shape, loader
from core.errors import BenchmarkError

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
#: The values the real ``labels`` hold per grid index (orientation in degrees).
FACTOR_VALUES: tuple[np.ndarray, ...] = (
    np.arange(10) / 10,
    np.arange(10) / 10,
    np.arange(10) / 10,
    np.linspace(0.75, 1.25, 8),
    np.arange(4, dtype=np.float64),
    np.linspace(-30.0, 30.0, 15),
)
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
N_IMAGES = int(np.prod(FACTOR_SIZES))
IMAGE_HWC = (64, 64, 3)

FILE_NAME = "3dshapes.h5"
FILE_SIZE = 267_573_662
FILE_SHA256 = "0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785"

SPLITS = ("train", "val", "test", "all")
SPLIT_SEED = 0
VAL_FRACTION = TEST_FRACTION = 0.1
_READ_CHUNK = 256  # images per read/render call: bounds memory whatever the batch size


@functools.lru_cache(maxsize=4)
def _splits(n: int) -> dict[str, np.ndarray]:
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test, n_val = round(n * TEST_FRACTION), round(n * VAL_FRACTION)
    parts = {
        "test": perm[:n_test],
        "val": perm[n_test : n_test + n_val],
        "train": perm[n_test + n_val :],
        "all": np.arange(n),
    }
    out = {k: np.sort(v).astype(np.int64) for k, v in parts.items()}
    for v in out.values():
        v.setflags(write=False)  # cached and shared: nobody may edit them
    return out


def split_indices(n: int, split: str) -> np.ndarray:
    """Sorted grid indices of ``split`` among ``n`` images (fixed seed; read-only array)."""
    if split not in SPLITS:
        raise BenchmarkError(f"unknown split {split!r} (valid: {', '.join(SPLITS)})")
    return _splits(n)[split]


class GridImageSet(ImageSet):
    """An ``ImageSet`` whose uint8 images come on demand from grid indices (a file or a renderer).

    ``indices`` (int64) selects images of the full grid; ``subset`` and ``with_shape`` only
    select indices, so they stay lazy. Subclasses implement ``_source(idx)`` -> (n, H, W, C) uint8.
    ``ImageSet.__init__`` is not called: there is no in-memory ``images`` tensor.
    """

    def __init__(
        self,
        indices: np.ndarray,
        *,
        name: str,
        split: str,
        source: str,
        factor_sizes: Sequence[int] = FACTOR_SIZES,
        image_hwc: Sequence[int] = IMAGE_HWC,
        image_shape: Sequence[int] | None = None,
    ) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.factor_sizes = tuple(int(v) for v in factor_sizes)
        self.image_hwc = tuple(int(v) for v in image_hwc)
        self.labels = None
        self.name, self.split, self.source = name, split, source
        self.image_shape = self.native_shape if image_shape is None else _check_shape(self, image_shape)

    def _source(self, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def native_shape(self) -> tuple[int, int, int]:
        h, w, c = self.image_hwc
        return (c, h, w)

    @property
    def factors(self) -> np.ndarray:
        """(N, 6) int64 grid position of each image (factor value indices, ``FACTOR_NAMES`` order)."""
        return np.stack(np.unravel_index(self.indices, self.factor_sizes), axis=1).astype(np.int64)

    def read(self, positions: Sequence[int] | np.ndarray | slice) -> Tensor:
        """Untransformed uint8 (n, C, H, W) images at ``positions`` of this set (any order, repeats)."""
        idx = np.atleast_1d(self.indices[positions])
        parts = [self._source(idx[i : i + _READ_CHUNK]) for i in range(0, len(idx), _READ_CHUNK)]
        hwc = np.concatenate(parts) if parts else np.zeros((0, *self.image_hwc), np.uint8)
        return torch.from_numpy(np.ascontiguousarray(hwc.transpose(0, 3, 1, 2)))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tensor:
        return self._transform(self.read([i]))[0]

    def __getitems__(self, indices: list[int]) -> Tensor:
        return self._transform(self.read(np.asarray(indices, dtype=np.int64)))

    def batches(self, batch_size: int) -> Iterator[Tensor]:
        if batch_size < 1:
            raise BenchmarkError(f"batch size must be >= 1, got {batch_size}")
        for start in range(0, len(self), batch_size):
            yield self._transform(self.read(slice(start, start + batch_size)))

    def subset(self, n: int | None, seed: int) -> GridImageSet:
        """Same permutation as ``ImageSet.subset`` (so ``load_dataset(n=, seed=)`` agrees); stays lazy."""
        if n is None or n >= len(self):
            return self._select(self.indices)
        if n < 1:
            raise BenchmarkError(f"{self.name}: subset size must be >= 1, got {n}")
        pick = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].numpy()
        return self._select(self.indices[pick])

    def with_shape(self, image_shape: Sequence[int]) -> GridImageSet:
        return self._select(self.indices, image_shape)

    def at(self, grid_indices: Sequence[int] | np.ndarray) -> GridImageSet:
        """The images at these positions of the full grid (any order, repeats allowed), from the same
        source at the same shape, whatever this set's split: how metrics draw images with chosen factors."""
        idx = np.asarray(grid_indices, dtype=np.int64).reshape(-1)
        n = int(np.prod(self.factor_sizes))
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise BenchmarkError(f"{self.name}: grid indices must lie in [0, {n})")
        return self._select(idx)

    def at_factors(self, factors: np.ndarray) -> GridImageSet:
        """``at`` for (n, F) factor value indices (row-major grid position, as ``factors``)."""
        f = np.asarray(factors, dtype=np.int64)
        if f.ndim != 2 or f.shape[1] != len(self.factor_sizes):
            raise BenchmarkError(f"{self.name}: factors must have shape (n, {len(self.factor_sizes)}), got {f.shape}")
        if np.any(f < 0) or np.any(f >= np.asarray(self.factor_sizes)):
            raise BenchmarkError(f"{self.name}: factor values outside the grid {self.factor_sizes}")
        return self.at(np.ravel_multi_index(tuple(f.T), self.factor_sizes))

    def _select(self, indices: np.ndarray, shape: Sequence[int] | None = None) -> GridImageSet:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)  # shares the source (file handle holder / renderer)
        new.indices = np.asarray(indices, dtype=np.int64)
        if shape is not None:
            new.image_shape = _check_shape(new, shape)
        return new

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name}/{self.split}, n={len(self)}, native={self.native_shape}, "
            f"shape={self.image_shape}, source={self.source})"
        )


class H5Images:
    """Reads images by index from an HDF5 dataset; the handle is opened lazily per process.

    Pickling drops the handle and a forked worker reopens its own (h5py handles must not be
    shared across processes), so the set works in ``DataLoader`` workers.
    """

    def __init__(self, path: Path, key: str = "images") -> None:
        self.path, self.key = Path(path), key
        self._handle: Any = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None, "_pid": -1}

    def dataset(self) -> Any:
        if self._handle is None or self._pid != os.getpid():
            try:
                import h5py
            except ImportError:
                raise BenchmarkError(f"{self.path}: reading it needs h5py (pip install h5py)") from None
            try:
                self._handle = h5py.File(self.path, "r", rdcc_nbytes=64 << 20)
            except OSError as exc:
                raise BenchmarkError(f"{self.path}: not a readable HDF5 file ({exc})") from None
            self._pid = os.getpid()
        if self.key not in self._handle:
            raise BenchmarkError(f"{self.path}: no dataset {self.key!r}")
        return self._handle[self.key]

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        """h5py fancy indexing wants strictly increasing indices: sort and de-duplicate, read, unsort."""
        ds = self.dataset()
        if len(idx) == 0:
            return np.zeros((0, *ds.shape[1:]), ds.dtype)
        uniq, inverse = np.unique(idx, return_inverse=True)
        contiguous = uniq[-1] - uniq[0] + 1 == len(uniq)  # e.g. ``batches``: one slice read
        data = ds[int(uniq[0]) : int(uniq[-1]) + 1] if contiguous else ds[uniq]
        return data[inverse.reshape(-1)]


class Shapes3D(GridImageSet):
    """3D Shapes from its HDF5 file: uint8 (N, 3, 64, 64), read lazily in ``__getitems__``."""

    def __init__(self, images: H5Images, indices: np.ndarray, **kwargs: Any) -> None:
        self.h5 = images
        super().__init__(indices, **kwargs)

    def _source(self, idx: np.ndarray) -> np.ndarray:
        return self.h5(idx)


_VERIFIED: set[tuple[str, int, int, str]] = set()


def check_file(path: Path, size: int, sha256: str) -> None:
    """Size first (a fast failure), then sha256 once per (path, size, mtime) in this process."""
    if not path.is_file():
        raise BenchmarkError(f"{path}: file not found (expected the 3D Shapes release file {FILE_NAME})")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, sha256)
    if key in _VERIFIED:
        return
    if stat.st_size != size:
        raise BenchmarkError(
            f"{path}: size {stat.st_size} bytes, expected {size}; the file is truncated or not the expected release"
        )
    verify(path, sha256)
    _VERIFIED.add(key)


def open_h5(
    path: Path,
    split: str,
    *,
    factor_sizes: Sequence[int] = FACTOR_SIZES,
    size: int = FILE_SIZE,
    sha256: str = FILE_SHA256,
    source: str = "",
) -> Shapes3D:
    """Verify and open a 3D-Shapes-layout file; the grid and checksum are parameters for tests."""
    check_file(path, size, sha256)
    n = int(np.prod(factor_sizes))
    images = H5Images(path)
    ds = images.dataset()
    if "labels" not in ds.file:
        raise BenchmarkError(f"{path}: no dataset 'labels'")
    labels = ds.file["labels"]
    if tuple(ds.shape) != (n, *IMAGE_HWC) or ds.dtype != np.uint8:
        raise BenchmarkError(f"{path}: images are {ds.dtype} {tuple(ds.shape)}, expected uint8 {(n, *IMAGE_HWC)}")
    if tuple(labels.shape) != (n, len(FACTOR_NAMES)):
        raise BenchmarkError(f"{path}: labels are {tuple(labels.shape)}, expected {(n, len(FACTOR_NAMES))}")
    return Shapes3D(
        images,
        split_indices(n, split),
        name="shapes3d",
        split=split,
        source=source or str(path),
        factor_sizes=factor_sizes,
    )


@loader(*SPLITS)
def load(split: str, data_root: Path | None) -> Shapes3D:
    if data_root is None:
        raise BenchmarkError(
            f"shapes3d: needs a data root holding {FILE_NAME} (pass data_root or set GWAE_BENCH_DATA); "
            "'shapes3d-procedural' is the embedded re-implementation"
        )
    root = Path(data_root).expanduser().resolve()
    return open_h5(root / FILE_NAME, split, source=str(root))
