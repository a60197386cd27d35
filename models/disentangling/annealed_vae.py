"""AnnealedVAE (Burgess et al. 2018): gamma |KL - C| with a capacity C annealed linearly over training."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.base import LossTerms, gaussian_sample, half_squared_error
from models.vae import VAE, kl_standard_normal


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
