"""Generation suite: FID/KID/PSNR against hand computations and references, extractors, CelebA and
Fashion-MNIST loaders, prior sampling, and the suite through the CLI."""

import io
import json
import math
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import torch
from PIL import Image

from benchmark.cli import main
from benchmark.data import celeba, fashion_mnist, load_dataset
from benchmark.launch.planning import plan
from benchmark.records.io import read_records
from benchmark.suites import SUITES, EvalContext
from benchmark.suites import generation as gen
from core.errors import BenchmarkError
from metrics import LOWER_IS_BETTER, fid_from_features, frechet_distance, kid, psnr, psnr_per_image
from metrics import extractors as ex
from models import build_model, resolve_config

ROOT = Path(__file__).resolve().parents[1]


def random_spd(d: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d + (0 if rank else 0.1) * np.eye(d)


# -- Frechet distance ---------------------------------------------------------------------------
def test_equal_gaussians_are_at_distance_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=32), random_spd(32, rng)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_diagonal_covariances_match_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    by_hand = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(by_hand, rel=1e-12)


def test_singular_covariances_are_handled():
    # diag(0, 1) and diag(4, 0): (S1 S2)^(1/2) = 0, so FD = |dmu|^2 + 1 + 4
    value = frechet_distance([0.0, 0.0], np.diag([0.0, 1.0]), [1.0, 2.0], np.diag([4.0, 0.0]))
    assert value == pytest.approx(5.0 + 5.0, abs=1e-12)
    rng = np.random.default_rng(2)  # rank-deficient (fewer samples than dimensions)
    s1, s2 = random_spd(20, rng, rank=5), random_spd(20, rng, rank=7)
    assert frechet_distance(np.zeros(20), s1, np.zeros(20), s1) == pytest.approx(0.0, abs=1e-9)
    ref = np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert frechet_distance(np.zeros(20), s1, np.zeros(20), s2) == pytest.approx(ref, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("d", [3, 64, 256])
def test_full_covariances_agree_with_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(d, rng), random_spd(d, rng)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)


def test_agrees_with_pytorch_fid():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(500, 40)), rng.normal(0.3, 1.5, size=(500, 40)) @ rng.normal(size=(40, 40)) / 6
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
    ref = fid_score.calculate_frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1])
    assert fid_from_features(a, b) == pytest.approx(ref, rel=1e-8)


def test_fid_of_gaussian_samples_approaches_the_population_value():
    rng = np.random.default_rng(4)
    a = rng.normal(0.0, 1.0, size=(20_000, 4))
    b = rng.normal(1.0, 2.0, size=(20_000, 4))
    assert fid_from_features(a, b) == pytest.approx(4 * 1.0 + 4 * (1 + 4 - 2 * 2), rel=0.03)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 0], np.eye(2), [0, 0, 0], np.eye(3)), "differ in length"),
        (([0, 0], np.array([[1, 0.5], [0, 1]]), [0, 0], np.eye(2)), "not symmetric"),
        (([0, np.nan], np.eye(2), [0, 0], np.eye(2)), "non-finite"),
        (([0, 0], np.eye(3), [0, 0], np.eye(2)), "covariance matrix"),
    ],
)
def test_frechet_distance_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(*args)


# -- KID and PSNR --------------------------------------------------------------------------------
def test_kid_with_one_subset_equals_the_formula_by_hand():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 5)), rng.normal(0.5, 1.0, size=(30, 5))

    def k(a, b):
        return (a @ b / 5 + 1) ** 3

    m = 30
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    out = kid(x, y, subsets=1, subset_size=30)
    assert out["kid"] == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert out["subset_size"] == 30


def test_kid_with_fewer_images_than_the_subset_size_uses_them_all_and_says_so():
    """torch-fidelity refuses; here the subset shrinks to the smaller set, and the size used is returned
    (the generation suite writes it into the metric spec, ``subset_size=<used>``)."""
    rng = np.random.default_rng(7)
    out = kid(rng.normal(size=(40, 5)), rng.normal(size=(55, 5)), subsets=3, subset_size=1000)
    assert out["subset_size"] == 40 and out["subsets"] == 3


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    assert abs(kid(a, b, subsets=20)["kid"]) < 0.01
    assert kid(a, b + 1.0, subsets=20)["kid"] > 0.1


def test_psnr_by_hand():
    x = np.zeros((3, 1, 4, 4))
    y = np.stack([np.full((1, 4, 4), 0.1), np.full((1, 4, 4), 0.01), np.zeros((1, 4, 4))])
    # MSE 1e-2 -> 20 dB, 1e-4 -> 40 dB, 0 -> floored at 1e-10 -> 100 dB
    assert psnr_per_image(x, y) == pytest.approx([20.0, 40.0, 100.0])
    assert psnr(x, y) == pytest.approx(160.0 / 3)
    half = np.zeros((1, 3, 2, 2))
    half[0, 0] = 1.0  # a third of the pixels off by 1: MSE 1/3
    assert psnr(half, np.zeros_like(half)) == pytest.approx(10 * math.log10(3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psnr(x + 2.0, y)
    with pytest.raises(ValueError, match="one shape"):
        psnr(x, y[:2])


# -- feature extractors --------------------------------------------------------------------------
def test_domain_checkpoint_matches_its_pinned_checksum_and_card():
    for name, ckpt in ex.DOMAIN_CHECKPOINTS.items():
        path = ex.WEIGHTS_DIR / ckpt.file
        assert ex.file_sha256(path) == ckpt.sha256, name
        assert path.stat().st_size < 1 << 20
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["sha256"] == ckpt.sha256 and card["dataset"] == ckpt.dataset
    assert json.loads((ex.WEIGHTS_DIR / "mnist-cnn-v1.json").read_text())["test_accuracy"] > 0.98


def test_a_tampered_domain_checkpoint_is_rejected(tmp_path):
    bad = tmp_path / "mnist-cnn-v1.pt"
    blob = bytearray((ex.WEIGHTS_DIR / "mnist-cnn-v1.pt").read_bytes())
    blob[-100] ^= 0xFF
    bad.write_bytes(bytes(blob))
    with pytest.raises(BenchmarkError, match="sha256 mismatch"):
        ex.build_extractor("mnist-cnn-v1", bad)


def test_domain_extractor_classifies_mnist_and_gives_128_features():
    extractor = ex.build_extractor("mnist-cnn-v1")
    test = load_dataset("mnist", "test", n=500, seed=0)
    x = test.images.float() / 255
    with torch.no_grad():
        accuracy = (extractor.net.logits(x).argmax(1) == test.labels).float().mean().item()
    assert accuracy > 0.97
    feats = extractor.features(x)
    assert feats.shape == (500, 128) and feats.dtype == np.float64
    # a 3x64x64 copy goes through the same gray / 28x28 path and lands close to the native features
    big = load_dataset("mnist", "test", n=500, seed=0, image_shape=(3, 64, 64))
    assert extractor.resize_for((3, 64, 64)) == "bilinear-antialias-28,rgb-mean-to-gray"
    assert extractor.resize_for((1, 28, 28)) == "none,gray"
    assert np.corrcoef(extractor.features(torch.cat(list(big.batches(500)))).ravel(), feats.ravel())[0, 1] > 0.95


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory) -> tuple[Path, dict]:
    """A randomly initialised state_dict of the FID Inception's exact keys and shapes."""
    torch.manual_seed(0)
    net = ex.FIDInceptionV3()
    for module in net.modules():  # BN statistics away from (0, 1), so the test sees them used
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    state = net.state_dict()
    path = tmp_path_factory.mktemp("weights") / "random_inception.pth"
    torch.save(state, path)
    return path, state


@pytest.mark.slow
def test_inception_loads_weights_of_the_right_shapes(random_inception):
    path, _ = random_inception
    extractor = ex.build_extractor("inception-v3-fid", path)
    assert extractor.spec == f"inception-v3-fid/unofficial-{ex.file_sha256(path)[:12]}"
    feats = extractor.features(torch.rand(2, 1, 28, 28))
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()
    assert extractor.resize_for((1, 28, 28)) == "bilinear-299,gray-tiled-to-rgb"


@pytest.mark.slow
def test_inception_matches_pytorch_fid_on_the_same_weights(random_inception, monkeypatch):
    inception = pytest.importorskip("pytorch_fid.inception")
    path, state = random_inception
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: state)
    reference = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = reference(x)[0].flatten(1).double().numpy()
    ours = ex.build_extractor("inception-v3-fid", path).features(x)
    assert np.allclose(ours, expected, rtol=1e-4, atol=1e-5)


def test_missing_or_wrong_inception_weights_are_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv(ex.INCEPTION_WEIGHTS_ENV, raising=False)
    with pytest.raises(BenchmarkError, match="weights not given") as err:
        ex.build_extractor("inception-v3-fid")
    assert "\n" not in str(err.value)
    with pytest.raises(BenchmarkError, match="file not found"):
        ex.build_extractor("inception-v3-fid", tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save(ex.DomainCNN().state_dict(), wrong)
    with pytest.raises(BenchmarkError, match="not the FID Inception-v3 weights") as err:
        ex.build_extractor("inception-v3-fid", wrong)
    assert "\n" not in str(err.value)


def test_cli_with_a_missing_inception_file_fails_before_writing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--suite", "generation", "--preset", "smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, ex.INCEPTION_WEIGHTS_ENV: str(tmp_path / "missing.pth")},
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "file not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


# -- CelebA --------------------------------------------------------------------------------------
def fake_celeba(root: Path, n: int = 6, as_zip: bool = False) -> list[np.ndarray]:
    """A tiny tree in the real layout: 178x218 JPEGs (a gradient plus a colour per image), a partition file."""
    base = root / celeba.FOLDER
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays, blobs = [], {}
    for i in range(n):
        img = np.zeros((218, 178, 3), np.uint8)
        img[..., 0] = np.linspace(0, 255, 178)[None, :]
        img[..., 1] = np.linspace(0, 255, 218)[:, None]
        img[..., 2] = rng.integers(0, 256)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=95)
        blobs[f"{i + 1:06d}.jpg"] = buf.getvalue()
        arrays.append(img)
    codes = [0, 0, 0, 1, 2, 2][:n]
    (base / celeba.PARTITION_FILE).write_text("".join(f"{name} {c}\n" for name, c in zip(blobs, codes, strict=True)))
    if as_zip:
        with zipfile.ZipFile(base / celeba.ZIP_NAME, "w") as archive:
            for name, blob in blobs.items():
                archive.writestr(f"{celeba.IMAGES_DIR}/{name}", blob)
    else:
        (base / celeba.IMAGES_DIR).mkdir()
        for name, blob in blobs.items():
            (base / celeba.IMAGES_DIR / name).write_bytes(blob)
    return arrays


def test_celeba_loader_reads_the_real_layout_with_the_paper_preprocessing(tmp_path):
    fake_celeba(tmp_path)
    splits = {s: load_dataset("celeba", s, data_root=tmp_path) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in splits.items()} == {"train": 3, "val": 1, "test": 2}
    x = next(splits["test"].batches(8))
    assert x.shape == (2, 3, 64, 64) and float(x.min()) >= 0 and float(x.max()) <= 1
    # center crop 144 (offsets (178-144)/2 = 17 and (218-144)/2 = 37), bilinear resize to 64, by PIL directly
    with Image.open(tmp_path / "celeba" / "img_align_celeba" / "000005.jpg") as im:
        expected = np.asarray(im.convert("RGB").crop((17, 37, 161, 181)).resize((64, 64), Image.Resampling.BILINEAR))
    assert np.array_equal(splits["test"].read([0])[0].numpy().transpose(1, 2, 0), expected)
    # the horizontal gradient survives the crop: column means rise from left to right
    assert float(x[0, 0, :, -1].mean()) > float(x[0, 0, :, 0].mean()) + 0.3


def test_celeba_zip_is_read_in_place_when_its_checksum_matches(tmp_path):
    fake_celeba(tmp_path / "folder")
    fake_celeba(tmp_path / "zipped", as_zip=True)
    sha = ex.file_sha256(tmp_path / "zipped" / "celeba" / celeba.ZIP_NAME)
    from_zip = celeba.open_celeba(tmp_path / "zipped", "train", zip_sha256=sha)
    from_dir = celeba.open_celeba(tmp_path / "folder", "train")
    assert torch.equal(next(from_zip.batches(8)), next(from_dir.batches(8)))


def test_celeba_zip_with_a_wrong_checksum_is_rejected_cleanly(tmp_path, capsys):
    fake_celeba(tmp_path, as_zip=True)
    with pytest.raises(BenchmarkError, match="sha256 mismatch") as err:
        load_dataset("celeba", "train", data_root=tmp_path)
    assert celeba.ZIP_SHA256 in str(err.value) and "\n" not in str(err.value)
    out = tmp_path / "out"
    assert main(["run", "--suite", "generation", "--preset", "paper", "--data-root", str(tmp_path),
                 "--out", str(out)]) == 2
    msg = capsys.readouterr().err.strip()
    assert msg.startswith("error:") and "sha256 mismatch" in msg and "\n" not in msg and not out.exists()


def test_celeba_bad_trees_are_clear_errors(tmp_path):
    fake_celeba(tmp_path / "a")
    (tmp_path / "a" / "celeba" / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(BenchmarkError, match="missing"):
        load_dataset("celeba", "train", data_root=tmp_path / "a")
    fake_celeba(tmp_path / "b")
    (tmp_path / "b" / "celeba" / celeba.PARTITION_FILE).write_text("000001.jpg 7\n")
    with pytest.raises(BenchmarkError, match=r"list_eval_partition.txt:1"):
        load_dataset("celeba", "train", data_root=tmp_path / "b")
    with pytest.raises(BenchmarkError, match="needs a data root"):
        load_dataset("celeba", "train")


def test_celeba_suite_needs_inception_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ex.INCEPTION_WEIGHTS_ENV, raising=False)
    fake_celeba(tmp_path)
    assert main(["run", "--suite", "generation", "--preset", "paper", "--data-root", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 2
    msg = capsys.readouterr().err.strip()
    assert "needs the FID Inception weights" in msg and ex.INCEPTION_WEIGHTS_ENV in msg and "\n" not in msg


@pytest.mark.slow
def test_celeba_evaluation_with_inception_features(tmp_path, random_inception, monkeypatch):
    """The suite's evaluation on a fake CelebA test split, Inception as the primary (only) extractor."""
    path, _ = random_inception
    monkeypatch.setenv(ex.INCEPTION_WEIGHTS_ENV, str(path))
    fake_celeba(tmp_path)
    (spec,) = plan("generation", "paper", ["vae"], [0], data_source="data_root")
    run = spec.config
    data = SUITES.get("generation").load_eval_data(run.data, run.eval.params, tmp_path)
    assert data[gen.FEATURES].extractors == (("", "inception-v3-fid"),)
    torch.manual_seed(0)
    model = build_model("vae", resolve_config("vae", {"z_dim": 4}), (3, 64, 64)).eval()
    ctx = EvalContext(model, data, "mean", torch.device("cpu"), 64, 0, params=run.eval.params,
                      run_dir=tmp_path / "run", checkpoint="best")
    rows = {(r["metric"], r.get("representation", "mean")): r for r in gen.evaluate(ctx).rows}
    fid = rows[("fid_samples", "prior")]
    assert fid["metric_spec"].startswith(f"fid-v1@inception-v3-fid/unofficial-{ex.file_sha256(path)[:12]}/")
    assert fid["n_real"] == fid["n_fake"] == 2 and fid["resize"] == "bilinear-299,rgb" and fid["fid_seed"] == 0
    assert fid["eval_dataset"] == "celeba-test" and fid["value"] >= 0
    assert (tmp_path / "run" / "samples_best.png").exists() and (tmp_path / "run" / "recon_best_mean.png").exists()


# -- Fashion-MNIST ------------------------------------------------------------------------------
def test_fashion_mnist_files_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv(fashion_mnist.SYSTEM_DIR_ENV, str(tmp_path))
    with pytest.raises(BenchmarkError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load("test", None)
    for name in fashion_mnist.SHA256:  # MNIST's files under Fashion-MNIST's names: MNIST is not Fashion-MNIST
        shutil.copy(ROOT / "benchmark" / "data" / "shipped" / "mnist" / f"{name}.gz", tmp_path / f"{name}.gz")
    assert fashion_mnist.available()
    with pytest.raises(BenchmarkError, match="sha256 of the decompressed file"):
        fashion_mnist.load("test", None)


@pytest.mark.skipif(not fashion_mnist.available(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_loads_with_mnist_splits():
    test = load_dataset("fashion-mnist", "test")
    assert len(test) == 10_000 and test.native_shape == (1, 28, 28)
    assert sorted(np.unique(test.labels.numpy())) == list(range(10))
    assert len(load_dataset("fashion-mnist", "val")) == 6_000


# -- prior sampling ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dagmm", "dagmm-zong"])  # mixture over z (paper) or [z, rel, cos] (zong)
def test_dagmm_samples_the_z_marginal_of_its_mixture(name):
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, {"z_dim": 2, "num_components": 2}), (1, 28, 28)).eval()
    d = model.mixture_dim
    model.running_phi.copy_(torch.tensor([0.25, 0.75], dtype=torch.float64))
    model.running_mu.zero_()
    model.running_mu[0, :2] = torch.tensor([-5.0, 0.0], dtype=torch.float64)
    model.running_mu[1, :2] = torch.tensor([5.0, 1.0], dtype=torch.float64)
    model.running_cov.copy_(torch.eye(d, dtype=torch.float64).expand(2, d, d) * 0.25)
    z = model.sample_prior(20_000)
    assert z.dtype == torch.float32 and z.shape == (20_000, 2)
    z = z.double()
    assert float((z[:, 0] > 0).double().mean()) == pytest.approx(0.75, abs=0.02)
    right = z[z[:, 0] > 0]
    assert right.mean(0).tolist() == pytest.approx([5.0, 1.0], abs=0.03)
    assert right.std(0).tolist() == pytest.approx([0.5, 0.5], abs=0.03)


def test_gwae_samples_its_prior_in_eval_mode_and_keeps_its_training_flag():
    torch.manual_seed(0)
    model = build_model("gwae-np", resolve_config("gwae-np", {"z_dim": 4}), (1, 28, 28)).train()
    model.prior.bn.running_mean.fill_(-3.0)  # eval mode: (net(eps) + 3) / sqrt(var), mean about 3
    z = model.sample_prior(4000)
    assert model.prior.training  # restored
    assert float(z.mean()) > 1.0  # running statistics used (a training-mode batch would be standardised to 0)
    assert model.generate(3).shape == (3, 1, 28, 28)


# -- the suite end to end ------------------------------------------------------------------------
def test_lower_fid_ranks_first():
    assert {"fid_samples", "fid_recon", "kid_samples", "fid_samples_inception"} <= LOWER_IS_BETTER
    assert "psnr" not in LOWER_IS_BETTER


def test_real_features_are_cached_per_image_selection():
    a = load_dataset("mnist", "test", n=100, seed=0)
    b = load_dataset("mnist", "test", n=100, seed=1)
    assert gen.fingerprint(a) == gen.fingerprint(load_dataset("mnist", "test", n=100, seed=0))
    assert gen.fingerprint(a) != gen.fingerprint(b)
    assert gen.fingerprint(a) != gen.fingerprint(a.with_shape((1, 32, 32)))


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    assert main(["run", "--suite", "generation", "--preset", "smoke", "--models", "vae", "--out", str(out),
                 "--no-progress"]) == 0
    return out


@pytest.mark.slow
def test_smoke_run_records_every_generation_metric_with_its_provenance(smoke_out):
    records = read_records(smoke_out)
    by = {(r["metric"], r["checkpoint"], r["representation"]) for r in records}
    for ckpt in ("best", "last"):
        assert {("fid_samples", ckpt, "prior"), ("kid_samples", ckpt, "prior")} <= by
        for rep in ("mean", "sample"):
            assert {("fid_recon", ckpt, rep), ("kid_recon", ckpt, rep), ("psnr", ckpt, rep)} <= by
    assert not any(r["metric"].endswith("_samples") and r["representation"] != "prior" for r in records)
    for r in records:
        assert math.isfinite(r["value"])
        if r["metric"].startswith(("fid_", "kid_")):
            assert r["extractor"] == "mnist-cnn-v1" and r["n_real"] == r["n_fake"] == 256
            assert r["resize"] == "none,gray" and r["fid_seed"] == 0
            assert r["extractor_weights_sha256"] == ex.DOMAIN_CHECKPOINTS["mnist-cnn-v1"].sha256
            assert r["metric_spec"].startswith(("fid-v1@mnist-cnn-v1/n_real=256,n_fake=256,",
                                                "kid-v1@mnist-cnn-v1/"))
        if r["metric"].startswith("kid_"):  # 256 images, preset subset size 1000: the size used is in the spec
            assert "subset_size=256," in r["metric_spec"]
        if r["metric"] == "fid_samples":
            assert r["prior_sampler"] == "normal"
    run = next(p.parent for p in smoke_out.rglob("records.jsonl"))
    assert {p.name for p in run.glob("*.png")} == {
        "samples_best.png", "samples_last.png", "recon_best_mean.png", "recon_best_sample.png",
        "recon_last_mean.png", "recon_last_sample.png"}


@pytest.mark.slow
def test_leaderboard_has_fid_psnr_and_the_best_seeds_grids(smoke_out):
    table = pd.read_csv(smoke_out / "generation" / "leaderboard.csv")
    assert {"fid_samples", "fid_recon", "psnr"} <= set(table.metric)
    assert set(table[table.metric == "fid_samples"].better) == {"lower"}
    assert set(table[table.metric == "psnr"].better) == {"higher"}
    assert (smoke_out / "generation" / "fid_samples.png").stat().st_size > 1000
    copied = {p.name for p in (smoke_out / "generation" / "artifacts").iterdir()}
    assert "vae_normal_samples_best.png" in copied and "vae_normal_recon_best_mean.png" in copied
