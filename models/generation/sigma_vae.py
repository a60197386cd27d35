"""sigma-VAE with the optimal sigma (Rybkin et al., ICML 2021) and the GWAE paper's version of it.

Sources: GitHub ganmodokix/vaetc, branch develop_may, ``vaetc/models/sigmavae.py`` (cited as sigmavae.py:LINE);
GitHub orybkin/sigma-vae-pytorch, ``model.py`` (the authors' code); GitHub ganmodokix/gwae, ``settings/sigmavae.yaml``.

vaetc computes the batch's optimal decoder scale sigma* (sigmavae.py:33-37) but its loss is ``rec + KL``
(lines 40-46): sigma* is logged (as ``equivalent_beta`` = 2 sigma*^2) and never used. So the baseline the paper
ran is a plain VAE; the published method puts sigma* into the Gaussian likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from models.base import gaussian_sample, half_squared_error
from models.vae import VAE, kl_standard_normal

SIGMA_MODES = ("paper", "fixed")


@dataclass(frozen=True)
class SigmaVAEConfig:
    #: ``paper``: vaetc sigmavae.py, loss rec + KL (sigma* computed, unused); ``fixed``: Rybkin et al.'s
    #: optimal-sigma Gaussian likelihood (GitHub orybkin/sigma-vae-pytorch, model.py, ``optimal_sigma_vae``).
    mode: str = "paper"
    z_dim: int = 64  # gwae settings/sigmavae.yaml
    lr: float = 1e-4  # gwae settings/sigmavae.yaml; Adam (0.9, 0.999) from vaetc models/vae.py:31-34
    batchnorm: bool = True  # vaetc models/vae.py:28-29 builds the encoder and decoder with their default BN
    #: Soft floor of log sigma*: softclip(., -6) in vaetc sigmavae.py:14-15, 36 and in Rybkin et al.'s code.
    log_sigma_min: float = -6.0

    def __post_init__(self) -> None:
        if self.mode not in SIGMA_MODES:
            raise ValueError(f"mode must be one of {', '.join(SIGMA_MODES)}, got {self.mode!r}")
        if self.z_dim < 1 or not self.lr > 0:
            raise ValueError(f"z_dim >= 1 and lr > 0 are required, got {self.z_dim} and {self.lr}")


def softclip(x: Tensor, low: float) -> Tensor:
    """low + softplus(x - low): a smooth lower bound that keeps gradients (vaetc sigmavae.py:14-15)."""
    return low + F.softplus(x - low)


def optimal_log_sigma(x: Tensor, x_hat: Tensor, low: float) -> Tensor:
    """softclip(log sqrt(MSE)) with one MSE over the whole batch and every pixel (sigmavae.py:35-36).

    sqrt(MSE) maximises the Gaussian likelihood over a shared sigma. The gradient flows through it, as in
    Rybkin et al.'s code; at the optimum it is zero anyway, so only the soft floor makes it matter.
    """
    return softclip((x - x_hat).pow(2).mean().sqrt().log(), low)


def gaussian_nll(x: Tensor, x_hat: Tensor, log_sigma: Tensor) -> Tensor:
    """Mean over the batch of -log N(x; x_hat, sigma^2 I), summed over pixels, constants included."""
    per_pixel = 0.5 * ((x - x_hat) / log_sigma.exp()).pow(2) + log_sigma + 0.5 * math.log(2 * math.pi)
    return per_pixel.flatten(1).sum(dim=1).mean()


class SigmaVAE(VAE):
    """sigma-VAE: the VAE's networks, N(0, I) prior and reconstruction; the modes differ in the likelihood.

    - ``paper`` (vaetc): loss = 1/2 ||x - x_hat||^2 + KL, exactly ``models.vae.VAE``'s loss on the same weights
      and batch; sigma* is computed in training and kept only as a logged number.
    - ``fixed`` (Rybkin et al.): loss = sum_pixels [(x - x_hat)^2 / (2 sigma*^2) + log sigma* + log(2 pi) / 2]
      + KL with sigma* the batch's ``optimal_log_sigma``, in training and validation; equivalent to a
      beta-VAE with beta = 2 sigma*^2 plus the log-normaliser D log sigma*.

    Both keep the last training batch's sigma* in the ``log_sigma`` buffer (vaetc's ``log_sigma`` parameter,
    saved in checkpoints), and report ``sigma`` and ``equivalent_beta`` = 2 sigma^2 (sigmavae.py:43).
    """

    config_cls = SigmaVAEConfig
    ood_scorer = "prior_nll"

    def __init__(self, config: SigmaVAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.register_buffer("log_sigma", torch.zeros(()))  # sigmavae.py:28, sigma = 1 before training

    @classmethod
    def mode_of(cls, config: SigmaVAEConfig) -> str:
        return config.mode

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, logvar = self.encoder(x)
        x_hat = self.decoder(gaussian_sample(mu, logvar))
        kl = kl_standard_normal(mu, logvar)
        log_sigma = optimal_log_sigma(x, x_hat, self.config.log_sigma_min)
        if self.training:  # vaetc stores sigma* only when called with a progress, i.e. in training
            self.log_sigma.copy_(log_sigma.detach())
        if self.config.mode == "paper":
            recon = half_squared_error(x, x_hat)
            shown = self.log_sigma  # vaetc reports the stored sigma, in validation the last training one
        else:
            recon = gaussian_nll(x, x_hat, log_sigma)
            shown = log_sigma.detach()
        return {"loss": recon + kl, "recon": recon, "kl": kl, "sigma": shown.exp(),
                "equivalent_beta": 2 * (2 * shown).exp()}
