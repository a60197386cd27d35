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
    #: What ``sample_prior`` draws from, recorded with every sample-based number (e.g. FID of samples).
    prior_sampler: ClassVar[str] = "normal"
    #: The config field that holds the run's training budget in steps, for models whose schedules vaetc ties
    #: to its epoch count (GECO's update start, the two-stage switch, warm-ups): the planner sets it to the run's
    #: ``max_epochs x steps_per_epoch`` where that is known, so a CPU-sized budget runs the whole schedule.
    budget_field: ClassVar[str | None] = None

    def __init__(self, config, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.config = config
        self.image_shape = tuple(image_shape)

    @classmethod
    def mode_of(cls, config) -> str:
        """The config's mode label for records and leaderboard rows ('-' where a model has none)."""
        return "-"

    def diagnostics(self) -> dict:
        """Counts a record should carry about how the model was computed (e.g. numerical guards)."""
        return {}

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

    # -- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def sample_prior(self, n: int) -> Tensor:
        """``n`` codes from the model's prior; the default is the standard normal of the VAE family."""
        return torch.randn(n, self.z_dim, device=self.device)

    @torch.no_grad()
    def generate(self, n: int) -> Tensor:
        """``n`` images decoded from prior codes (what FID of samples scores)."""
        return self.decode(self.sample_prior(n))

    # -- out-of-distribution score (higher = more likely OoD) -------------------------------
    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Default scorer: negative log-density of z under the standard normal prior."""
        z = self.encode(x, representation)
        return standard_normal_nll(z)


class SingleObjectiveModel(BenchmarkModel):
    """A model trained by one optimizer ``"main"`` on one loss: subclasses define ``terms(x)`` only.

    ``terms`` returns tensors including ``"loss"``; training steps on it, validation reports it.
    """

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        terms = self.terms(x)
        optimizers["main"].zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizers["main"].step()
        return {k: v.item() for k, v in terms.items()}

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        self.eval()
        return {k: v.item() for k, v in self.terms(x).items()}


def standard_normal_nll(z: Tensor) -> Tensor:
    """-log N(z; 0, I) per row, constants included: 0.5 * sum_k (z_k^2 + log 2 pi)."""
    return 0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(dim=1)


def gaussian_sample(mu: Tensor, logvar: Tensor) -> Tensor:
    """Reparameterized sample z = mu + exp(logvar / 2) * eps."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def half_squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean over the batch of 0.5 * ||x - x_hat||^2 summed over pixels (unit-variance Gaussian NLL)."""
    return 0.5 * (x - x_hat).pow(2).flatten(1).sum(dim=1).mean()
