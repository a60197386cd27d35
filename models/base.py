"""The contract between models and the shared trainer.

Models own their losses and their optimizer steps (GWAE runs five critic steps per main step,
DAGMM updates its mixture statistics); the trainer owns the loop, devices, checkpoints and
logging. A model is built from its typed config and the image shape of the data it will see.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

Representation = Literal["mean", "sample"]
LossTerms = dict[str, float]


class BenchmarkModel(nn.Module):
    """Base class of every benchmark model.

    Subclasses set ``config_cls`` and implement the abstract methods below. ``train_batch``
    must return a dict of floats that contains ``"loss"`` (the quantity the paper's code
    reports as the training loss); the trainer checks every term for NaN/inf.
    """

    config_cls: ClassVar[type]
    #: Name of the OoD score this model produces, recorded with every OoD number.
    ood_scorer: ClassVar[str] = "prior_nll"
    #: Prior recorded for models without a ``prior`` config section.
    prior_label: ClassVar[str] = "normal"

    def __init__(self, config, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.config = config
        self.image_shape = tuple(image_shape)

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- training ---------------------------------------------------------------------------
    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        raise NotImplementedError

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        """Validation loss terms on one batch (model in eval mode, no parameter update)."""
        raise NotImplementedError

    # -- representation ---------------------------------------------------------------------
    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def reconstruct(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        return self.decode(self.encode(x, representation))

    # -- out-of-distribution score (higher = more likely OoD) -------------------------------
    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Default scorer: negative log-density of z under the standard normal prior."""
        z = self.encode(x, representation)
        return standard_normal_nll(z)


def standard_normal_nll(z: Tensor) -> Tensor:
    """-log N(z; 0, I) per row, constants included: 0.5 * sum_k (z_k^2 + log 2 pi)."""
    return 0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(dim=1)


def gaussian_sample(mu: Tensor, logvar: Tensor) -> Tensor:
    """Reparameterized sample z = mu + exp(logvar / 2) * eps."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def half_squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean over the batch of 0.5 * ||x - x_hat||^2 summed over pixels (unit-variance Gaussian NLL)."""
    return 0.5 * (x - x_hat).pow(2).flatten(1).sum(dim=1).mean()
