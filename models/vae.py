"""VAE and beta-VAE as in the GWAE authors' vaetc baselines: Gaussian encoder, sigmoid decoder,
1/2 squared error (unit-variance Gaussian likelihood, constant dropped), Adam."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.base import BenchmarkModel, Representation, SingleObjectiveModel, gaussian_sample, half_squared_error
from models.networks import ConvDecoder, ConvEncoder


@dataclass(frozen=True)
class VAEConfig:
    z_dim: int = 64  # official settings (CelebA); presets choose per suite
    beta: float = 1.0  # KL weight; 1 is the VAE, vaetc's bvae.yaml uses 0.1
    lr: float = 1e-4  # official settings
    batchnorm: bool = True  # vaetc baselines keep BN on (GWAE turns it off)

    def __post_init__(self) -> None:
        if self.z_dim < 1 or self.beta < 0:
            raise ValueError("z_dim >= 1 and beta >= 0 are required")


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)), summed over dimensions, mean over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()


class GaussianAutoencoder(BenchmarkModel):
    """vaetc's Gaussian encoder and sigmoid decoder with Adam over every parameter: what the VAE family
    shares. Models with their own update order (GECO's state, the adversarial models' two optimizers) build
    on it and write ``train_batch``/``eval_batch``; models trained on one loss add ``SingleObjectiveModel``."""

    def __init__(self, config, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.encoder = ConvEncoder(image_shape, config.z_dim, gaussian=True, batchnorm=config.batchnorm)
        self.decoder = ConvDecoder(image_shape, config.z_dim, batchnorm=config.batchnorm)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        mu, logvar = self.encoder(x)
        return mu if representation == "mean" else gaussian_sample(mu, logvar)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


class VAE(SingleObjectiveModel, GaussianAutoencoder):
    config_cls = VAEConfig
    ood_scorer = "prior_nll"

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, logvar = self.encoder(x)
        recon = half_squared_error(x, self.decoder(gaussian_sample(mu, logvar)))
        kl = kl_standard_normal(mu, logvar)
        return {"loss": recon + self.config.beta * kl, "recon": recon, "kl": kl}
