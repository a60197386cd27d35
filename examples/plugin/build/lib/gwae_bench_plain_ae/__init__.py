"""A gwae-bench model plugin: a plain deterministic autoencoder (no prior term), OoD-scored by latent norm.

The entry point (``gwae_bench.models`` group, name ``plain-ae``) loads ``SPEC``, a ``models.ModelSpec``: the
benchmark adds it to its model registry at import, so it trains and ranks in every suite like a built-in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models import ModelSpec
from models.base import Representation, SingleObjectiveModel, half_squared_error
from models.networks import ConvDecoder, ConvEncoder


@dataclass(frozen=True)
class PlainAEConfig:
    z_dim: int = 16  # small, as an example; presets set z_dim per suite (``--set z_dim=...`` too)
    lr: float = 1e-3  # Adam's usual rate: no published setting to follow for this toy baseline
    batchnorm: bool = True


class PlainAE(SingleObjectiveModel):
    """Plain autoencoder: deterministic code, 1/2 squared error; OoD score = squared latent norm."""

    config_cls = PlainAEConfig
    ood_scorer = "latent_norm"
    prior_label = "none"

    def __init__(self, config: PlainAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.encoder = ConvEncoder(image_shape, config.z_dim, gaussian=False, batchnorm=config.batchnorm)
        self.decoder = ConvDecoder(image_shape, config.z_dim, batchnorm=config.batchnorm)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        recon = half_squared_error(x, self.decoder(self.encoder(x)))
        return {"loss": recon, "recon": recon}

    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        return self.encoder(x)  # deterministic: every representation is the code itself

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Squared latent norm: codes of unfamiliar inputs tend to land far from where training codes lie."""
        return self.encode(x, representation).pow(2).sum(dim=1)


SPEC = ModelSpec(PlainAE, summary="plain deterministic autoencoder, 1/2 squared error, OoD score = latent norm")
