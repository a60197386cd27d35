"""Generation suite (the paper's CelebA experiment): FID of prior samples, FID and PSNR of reconstructions.

Protocol (docs/suite-generation.md): real images = the test split (CelebA: the official partition
2; embedded: MNIST test), samples = ``decode(model.sample_prior(n))`` with as many samples as real
images (official ``fid.py``), reconstructions = ``decode(encode(x))`` of the same real images.
One feature pass per image set, shared by every metric (as torch-fidelity): the real features are
computed once per process and extractor, the samples' and reconstructions' once per evaluation.
Then, per extractor: FID and KID of samples and of reconstructions; and PSNR of reconstructions.

Extractors: the dataset's domain classifier (``mnist-cnn-v1``, ``fashion-cnn-v1``) where one
exists, and the FID Inception-v3 when ``$GWAE_BENCH_INCEPTION_WEIGHTS`` names its weights. The
plain metric names (``fid_samples``, ``fid_recon``, ``kid_*``) use the *primary* extractor (the
domain one, else Inception: CelebA); with both, Inception adds ``*_inception`` metrics. The
``metric_spec`` always names the extractor, so the two FIDs are never confused.

Sample metrics do not depend on the encoder's representation: they are computed once per checkpoint
(in the ``mean`` pass) and recorded with ``representation = "prior"``. Generated and reconstructed
images are quantized to 8 bits before feature extraction, as images saved to PNG would be.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from benchmark import plots
from benchmark.config.run_config import DataConfig, TrainConfig
from benchmark.data import fashion_mnist, load_dataset
from benchmark.suites.base import (
    EvalContext,
    Headline,
    MetricUse,
    Preset,
    Scores,
    Suite,
    Trajectory,
    plot_metrics,
    register,
    score_metrics,
)
from core.errors import BenchmarkError
from metrics import INCEPTION_SUFFIX, FeatureSets, Reconstructions, psnr_per_image
from metrics.extractors import (
    INCEPTION_WEIGHTS_ENV,
    FeatureExtractor,
    build_extractor,
    inception_weights_path,
)

REAL, FEATURES = "real", "features"
#: Domain classifiers by training dataset (datasets without one, like CelebA, need Inception).
DOMAIN_EXTRACTORS = {"mnist": "mnist-cnn-v1", "fashion-mnist": "fashion-cnn-v1"}
INCEPTION = "inception-v3-fid"
#: The representation pass in which the (representation-free) sample metrics are computed.
SAMPLES_PASS = "mean"
SAMPLE_GRID, RECON_PAIRS, GRID_COLS = (8, 8), 4, 8

@dataclass(frozen=True)
class GenerationEval:
    """KID's subsets and subset size (torch-fidelity's defaults: 100 of 1,000)."""

    kid_subsets: int = 100
    kid_subset_size: int = 1000


#: The suite's metrics, in record order: PSNR of the reconstructions, then FID and KID of each feature set.
METRICS = (
    MetricUse("psnr"),
    MetricUse("fid"),
    MetricUse("kid", lambda p: {"subsets": p.kid_subsets, "subset_size": p.kid_subset_size}),
)

PRESETS = {
    # A few steps of every model, FID on 256 real / 256 generated images; numbers mean nothing.
    "smoke": Preset(
        image_shape=(1, 28, 28), z_dim=8, seeds=(0,), n_train=512, n_val=128, n_eval=256, n_gw=128,
        train=TrainConfig(batch_size=64, max_epochs=2, patience=2, steps_per_epoch=4),
        eval_params=GenerationEval(kid_subsets=10),
    ),
    # CPU-sized: 28x28, the same 1,500-step budget for every model (epochs of 150 steps, patience 3); FID on the 10,000
    # test images against 10,000 samples; z_dim 16 is our choice; the mean pass (sample and reconstruction FID, PSNR)
    # also at 375, 750 and 1,125 steps, which with the last checkpoint traces them along the budget.
    "default": Preset(
        image_shape=(1, 28, 28), z_dim=16, seeds=(0, 1, 2), n_train=None, n_val=2048, n_eval=10_000,
        train=TrainConfig(batch_size=64, max_epochs=10, patience=3, steps_per_epoch=150),
        eval_params=GenerationEval(),
        budgets=(375, 750, 1125),
    ),
    # Official settings (settings/*.yaml): 3x64x64, z_dim 64, batch 64, patience 10 (5 for the models whose file says
    # so; a fixed epoch count, no early stopping, for GECO, the two-stage VAE and the Ladder VAE); FID on the whole test
    # split (CelebA: 19,962) against as many samples (official fid.py).
    "paper": Preset(
        image_shape=(3, 64, 64), z_dim=64, seeds=(0, 1, 2), n_train=None, n_val=None, n_eval=None,
        train=TrainConfig(batch_size=64, max_epochs=1000, patience=10),
        eval_params=GenerationEval(),
        model_train={
            **{m: {"patience": 5} for m in ("sigma-vae", "vlae", "ali", "avb", "vae-gan")},
            **{m: {"max_epochs": n, "patience": n} for m, n in (("geco", 150), ("two-stage-vae", 200),
                                                                 ("ladder-vae", 100))},
        },
    ),
}

#: The paper's comparison (the official code's generation settings, ``settings/<name>.yaml``): GWAE-NP and its 18
#: baselines, vaetc's ``wae`` being the InfoVAE; the deterministic WAE-MMD (``wae``) is an extra row of ours.
MODELS = ("gwae-np", "vae", "beta-vae", "beta-tcvae", "factorvae", "dip-vae-i", "dip-vae-ii", "wae-infovae", "geco",
          "sigma-vae", "vampprior-vae", "two-stage-vae", "ladder-vae", "vlae", "guided-vae", "u-vitae", "ali", "avb",
          "vae-gan", "wae")
#: Where the official settings differ from a model's registry default (the beta-VAE's default, 4, is the
#: disentanglement suite's; ``settings/bvae.yaml`` has beta 0.1). Every other hyperparameter of the 18 files is
#: its model's default.
SETTINGS = {"beta-vae": {"beta": 0.1}}
#: Where vaetc's code departs furthest from the published method (sigma-VAE trains a plain VAE, VampPrior's KL and
#: Ladder VAE's merge are wrong, VAE-GAN's decoder gets no adversarial gradient), the published model (``fixed``)
#: runs beside vaetc's (``paper``, each model's default) as its own row. The other models with both modes (GECO,
#: two-stage VAE, U-VITAE, ALI, AVB) run vaetc's; ``--set mode=fixed`` runs theirs.
FIXED_BESIDE_PAPER = ("sigma-vae", "vampprior-vae", "ladder-vae", "vae-gan")


@dataclass(frozen=True)
class FidSetup:
    """Which extractors score a dataset: (metric suffix, registry name) pairs, the primary one first."""

    extractors: tuple[tuple[str, str], ...]
    inception_weights: str | None

    @classmethod
    def for_dataset(cls, dataset: str) -> FidSetup:
        """Validates every extractor now (weights present and checksummed), before anything is written."""
        weights = inception_weights_path()
        chosen: list[tuple[str, str]] = []
        if dataset in DOMAIN_EXTRACTORS:
            chosen.append(("", DOMAIN_EXTRACTORS[dataset]))
        if weights is not None:
            chosen.append((INCEPTION_SUFFIX if chosen else "", INCEPTION))
        if not chosen:
            raise BenchmarkError(f"FID on {dataset} needs the FID Inception weights (no domain extractor exists "
                                 f"for it): set ${INCEPTION_WEIGHTS_ENV} to pt_inception-2015-12-05-6726825d.pth")
        setup = cls(tuple(chosen), None if weights is None else str(weights))
        setup.build()
        return setup

    def build(self, device: torch.device | None = None) -> list[tuple[str, FeatureExtractor]]:
        out = []
        for suffix, name in self.extractors:
            extractor = _extractor(name, self.inception_weights if name == INCEPTION else None)
            out.append((suffix, extractor if device is None else extractor.to(device)))
        return out


@functools.lru_cache(maxsize=8)
def _extractor(name: str, weights: str | None) -> FeatureExtractor:
    return build_extractor(name, weights)


#: Real-image features per (extractor spec, image-set fingerprint): the real side is extracted once per process.
_REAL_FEATURES: dict[tuple[str, str], np.ndarray] = {}


def fingerprint(dataset: Any) -> str:
    """Identity of an evaluation image set: its name, split, shape and exact image selection."""
    digest = hashlib.sha256(f"{dataset.name}/{dataset.split}/{dataset.source}/{dataset.image_shape}".encode())
    selection = getattr(dataset, "indices", None)
    digest.update(np.ascontiguousarray(selection).tobytes() if selection is not None else dataset.images.numpy())
    return digest.hexdigest()


def quantize(x: Tensor) -> Tensor:
    """Round [0, 1] images to the 256 levels of an 8-bit PNG."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def real_features(extractor: FeatureExtractor, dataset: Any, batch_size: int) -> np.ndarray:
    key = (extractor.spec, fingerprint(dataset))
    if key not in _REAL_FEATURES:
        _REAL_FEATURES[key] = extractor.features_of(quantize(x) for x in dataset.batches(batch_size))
    return _REAL_FEATURES[key]


def load_eval_data(data: DataConfig, _params: GenerationEval, data_root: Path | None) -> dict[str, Any]:
    real = load_dataset(data.dataset, "test", data_root=data_root, image_shape=data.image_shape, n=data.n_eval, seed=0)
    return {REAL: real, FEATURES: FidSetup.for_dataset(data.dataset)}


@torch.no_grad()
def _pass(extractors: list[tuple[str, FeatureExtractor]], pairs: Iterable[tuple[Tensor | None, Tensor]],
          keep: int) -> tuple[list[np.ndarray], np.ndarray, Tensor | None, Tensor]:
    """One pass over (input or None, output image) batches: features of the outputs for every extractor
    (one pass shared by all metrics), per-image PSNR against the inputs, the first ``keep`` of each for a grid."""
    feats: list[list[np.ndarray]] = [[] for _ in extractors]
    psnrs: list[np.ndarray] = []
    kept_in: list[Tensor] = []
    kept_out: list[Tensor] = []
    for x, out in pairs:
        out = out.float().clamp(0.0, 1.0)
        q = quantize(out)
        for i, (_, extractor) in enumerate(extractors):
            feats[i].append(extractor.features(q))
        if x is not None:
            psnrs.append(psnr_per_image(x.double().cpu().numpy(), out.double().cpu().numpy()))
        room = keep - sum(len(t) for t in kept_out)
        if room > 0:
            kept_out.append(out[:room].cpu())
            if x is not None:
                kept_in.append(x[:room].cpu())
    return ([np.concatenate(f) for f in feats], np.concatenate(psnrs) if psnrs else np.zeros(0),
            torch.cat(kept_in) if kept_in else None, torch.cat(kept_out))


def _reconstructions(ctx: EvalContext, dataset: Any) -> Iterator[tuple[Tensor | None, Tensor]]:
    for x in dataset.batches(ctx.batch_size):
        x = x.to(ctx.device)
        yield x, ctx.model.reconstruct(x, ctx.representation)


def _samples(ctx: EvalContext, n: int) -> Iterator[tuple[Tensor | None, Tensor]]:
    for start in range(0, n, ctx.batch_size):
        yield None, ctx.model.generate(min(ctx.batch_size, n - start))


def evaluate(ctx: EvalContext) -> Scores:
    real, setup = ctx.data[REAL], ctx.data[FEATURES]
    extractors = setup.build(ctx.device)
    n = len(real)
    base = {"eval_dataset": f"{real.name}-{real.split}", "n_real": n, "quantize": "uint8"}
    reals = [real_features(ex, real, ctx.batch_size) for _, ex in extractors]

    recon_feats, psnrs, recon_in, recon_out = _pass(extractors, _reconstructions(ctx, real), RECON_PAIRS * GRID_COLS)
    rows = score_metrics(METRICS, Reconstructions(psnrs), ctx, base)
    rows += _fid_rows("recon", extractors, reals, recon_feats, real.image_shape, ctx, base)
    artifacts = {}
    if ctx.run_dir is not None and recon_in is not None:
        artifacts[f"recon_{ctx.checkpoint}_{ctx.representation}"] = _recon_grid(ctx, recon_in, recon_out)

    if ctx.representation == SAMPLES_PASS:
        torch.manual_seed(ctx.seed)  # the samples depend on the evaluation seed alone, not on what ran before
        sample_feats, _, _, samples = _pass(extractors, _samples(ctx, n), SAMPLE_GRID[0] * SAMPLE_GRID[1])
        prior = {"representation": "prior", "prior_sampler": ctx.model.prior_sampler}
        sample_rows = _fid_rows("samples", extractors, reals, sample_feats, real.image_shape, ctx,
                                {**base, **prior})
        if ctx.run_dir is not None:
            artifacts[f"samples_{ctx.checkpoint}"] = _sample_grid(ctx, samples)
        rows += sample_rows
    return Scores(rows, artifacts=artifacts)


def _fid_rows(kind: str, extractors: list[tuple[str, FeatureExtractor]], reals: list[np.ndarray],
              fakes: list[np.ndarray], shape: tuple[int, int, int], ctx: EvalContext,
              common: dict[str, Any]) -> list[dict[str, Any]]:
    """The feature-set metrics (FID, KID) of one image set (samples or reconstructions) for every extractor."""
    rows = []
    for (suffix, ex), r, f in zip(extractors, reals, fakes, strict=True):
        info = {**ex.describe(), "resize": ex.resize_for(shape), "n_fake": len(f), "fid_seed": ctx.seed}
        data = FeatureSets(r, f, kind, ex.spec, resize=info["resize"], suffix=suffix)
        rows += score_metrics(METRICS, data, ctx, {**common, **info})
    return rows


def _sample_grid(ctx: EvalContext, samples: Tensor) -> str:
    cols = min(SAMPLE_GRID[1], len(samples))
    rows = min(SAMPLE_GRID[0], len(samples) // cols)
    name = f"samples_{ctx.checkpoint}.png"
    grid = samples[: rows * cols].numpy().reshape(rows, cols, *samples.shape[1:])
    plots.image_grid(grid, ctx.run_dir / name,  # type: ignore[operator]
                     title=f"prior samples, {ctx.checkpoint} checkpoint ({ctx.model.prior_sampler}, seed {ctx.seed})")
    return name


def _recon_grid(ctx: EvalContext, x: Tensor, x_hat: Tensor) -> str:
    """Rows alternate real images and their reconstructions."""
    name = f"recon_{ctx.checkpoint}_{ctx.representation}.png"
    cols = min(GRID_COLS, len(x))
    pairs = min(RECON_PAIRS, len(x) // cols)
    top = x[: pairs * cols].reshape(pairs, 1, cols, *x.shape[1:])
    bottom = x_hat[: pairs * cols].reshape(pairs, 1, cols, *x.shape[1:])
    grid = torch.cat([top, bottom], dim=1).reshape(2 * pairs, cols, *x.shape[1:]).numpy()
    plots.image_grid(grid, ctx.run_dir / name,  # type: ignore[operator]
                     title=f"reconstructions, {ctx.checkpoint} checkpoint, {ctx.representation} code",
                     row_labels=["real", "recon"] * pairs)
    return name


def plot(records: pd.DataFrame, dest: Path) -> list[Path]:
    return plot_metrics(METRICS, records, dest)


def _register(name: str, summary: str, dataset: str, root_dataset: str | None) -> None:
    register(Suite(
        name=name,
        summary=summary,
        dataset=dataset,
        root_dataset=root_dataset,
        models=MODELS,
        settings=SETTINGS,
        variants={m: ({"mode": "fixed"},) for m in FIXED_BESIDE_PAPER},
        presets=PRESETS,
        load_eval_data=load_eval_data,
        evaluate=evaluate,
        plot=plot,
        headline=Headline("fid_samples", "best", "prior"),
        also_ranked=(Headline("psnr", "last", "sample"),),
        protocol="vaetc's: FID of prior samples on the best checkpoint (lowest validation loss, official fid.py), PSNR "
                 "of reconstructions on the last, decoding a sampled code (vaetc's evaluate); every metric is "
                 "recorded at both checkpoints and both codes",
        gw_set=REAL,
        # the mean pass scores the samples too; with the domain extractor it costs seconds, with Inception more
        trajectory=Trajectory("fid_samples", SAMPLES_PASS, evaluate),
    ))


_register("generation", "MNIST (CelebA with a data root): FID of prior samples and of reconstructions, PSNR",
          "mnist", "celeba")
if fashion_mnist.available():  # the Debian package is installed: its suite is listed
    _register("generation-fashion", "Fashion-MNIST (Debian dataset-fashion-mnist): FID of samples and "
              "reconstructions, PSNR", "fashion-mnist", None)
