"""beta-TCVAE (Chen et al. 2018): the VAE plus (beta - 1) times a minibatch estimate of the total correlation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from models.base import gaussian_sample, half_squared_error
from models.vae import VAE, kl_standard_normal

TC_ESTIMATORS = ("mws", "mss", "paper")




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
