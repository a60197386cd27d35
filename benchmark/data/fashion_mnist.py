"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017; MIT): Zalando article images, (N, 1, 28, 28) uint8.

Not shipped (30 MB). The embedded source is Debian's ``dataset-fashion-mnist`` package
(``apt-get install dataset-fashion-mnist``), which puts the four IDX files, gzipped, in
``/usr/share/datasets/fashion-mnist/``; a data root uses torchvision's ``FashionMNIST/raw`` layout.
Debian re-compresses the files, so the checks are the sha256 of the *decompressed* IDX files, which
are the same for every copy of the release. Splits as MNIST's: the same fixed 54k / 6k permutation
of the official training set, and the official 10k test set.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from benchmark.data.imageset import ImageSet, loader
from benchmark.data.mnist import SPLITS, _decode, read_bytes, split_indices
from core.errors import BenchmarkError

SYSTEM_DIR_ENV = "GWAE_BENCH_FASHION_MNIST_DIR"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_PACKAGE = "dataset-fashion-mnist"
#: sha256 of the decompressed IDX files (Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1).
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def system_dir() -> Path:
    """Where the Debian package puts the files; ``$GWAE_BENCH_FASHION_MNIST_DIR`` overrides it (tests)."""
    return Path(os.environ.get(SYSTEM_DIR_ENV) or SYSTEM_DIR)


def available() -> bool:
    """Whether the embedded source is installed (every file present; checksums are checked at load)."""
    folder = system_dir()
    return all((folder / f"{name}.gz").is_file() or (folder / name).is_file() for name in SHA256)


def _read_checked(folder: Path, name: str, hint: str) -> bytes:
    path = next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
    if path is None:
        raise BenchmarkError(f"{folder / name}(.gz): file not found ({hint})")
    blob = read_bytes(path)
    got = hashlib.sha256(blob).hexdigest()
    if got != SHA256[name]:
        raise BenchmarkError(f"{path}: sha256 of the decompressed file is {got}, expected {SHA256[name]}; "
                             "the file is corrupt or not the Fashion-MNIST release")
    return blob


@functools.lru_cache(maxsize=4)
def _official(part: str, folder: str, hint: str) -> tuple[np.ndarray, np.ndarray]:
    names = (f"{part}-images-idx3-ubyte", f"{part}-labels-idx1-ubyte")
    blobs = [_read_checked(Path(folder), name, hint) for name in names]
    return _decode(blobs[0], blobs[1], folder)


@loader(*SPLITS)
def load(split: str, data_root: Path | None) -> ImageSet:
    if split not in SPLITS:
        raise BenchmarkError(f"fashion-mnist: unknown split {split!r} (valid: {', '.join(SPLITS)})")
    if data_root is None:
        folder, hint = system_dir(), f"install it with `apt-get install {APT_PACKAGE}`"
    else:
        folder, hint = Path(data_root).expanduser().resolve() / "FashionMNIST" / "raw", \
            "expected torchvision's FashionMNIST/raw layout"
    part = "t10k" if split == "test" else "train"
    images, labels = _official(part, str(folder), hint)
    idx = np.arange(len(images)) if split == "test" else split_indices(len(images))[split]
    return ImageSet(
        torch.from_numpy(images[idx]).unsqueeze(1),
        torch.from_numpy(labels[idx].astype(np.int64)),
        name="fashion-mnist",
        split=split,
        source=f"{APT_PACKAGE} ({folder})" if data_root is None else str(folder.parent.parent),
    )
