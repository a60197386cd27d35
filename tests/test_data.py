"""Data layer: IDX parsing, shipped MNIST/Omniglot, checksums, data roots, ImageSet transforms."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from benchmark.data import DATASETS, ImageSet, identity_collate, load_dataset, shipped_data_dir
from benchmark.data.checksums import MANIFEST_NAME, read_manifest, verify, verify_manifest
from benchmark.data.mnist import parse_idx, read_idx, split_indices
from core.errors import BenchmarkError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GWAE_BENCH_DATA", raising=False)
    monkeypatch.delenv("GWAE_BENCH_SHIPPED_DATA", raising=False)


def _idx(dtype_code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    header = bytes([0, 0, dtype_code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + payload


# --- IDX -------------------------------------------------------------------------------------


def test_idx_parser_hand_written(tmp_path: Path) -> None:
    blob = _idx(0x08, (2, 2, 3), bytes(range(12)))
    (tmp_path / "x-idx3-ubyte").write_bytes(blob)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(blob))
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        arr = read_idx(tmp_path / name)
        assert arr.dtype == np.uint8 and arr.shape == (2, 2, 3)
        assert arr[1, 1, 2] == 11 and arr[0, 1, 0] == 3
    ints = parse_idx(_idx(0x0C, (3,), np.array([1, -2, 70000], ">i4").tobytes()))
    assert ints.tolist() == [1, -2, 70000] and ints.dtype == np.dtype("int32")


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x01\x00\x08\x01", _idx(0x07, (2,), b"ab"), _idx(0x08, (2, 3), b"abc"), b"\x00\x00\x08\x03\x00"],
)
def test_idx_parser_rejects_malformed(blob: bytes) -> None:
    with pytest.raises(BenchmarkError, match="IDX"):
        parse_idx(blob, "bad")


# --- shipped MNIST ---------------------------------------------------------------------------


def test_mnist_counts_and_ranges() -> None:
    sizes = {split: len(load_dataset("mnist", split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 54000, "val": 6000, "test": 10000}
    test = load_dataset("mnist", "test")
    assert test.images.shape == (10000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert test.images.max() == 255 and test.images.min() == 0
    assert test.images.float().mean() / 255 < 0.2  # white digits on black
    assert test.labels is not None and set(test.labels.tolist()) == set(range(10))
    assert test.source == "embedded" and test.native_shape == (1, 28, 28)
    item = test[0]
    assert item.dtype == torch.float32 and item.shape == (1, 28, 28) and 0 <= item.min() <= item.max() <= 1


def test_mnist_split_fixed_and_disjoint() -> None:
    a, b = split_indices(60000), split_indices(60000)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(np.intersect1d(a["train"], a["val"])) == 0
    assert np.array_equal(np.union1d(a["train"], a["val"]), np.arange(60000))
    val1, val2 = load_dataset("mnist", "val", seed=1), load_dataset("mnist", "val", seed=2)
    assert torch.equal(val1.images, val2.images)  # run seeds do not move the split


def test_subset_is_seeded() -> None:
    test = load_dataset("mnist", "test")
    s1, s2, s3 = test.subset(100, seed=1), test.subset(100, seed=1), test.subset(100, seed=2)
    assert len(s1) == 100 and torch.equal(s1.images, s2.images) and not torch.equal(s1.images, s3.images)
    assert torch.equal(test.subset(None, 0).images, test.images)
    assert torch.equal(test.subset(10**6, 0).images, test.images)
    assert s1.labels is not None and len(s1.labels) == 100
    with pytest.raises(BenchmarkError):
        test.subset(0, seed=0)


# --- shipped Omniglot ------------------------------------------------------------------------


def test_omniglot_inverted_unique() -> None:
    omni = load_dataset("omniglot", "test")
    assert omni.images.shape == (5640, 1, 28, 28) and omni.images.dtype == torch.uint8
    assert omni.labels is None
    assert omni.images.float().mean() / 255 < 0.15  # mostly black background
    assert omni.images.max() == 255  # bright strokes
    assert omni.images[:, :, 0, 0].float().mean() < 5  # corners are background
    assert len({bytes(img.numpy().tobytes()) for img in omni.images}) > 5500


# --- ImageSet transforms ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "omniglot"])
def test_resize_to_rgb64(name: str) -> None:
    ds = load_dataset(name, "test", image_shape=(3, 64, 64), n=37, seed=0)
    assert ds.image_shape == (3, 64, 64) and ds.native_shape == (1, 28, 28)
    batches = list(ds.batches(16))
    assert [len(b) for b in batches] == [16, 16, 5]
    x = torch.cat(batches)
    assert x.shape == (37, 3, 64, 64) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.5
    assert torch.equal(x[:, 0], x[:, 2])
    assert torch.allclose(ds[3], x[3])
    loader = DataLoader(ds, batch_size=4, shuffle=True, collate_fn=identity_collate)
    batch = next(iter(loader))
    assert batch.shape == (4, 3, 64, 64) and batch.dtype == torch.float32


def test_native_shape_is_exact() -> None:
    ds = load_dataset("mnist", "test", n=8)
    assert torch.equal(ds.__getitems__(list(range(8))), ds.images.float() / 255)


def test_bad_shape_and_split() -> None:
    with pytest.raises(BenchmarkError, match="channels"):
        load_dataset("mnist", "test", image_shape=(2, 28, 28))
    with pytest.raises(BenchmarkError, match="positive"):
        load_dataset("mnist", "test", image_shape=(1, 0, 28))
    with pytest.raises(BenchmarkError, match="train, val, test"):
        load_dataset("mnist", "dev")
    with pytest.raises(BenchmarkError, match="valid: test"):
        load_dataset("omniglot", "train")
    with pytest.raises(BenchmarkError, match="unknown dataset"):
        load_dataset("cifar", "test")
    assert DATASETS.names() == ["celeba", "fashion-mnist", "mnist", "mnist-pixel-shuffled", "noise-gaussian",
                                "noise-uniform", "omniglot", "omniglot-official", "shapes3d", "shapes3d-procedural"]


# --- checksums -------------------------------------------------------------------------------


def test_manifest_covers_shipped_files() -> None:
    data = shipped_data_dir()
    listed = set(read_manifest(data))
    on_disk = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    assert listed == on_disk - {MANIFEST_NAME, "README.md"}
    assert len(verify_manifest()) == len(listed)


@pytest.mark.parametrize(
    ("dataset", "file"),
    [("mnist", "mnist/t10k-labels-idx1-ubyte.gz"), ("omniglot", "omniglot/all_runs.zip")],
)
def test_corrupt_shipped_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str, file: str
) -> None:
    copy = tmp_path / "data"
    shutil.copytree(shipped_data_dir(), copy)
    raw = bytearray((copy / file).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (copy / file).write_bytes(bytes(raw))
    monkeypatch.setenv("GWAE_BENCH_SHIPPED_DATA", str(copy))
    with pytest.raises(BenchmarkError, match="sha256 mismatch"):
        load_dataset(dataset, "test")
    (copy / file).unlink()
    with pytest.raises(BenchmarkError, match="file not found"):
        verify(copy / file, "0" * 64)


# --- data roots ------------------------------------------------------------------------------


def test_data_root_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BenchmarkError, match=r"MNIST/raw/t10k-images-idx3-ubyte"):
        load_dataset("mnist", "test", data_root=tmp_path)
    with pytest.raises(BenchmarkError, match=r"omniglot-py/images_evaluation"):
        load_dataset("omniglot", "test", data_root=tmp_path)
    with pytest.raises(BenchmarkError, match="not found"):
        load_dataset("mnist", "test", data_root=tmp_path / "nowhere")
    monkeypatch.setenv("GWAE_BENCH_DATA", str(tmp_path))  # no silent fallback to shipped data
    with pytest.raises(BenchmarkError, match=r"MNIST/raw"):
        load_dataset("mnist", "test")


def test_data_root_mnist(tmp_path: Path) -> None:
    raw, gz = tmp_path / "raw_root" / "MNIST" / "raw", tmp_path / "gz_root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    gz.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shipped = shipped_data_dir() / "mnist" / f"{name}.gz"
        (raw / name).write_bytes(gzip.decompress(shipped.read_bytes()))
        shutil.copy(shipped, gz / f"{name}.gz")
    embedded = load_dataset("mnist", "test")
    for root in (tmp_path / "raw_root", tmp_path / "gz_root"):
        ds = load_dataset("mnist", "test", data_root=root)
        assert ds.source == str(root.resolve())
        assert torch.equal(ds.images, embedded.images) and torch.equal(ds.labels, embedded.labels)
    with pytest.raises(BenchmarkError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", "train", data_root=tmp_path / "raw_root")
    bad = tmp_path / "bad_root" / "MNIST" / "raw"
    bad.mkdir(parents=True)
    (bad / "t10k-images-idx3-ubyte").write_bytes(_idx(0x08, (1, 28, 28), bytes(784)))
    with pytest.raises(BenchmarkError, match="md5 mismatch"):
        load_dataset("mnist", "test", data_root=tmp_path / "bad_root")


def test_data_root_omniglot(tmp_path: Path) -> None:
    char = tmp_path / "omniglot-py" / "images_evaluation" / "Alpha" / "character01"
    char.mkdir(parents=True)
    img = np.full((105, 105), 255, np.uint8)
    img[20:80, 50:56] = 0  # a black vertical stroke on white, like the real files
    Image.fromarray(img).convert("1").save(char / "x.png")
    shutil.copy(char / "x.png", char / "y.png")  # byte-identical duplicate
    ds = load_dataset("omniglot", "test", data_root=tmp_path)
    assert isinstance(ds, ImageSet) and ds.images.shape == (1, 1, 28, 28)
    x = ds.images[0, 0]
    assert x[0, 0] == 0 and x[14, 14] == 255  # inverted: white stroke, black background
    assert 0 < int((x > 0).sum()) < 60


def test_data_does_not_import_models() -> None:
    package = Path(__file__).resolve().parents[1] / "benchmark" / "data"
    for source in package.glob("*.py"):
        for line in source.read_text().splitlines():
            assert not line.lstrip().startswith(("import models", "from models")), f"{source}: {line}"
