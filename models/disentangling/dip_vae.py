"""DIP-VAE-I and II (Kumar et al. 2018): the VAE plus penalties that push a code covariance to the identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from models.base import gaussian_sample, half_squared_error
from models.vae import VAE, kl_standard_normal


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
