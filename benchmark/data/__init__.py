"""Datasets: one registry of loaders, and ``load_dataset`` as the single entry point.

Data never depends on models: a model is built from ``ImageSet.image_shape``, not the reverse.
Shipped files are verified against ``data/MANIFEST.sha256`` before decoding; a user data root
(argument, else ``$GWAE_BENCH_DATA``) is used as given and never silently replaced by shipped data. Loaders of
other distributions join at import through entry point group ``gwae_bench.datasets`` (``core.plugins``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from benchmark.data import celeba, fashion_mnist, generated, mnist, omniglot, shapes3d, shapes_render
from benchmark.data.checksums import sha256_file, shipped_data_dir, verify, verify_manifest
from benchmark.data.imageset import ImageSet, Loader, identity_collate
from core import plugins
from core.errors import BenchmarkError
from core.registry import Registry

__all__ = [
    "DATASETS",
    "DATA_ROOT_ENV",
    "ImageSet",
    "Loader",
    "identity_collate",
    "load_dataset",
    "resolve_data_root",
    "sha256_file",
    "shipped_data_dir",
    "verify",
    "verify_manifest",
]

DATA_ROOT_ENV = "GWAE_BENCH_DATA"

DATASETS: Registry[Loader] = Registry("dataset")
DATASETS.add("mnist", mnist.load, "MNIST digits, 28x28 gray; train 54k / val 6k (fixed split) / test 10k")
DATASETS.add("omniglot", omniglot.load, "Omniglot characters, 28x28 gray, inverted (white on black); test only (OoD)")
DATASETS.add("omniglot-official", omniglot.load_official, "Omniglot characters, 28x28 gray, black on white as the "
             "official GWAE code feeds them; test only (OoD)")
DATASETS.add("noise-gaussian", generated.load_gaussian, "10k Gaussian noise images, 28x28 gray, generated from a "
             "fixed seed; test only (far OoD)")
DATASETS.add("noise-uniform", generated.load_uniform, "10k uniform noise images, 28x28 gray, generated from a fixed "
             "seed; test only (far OoD)")
DATASETS.add("mnist-pixel-shuffled", generated.load_shuffled, "MNIST-test with one fixed permutation of pixel "
             "positions; test only (far OoD)")
DATASETS.add("shapes3d", shapes3d.load, "3D Shapes, 64x64 RGB, 6 factors, read lazily from ROOT/3dshapes.h5; "
             "train/val/test 80/10/10 (fixed split), all")
DATASETS.add("fashion-mnist", fashion_mnist.load, "Fashion-MNIST, 28x28 gray, from Debian's dataset-fashion-mnist "
             "(or ROOT/FashionMNIST/raw); train 54k / val 6k (MNIST's fixed split) / test 10k")
DATASETS.add("celeba", celeba.load, "CelebA aligned faces, center crop 144, resize 64, RGB; data root only "
             "(ROOT/celeba: folder or sha256-checked zip); official train/val/test partition")
DATASETS.add("shapes3d-procedural", shapes_render.load, "procedural 3D-Shapes-grid (re-implementation, rendered "
             "on demand, embedded); same grid and splits as shapes3d")


def plugin_loader(obj: object, source: str) -> tuple[Loader, str]:
    """A plugin's entry point object as a dataset: a ``load(split, data_root) -> ImageSet`` with its ``splits``
    (``benchmark.data.imageset.loader`` declares them); its docstring's first line is the summary."""
    splits = getattr(obj, "splits", None)
    if not callable(obj) or not isinstance(splits, tuple) or not splits:
        raise TypeError(f"{obj!r} is not a dataset loader (a callable with a non-empty tuple `splits`)")
    summary = (getattr(obj, "__doc__", None) or "").strip().splitlines()[:1] or [getattr(obj, "__name__", "dataset")]
    return cast(Loader, obj), f"{summary[0]} [plugin: {source}]"


PLUGINS = plugins.load_into(plugins.DATASETS_GROUP, DATASETS, plugin_loader)


def resolve_data_root(data_root: Path | str | None = None) -> Path | None:
    """Explicit argument, else ``$GWAE_BENCH_DATA``, else ``None`` (the shipped data)."""
    if data_root is None or data_root == "":
        data_root = os.environ.get(DATA_ROOT_ENV) or None
    if data_root is None:
        return None
    path = Path(data_root).expanduser()
    if not path.is_dir():
        raise BenchmarkError(f"data root {path}: directory not found")
    return path


def load_dataset(
    name: str,
    split: str,
    data_root: Path | str | None = None,
    image_shape: Sequence[int] | None = None,
    n: int | None = None,
    seed: int = 0,
) -> ImageSet:
    """Load ``name``/``split``, keep ``n`` images (seeded subset), present them at ``image_shape``."""
    load = DATASETS.get(name)
    if split not in load.splits:
        raise BenchmarkError(f"dataset {name!r} has no split {split!r} (valid: {', '.join(load.splits)})")
    images = load(split, resolve_data_root(data_root)).subset(n, seed)
    return images if image_shape is None else images.with_shape(image_shape)
