"""3D Shapes: the lazy h5 loader (on tiny synthetic files), the procedural renderer, splits, subsets."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from benchmark.data import ImageSet, identity_collate, load_dataset, sha256_file
from benchmark.data import shapes3d as s3d
from benchmark.data.shapes3d import FACTOR_NAMES, FACTOR_SIZES, N_IMAGES, check_file, open_h5, split_indices
from benchmark.data.shapes_render import ProceduralShapes, render
from core.errors import BenchmarkError

TINY = (2, 1, 1, 2, 4, 2)  # 32 images, the real 64x64x3 layout


def _tiny_h5(path: Path, sizes: tuple[int, ...] = TINY) -> Path:
    n = int(np.prod(sizes))
    images = np.zeros((n, 64, 64, 3), np.uint8)
    images[:, :, :, 0] = np.arange(n, dtype=np.uint8)[:, None, None]  # red channel = index
    images[:, 0, 0, 1] = 255 - np.arange(n, dtype=np.uint8)
    labels = np.stack(np.unravel_index(np.arange(n), sizes), 1).astype(np.float64)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(4, 64, 64, 3), compression="gzip")
        f.create_dataset("labels", data=labels)
    return path


def _open_tiny(path: Path, split: str = "all") -> s3d.Shapes3D:
    return open_h5(path, split, factor_sizes=TINY, size=path.stat().st_size, sha256=sha256_file(path))


# --- real file loader ----------------------------------------------------------------------------


def test_h5_reads_unsorted_batches_lazily(tmp_path: Path) -> None:
    ds = _open_tiny(_tiny_h5(tmp_path / "tiny.h5"))
    assert isinstance(ds, ImageSet) and len(ds) == 32 and ds.native_shape == (3, 64, 64)
    order = [5, 1, 30, 1, 17]  # unsorted, with a repeat: h5py alone would reject it
    raw = ds.read(order)
    assert raw.dtype == torch.uint8 and raw.shape == (5, 3, 64, 64)
    assert raw[:, 0, 10, 10].tolist() == order and raw[:, 1, 0, 0].tolist() == [255 - i for i in order]
    assert torch.equal(ds.__getitems__(order), raw.float() / 255)
    assert torch.equal(torch.cat(list(ds.batches(7))), ds.read(np.arange(32)).float() / 255)
    assert torch.equal(ds[-1], ds.read([31])[0].float() / 255)
    assert np.array_equal(ds.factors, np.stack(np.unravel_index(np.arange(32), TINY), 1))
    small = ds.with_shape((3, 16, 16)).subset(6, seed=3)
    assert isinstance(small, s3d.Shapes3D) and small.h5 is ds.h5 and small.image_shape == (3, 16, 16)
    assert next(iter(DataLoader(small, batch_size=4, collate_fn=identity_collate))).shape == (4, 3, 16, 16)


def test_h5_handle_survives_pickle_and_workers(tmp_path: Path) -> None:
    ds = _open_tiny(_tiny_h5(tmp_path / "tiny.h5"), "train")
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.h5._handle is None and torch.equal(clone.read([0, 3]), ds.read([0, 3]))
    if os.name == "posix":  # forked worker reopens its own handle
        loader = DataLoader(ds, batch_size=8, num_workers=1, collate_fn=identity_collate)
        assert torch.equal(torch.cat(list(loader)), torch.cat(list(ds.batches(8))))


def test_h5_layout_and_checksum_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="data root"):
        load_dataset("shapes3d", "train")
    with pytest.raises(BenchmarkError, match=r"3dshapes\.h5: file not found"):
        load_dataset("shapes3d", "train", data_root=tmp_path)
    tiny = _tiny_h5(tmp_path / "3dshapes.h5")
    with pytest.raises(BenchmarkError, match="size"):  # the public loader accepts only the real file
        load_dataset("shapes3d", "train", data_root=tmp_path)
    with pytest.raises(BenchmarkError, match="sha256"):
        check_file(tiny, tiny.stat().st_size, "0" * 64)
    with pytest.raises(BenchmarkError, match=r"images are uint8 \(32, 64, 64, 3\), expected"):
        open_h5(tiny, "all", factor_sizes=(2, 2, 2, 2, 4, 2), size=tiny.stat().st_size, sha256=sha256_file(tiny))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(BenchmarkError, match="not a readable HDF5"):
        open_h5(junk, "all", size=8, sha256=sha256_file(junk))


def test_checksum_cached_per_file_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _tiny_h5(tmp_path / "tiny.h5")
    calls: list[Path] = []
    monkeypatch.setattr(s3d, "verify", lambda p, sha: calls.append(p))
    size, sha = path.stat().st_size, sha256_file(path)
    check_file(path, size, sha)
    check_file(path, size, sha)
    assert len(calls) == 1
    os.utime(path, ns=(0, 12345))  # a changed file (new mtime) is hashed again
    check_file(path, size, sha)
    assert len(calls) == 2


# --- splits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [32, N_IMAGES])
def test_splits_disjoint_and_fixed(n: int) -> None:
    parts = {s: split_indices(n, s) for s in ("train", "val", "test")}
    assert sum(map(len, parts.values())) == n and len(np.unique(np.concatenate(list(parts.values())))) == n
    if n == N_IMAGES:
        assert [len(parts[s]) for s in ("train", "val", "test")] == [384_000, 48_000, 48_000]
    fresh = np.random.default_rng(0).permutation(n)[: round(n * 0.1)]
    assert np.array_equal(parts["test"], np.sort(fresh))  # fixed seed 0, not the run seed
    assert np.array_equal(split_indices(n, "all"), np.arange(n))
    with pytest.raises(BenchmarkError, match="valid: train, val, test, all"):
        load_dataset("shapes3d-procedural", "dev")


def test_procedural_splits_match_real_layout() -> None:
    ds = load_dataset("shapes3d-procedural", "all")
    assert isinstance(ds, ProceduralShapes) and len(ds) == N_IMAGES == 480_000
    assert FACTOR_NAMES[4] == "shape" and FACTOR_SIZES == (10, 10, 10, 8, 4, 15)
    i = np.array([0, 1, 15, 12_345, N_IMAGES - 1])
    assert np.array_equal(ds.factors[i], np.stack(np.unravel_index(i, FACTOR_SIZES), 1))
    val = load_dataset("shapes3d-procedural", "val")
    assert np.array_equal(val.indices, split_indices(N_IMAGES, "val"))
    a, b = (load_dataset("shapes3d-procedural", "train", n=12, seed=4) for _ in range(2))
    assert isinstance(a, ProceduralShapes) and len(a) == 12 and np.array_equal(a.indices, b.indices)
    assert np.isin(a.indices, split_indices(N_IMAGES, "train")).all()


# --- procedural renderer ---------------------------------------------------------------------------


def _vary(factor: int, base: tuple[int, ...] = (1, 6, 3, 4, 0, 7)) -> np.ndarray:
    grid = np.tile(np.array(base), (FACTOR_SIZES[factor], 1))
    grid[:, factor] = np.arange(FACTOR_SIZES[factor])
    return render(np.ravel_multi_index(tuple(grid.T), FACTOR_SIZES))


def test_render_deterministic_across_batches() -> None:
    idx = np.array([7, 479_999, 123_456, 250_000, 7, 31_415])
    full = render(idx)
    assert full.shape == (6, 64, 64, 3) and full.dtype == np.uint8
    assert np.array_equal(full[0], full[4])
    assert np.array_equal(render(idx[::-1]), full[::-1]) and np.array_equal(render(idx[2:3])[0], full[2])
    ds = load_dataset("shapes3d-procedural", "all")
    assert torch.equal(pickle.loads(pickle.dumps(ds)).read(idx), torch.from_numpy(full).permute(0, 3, 1, 2))
    x = ds.__getitems__([31_415, 7])
    assert x.dtype == torch.float32 and x.shape == (2, 3, 64, 64) and x.min() >= 0 and x.max() <= 1
    assert ds.with_shape((3, 32, 32))[7].shape == (3, 32, 32)


@pytest.mark.parametrize("factor", range(6))
def test_each_factor_changes_the_image(factor: int) -> None:
    images = _vary(factor)
    assert len({im.tobytes() for im in images}) == FACTOR_SIZES[factor]


@pytest.mark.parametrize(("shape", "visible"), [(0, True), (1, True), (2, False), (3, True)])
def test_orientation_visible_except_sphere(shape: int, visible: bool) -> None:
    images = _vary(5, (1, 6, 3, 4, shape, 0))
    assert len({im.tobytes() for im in images}) == (15 if visible else 1)


def test_scene_layout() -> None:
    img = render([np.ravel_multi_index((6, 4, 0, 4, 2, 0), FACTOR_SIZES)])[0].astype(int)  # blue, green, red
    wall, floor, obj = img[2, 32], img[61, 32], img[38, 32]
    assert wall[1] > 150 and wall[1] > wall[0] + 100 and wall[1] > wall[2] + 100  # green wall on top
    assert floor[2] > 150 and floor[2] > floor[0] and floor[2] > floor[1] + 100  # blue floor below
    assert obj[0] > 100 and obj[1] < 20 and obj[2] < 20  # red sphere in the centre
    assert img.min() >= 0 and img.max() == 255


def test_ray_culling_never_clips_an_object(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.data import shapes_render

    largest = [np.ravel_multi_index((0, 1, 2, 7, k, o), FACTOR_SIZES) for k in range(4) for o in range(15)]
    culled = render(largest)
    monkeypatch.setattr(shapes_render, "_CAM", shapes_render._camera(cull=False))
    assert np.array_equal(render(largest), culled)


def test_images_with_chosen_factors_come_the_same_way_from_file_and_renderer(tmp_path: Path) -> None:
    """``at_factors``: the interventional metrics' access path, by grid index, for both sources."""
    ds = _open_tiny(_tiny_h5(tmp_path / "tiny.h5"), "test").with_shape((3, 16, 16))
    factors = np.array([[1, 0, 0, 1, 3, 0], [0, 0, 0, 0, 0, 1], [1, 0, 0, 1, 3, 0]])
    picked = ds.at_factors(factors)
    index = np.ravel_multi_index(tuple(factors.T), TINY)
    assert picked.image_shape == (3, 16, 16) and np.array_equal(picked.factors, factors)
    assert picked.read(slice(None))[:, 0, 10, 10].tolist() == index.tolist()  # red channel = grid index
    with pytest.raises(BenchmarkError, match="outside the grid"):
        ds.at_factors(np.array([[2, 0, 0, 0, 0, 0]]))
    with pytest.raises(BenchmarkError, match="shape"):
        ds.at_factors(np.array([1, 0, 0]))
    proc = load_dataset("shapes3d-procedural", "val", n=4, seed=0)
    grid = np.array([[3, 1, 4, 1, 2, 9], [0, 0, 0, 0, 0, 0]])
    images = proc.at_factors(grid).read(slice(None)).numpy().transpose(0, 2, 3, 1)
    assert np.array_equal(images, render(np.ravel_multi_index(tuple(grid.T), FACTOR_SIZES)))
