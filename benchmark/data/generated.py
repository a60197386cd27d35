"""Generated far-OoD sets, (N, 1, 28, 28) uint8, the same on every machine for a given seed.

Nothing is shipped: each set is generated on load from a fixed seed (numpy's PCG64 ``default_rng``), and
the suite records the sha256 of what it scored (``ImageSet.sha256``), so a rerun that generated other
bytes (another numpy) is visible in the records. None has a semantic class, so, as OpenOOD's textures and
natural images for MNIST, they are far OoD:

* ``noise-gaussian``: each pixel N(127.5, 64^2), rounded and clipped to 0..255;
* ``noise-uniform``: each pixel uniform on 0..255;
* ``mnist-pixel-shuffled``: MNIST-test with one fixed permutation of the 784 pixel positions applied to
  every image: each image keeps its intensity histogram (so the mean intensity tells nothing), and loses
  its strokes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.data.imageset import ImageSet, loader
from benchmark.data.mnist import load as load_mnist
from core.errors import BenchmarkError

SPLITS = ("test",)
SEED = 0
N_IMAGES = 10_000
SHAPE = (1, 28, 28)


def _check(name: str, split: str) -> None:
    if split not in SPLITS:
        raise BenchmarkError(f"{name}: unknown split {split!r} (valid: {', '.join(SPLITS)})")


def _set(images: np.ndarray, name: str, split: str) -> ImageSet:
    return ImageSet(torch.from_numpy(images), None, name=name, split=split, source=f"generated (seed {SEED})")


def gaussian_noise(n: int = N_IMAGES, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(127.5, 64.0, size=(n, *SHAPE))), 0, 255).astype(np.uint8)


def uniform_noise(n: int = N_IMAGES, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *SHAPE), dtype=np.uint8)


def pixel_shuffled(images: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Every image's pixels moved by one permutation of the positions, drawn from ``seed``."""
    flat = images.reshape(len(images), -1)
    perm = np.random.default_rng(seed).permutation(flat.shape[1])
    return np.ascontiguousarray(flat[:, perm].reshape(images.shape))


@loader(*SPLITS)
def load_gaussian(split: str, data_root: Path | None) -> ImageSet:
    """Gaussian noise images (far OoD), generated from a fixed seed."""
    _check("noise-gaussian", split)
    return _set(gaussian_noise(), "noise-gaussian", split)


@loader(*SPLITS)
def load_uniform(split: str, data_root: Path | None) -> ImageSet:
    """Uniform noise images (far OoD), generated from a fixed seed."""
    _check("noise-uniform", split)
    return _set(uniform_noise(), "noise-uniform", split)


@loader(*SPLITS)
def load_shuffled(split: str, data_root: Path | None) -> ImageSet:
    """MNIST-test with a fixed permutation of pixel positions (far OoD)."""
    _check("mnist-pixel-shuffled", split)
    test = load_mnist("test", data_root)
    return _set(pixel_shuffled(test.images.numpy()), "mnist-pixel-shuffled", split)
