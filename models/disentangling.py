"""The disentangling VAEs of disentanglement_lib's study and the GWAE paper's baselines.

beta-TCVAE (Chen et al. 2018), DIP-VAE-I/II (Kumar et al. 2018) and AnnealedVAE (Burgess et al.
2018): the VAE's Gaussian encoder, sigmoid decoder and 1/2 squared error, plus one regulariser each.
FactorVAE, which needs a discriminator and a second optimizer, lives in ``models/factorvae.py``.

The regularisers are pure tensor functions, each tested against an independent computation in
``tests/test_disentangling_models.py``. Where the GWAE authors' vaetc code (O) and
disentanglement_lib (D) differ, the docstring says which one is followed and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from models.base import LossTerms, gaussian_sample, half_squared_error
from models.vae import VAE, kl_standard_normal

TC_ESTIMATORS = ("mws", "mss", "paper")


# ----------------------------------------------------------------------------- beta-TCVAE


def log_density_matrix(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """(B, B, L) log N(z_i,d; mu_j,d, exp(logvar_j,d)): every sample's code under every posterior."""
    zi, mj, lj = z[:, None, :], mu[None, :, :], logvar[None, :, :]
    return -0.5 * ((zi - mj).pow(2) * torch.exp(-lj) + lj + math.log(2 * math.pi))


def mss_log_weights(batch: int, dataset_size: int, device: torch.device | None = None) -> Tensor:
    """log of the minibatch-stratified-sampling weights of Chen et al. (2018), appendix C.2.

    With M = B - 1 other samples: the sample's own posterior weighs 1/N, the next one in the batch
    (cyclically) (N - M) / (N M), every other one 1/M; each row sums to 1. (The authors' code
    writes the stratified weight of the last row into row B - 2, so its last row sums to 1 + 1/N;
    this follows the paper's formula instead.)
    """
    if batch < 2 or dataset_size < batch:
        raise ValueError(f"MSS needs a batch of >= 2 and dataset_size >= batch, got {batch} and {dataset_size}")
    m, n = batch - 1, float(dataset_size)
    w = torch.full((batch, batch), 1.0 / m, dtype=torch.float64)
    idx = torch.arange(batch)
    w[idx, idx] = 1.0 / n
    w[idx, (idx + 1) % batch] = (n - m) / (n * m)
    return w.log().to(device=device)


def total_correlation(
    z: Tensor, mu: Tensor, logvar: Tensor, estimator: str = "mws", dataset_size: int | None = None
) -> Tensor:
    """Minibatch estimate of TC = E_q(z)[log q(z) - sum_d log q(z_d)], mean over the batch.

    ``mws``: minibatch-weighted sampling (Chen et al. 2018), log q(z_i) ~ logsumexp_j log q(z_i|x_j)
    - log(B N), the same for each marginal. ``mss``: minibatch-stratified sampling (their appendix
    C.2, ``mss_log_weights``). ``paper``: the official GWAE settings' vaetc code (and
    disentanglement_lib), MWS without the log(B N) constants; it differs from ``mws`` by the
    constant (L - 1) log(B N) and has the same gradients. (One stored revision of vaetc's
    ``btcvae.py`` subtracts log B from each term, i.e. MWS with N = 1: another constant,
    (L - 1) log B, and the same gradients again.)
    """
    if estimator not in TC_ESTIMATORS:
        raise ValueError(f"estimator must be one of {TC_ESTIMATORS}, got {estimator!r}")
    b, dims = z.shape
    logq = log_density_matrix(z, mu, logvar)  # (B, B, L)
    if estimator == "mss":
        if dataset_size is None:
            raise ValueError("the mss estimator needs dataset_size")
        logw = mss_log_weights(b, dataset_size, z.device).to(z.dtype)
        log_qz = torch.logsumexp(logw + logq.sum(dim=2), dim=1)
        log_marginals = torch.logsumexp(logw[:, :, None] + logq, dim=1).sum(dim=1)
        return (log_qz - log_marginals).mean()
    log_qz = torch.logsumexp(logq.sum(dim=2), dim=1)
    log_marginals = torch.logsumexp(logq, dim=1).sum(dim=1)
    tc = (log_qz - log_marginals).mean()
    if estimator == "mws":
        if dataset_size is None:
            raise ValueError("the mws estimator needs dataset_size")
        tc = tc + (dims - 1) * math.log(b * dataset_size)
    return tc


@dataclass(frozen=True)
class BetaTCVAEConfig:
    z_dim: int = 64  # official settings (CelebA), as VAEConfig; presets choose per suite
    beta: float = 2.0  # TC weight: official btcvae.yaml 2.0 (dlib study grid 1, 2, 4, 6, 8, 10)
    #: ``mws`` (P: the default of Chen et al.'s code), ``mss`` (P), ``paper`` (O: vaetc, no dataset-size constants).
    estimator: Literal["mws", "mss", "paper"] = "mws"
    #: N of the MWS/MSS weights; C: the 3D Shapes training split (80% of 480,000); suites set their own.
    dataset_size: int = 384_000
    lr: float = 1e-4  # official settings
    batchnorm: bool = True  # vaetc baselines keep BN on

    def __post_init__(self) -> None:
        if self.z_dim < 1 or self.beta < 0 or self.dataset_size < 2 or not self.lr > 0:
            raise ValueError("z_dim >= 1, beta >= 0, dataset_size >= 2 and lr > 0 are required")
        if self.estimator not in TC_ESTIMATORS:
            raise ValueError(f"estimator must be one of {TC_ESTIMATORS}, got {self.estimator!r}")


class BetaTCVAE(VAE):
    """Loss = 1/2 squared error + KL + (beta - 1) TC, the form of vaetc and disentanglement_lib.

    Chen et al. weight MI, TC and dimension-wise KL separately (alpha = gamma = 1, beta on TC);
    with the analytic KL that decomposition is KL + (beta - 1) TC.
    """

    config_cls = BetaTCVAEConfig

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        cfg = self.config
        mu, logvar = self.encoder(x)
        z = gaussian_sample(mu, logvar)
        recon = half_squared_error(x, self.decoder(z))
        kl = kl_standard_normal(mu, logvar)
        tc = total_correlation(z, mu, logvar, cfg.estimator, cfg.dataset_size)
        return {"loss": recon + kl + (cfg.beta - 1) * tc, "recon": recon, "kl": kl, "tc": tc}


# ----------------------------------------------------------------------------- DIP-VAE


def batch_covariance(x: Tensor) -> Tensor:
    """(L, L) covariance of the rows of ``x`` with divisor B (E[x x^T] - E[x] E[x]^T), as vaetc and dlib."""
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / x.shape[0]


def dip_covariance(mu: Tensor, logvar: Tensor, variant: str) -> Tensor:
    """Cov of the encoder means (``i``), or of q(z) = Cov[mu] + E[diag exp(logvar)] (``ii``)."""
    cov = batch_covariance(mu)
    if variant == "ii":
        cov = cov + torch.diag(logvar.exp().mean(dim=0))
    elif variant != "i":
        raise ValueError(f"DIP variant must be 'i' or 'ii', got {variant!r}")
    return cov


def dip_penalties(cov: Tensor) -> tuple[Tensor, Tensor]:
    """(sum of squared off-diagonal entries, sum of squared (diagonal - 1)) of a covariance matrix."""
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return off.pow(2).sum(), (diag - 1).pow(2).sum()


@dataclass(frozen=True)
class DIPVAEConfig:
    z_dim: int = 64  # official settings (CelebA), as VAEConfig; presets choose per suite
    variant: Literal["i", "ii"] = "i"  # Kumar et al. 2018: DIP-VAE-I (Cov[mu]) or -II (Cov of q(z))
    lambda_od: float = 1.0  # off-diagonal weight: official dipvaei.yaml 1 (dipvaeii.yaml 10)
    #: diagonal weight: official dipvaei.yaml / dipvaeii.yaml 1. Ignored when lambda_d_factor is set.
    lambda_d: float = 1.0
    #: D: disentanglement_lib ties lambda_d = factor x lambda_od (10 for I, 1 for II); None = use lambda_d.
    lambda_d_factor: float | None = None
    lr: float = 1e-4  # official settings
    batchnorm: bool = True  # vaetc baselines keep BN on

    def __post_init__(self) -> None:
        if self.z_dim < 1 or self.lambda_od < 0 or self.lambda_d < 0 or not self.lr > 0:
            raise ValueError("z_dim >= 1, lambda_od >= 0, lambda_d >= 0 and lr > 0 are required")
        if self.variant not in ("i", "ii"):
            raise ValueError(f"variant must be 'i' or 'ii', got {self.variant!r}")
        if self.lambda_d_factor is not None and self.lambda_d_factor < 0:
            raise ValueError(f"lambda_d_factor must be >= 0, got {self.lambda_d_factor}")

    @property
    def diagonal_weight(self) -> float:
        return self.lambda_d if self.lambda_d_factor is None else self.lambda_d_factor * self.lambda_od


class DIPVAE(VAE):
    """Loss = 1/2 squared error + KL + lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2."""

    config_cls = DIPVAEConfig

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        cfg = self.config
        mu, logvar = self.encoder(x)
        recon = half_squared_error(x, self.decoder(gaussian_sample(mu, logvar)))
        kl = kl_standard_normal(mu, logvar)
        off, diag = dip_penalties(dip_covariance(mu, logvar, cfg.variant))
        loss = recon + kl + cfg.lambda_od * off + cfg.diagonal_weight * diag
        return {"loss": loss, "recon": recon, "kl": kl, "dip_off_diagonal": off, "dip_diagonal": diag}


# ----------------------------------------------------------------------------- AnnealedVAE


def annealed_capacity(step: int, c_max: float, anneal_steps: int) -> float:
    """C(step) = min(c_max, c_max step / anneal_steps): linear from 0 to c_max (disentanglement_lib)."""
    if anneal_steps < 1:
        raise ValueError(f"anneal_steps must be >= 1, got {anneal_steps}")
    return min(c_max, c_max * step / anneal_steps)


@dataclass(frozen=True)
class AnnealedVAEConfig:
    z_dim: int = 64  # official settings (CelebA), as VAEConfig; presets choose per suite
    gamma: float = 1000.0  # P (Burgess et al. 2018) and D (the study's fixed gamma)
    c_max: float = 25.0  # nats; P: Burgess et al.'s dSprites setting (D: study grid 5, 10, 25, 50, 75, 100)
    #: D: iteration_threshold 100,000 (of 300,000 training steps); short presets scale it to their budget.
    anneal_steps: int = 100_000
    lr: float = 1e-4  # official settings
    batchnorm: bool = True  # vaetc baselines keep BN on

    def __post_init__(self) -> None:
        if self.z_dim < 1 or self.gamma < 0 or self.c_max < 0 or self.anneal_steps < 1 or not self.lr > 0:
            raise ValueError("z_dim >= 1, gamma >= 0, c_max >= 0, anneal_steps >= 1 and lr > 0 are required")


class AnnealedVAE(VAE):
    """Loss = 1/2 squared error + gamma |KL - C(step)|, KL the batch mean (disentanglement_lib).

    vaetc's ``annealedvae`` takes |KL_i - C| per sample before the batch mean and anneals over 90%
    of the training progress; we follow the study, whose step count a fixed budget can state. The
    step counter is a buffer, so it is saved in checkpoints and a resumed run continues the schedule.
    """

    config_cls = AnnealedVAEConfig

    def __init__(self, config: AnnealedVAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    @property
    def capacity(self) -> float:
        return annealed_capacity(int(self.steps_done), self.config.c_max, self.config.anneal_steps)

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, logvar = self.encoder(x)
        recon = half_squared_error(x, self.decoder(gaussian_sample(mu, logvar)))
        kl = kl_standard_normal(mu, logvar)
        capacity = torch.tensor(self.capacity, dtype=kl.dtype, device=kl.device)
        loss = recon + self.config.gamma * (kl - capacity).abs()
        return {"loss": loss, "recon": recon, "kl": kl, "capacity": capacity}

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        out = super().train_batch(x, optimizers)
        self.steps_done += 1
        return out
