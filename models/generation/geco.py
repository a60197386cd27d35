"""GECO (Rezende & Viola 2018) as the GWAE paper's baseline ran it: vaetc's ``models/geco.py`` (develop_may).

Sources: GitHub ganmodokix/vaetc, branch develop_may, ``vaetc/models/geco.py`` (cited below as geco.py:LINE),
``vaetc/models/vae.py`` and ``vaetc/train.py``; the run settings: GitHub ganmodokix/gwae, ``settings/geco.yaml``.

A VAE trained under a reconstruction constraint: the loss is lambda * C + KL, where C is a moving average of the
per-image constraint sum (x - x_hat)^2 - tolerance^2, fed through a straight-through estimator (its value is the
average, its gradient that of the batch), and lambda is moved by a clipped multiplicative step every ``lbd_step``
batches. The pure pieces (``geco_constraint``, ``ema_constraint``, ``lambda_step``) are tested on their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from models.base import LossTerms, gaussian_sample
from models.vae import GaussianAutoencoder

GECO_MODES = ("paper", "fixed")
#: vaetc's CelebA budget: settings/geco.yaml epochs 150 x 2,544 training batches per epoch (162,770 images, B 64).
CELEBA_STEPS = 150 * 2_544


@dataclass(frozen=True)
class GECOConfig:
    #: ``paper``: vaetc geco.py, where validation batches also move the running constraint and the batch counter
    #: (geco.py:47-52, 69 run in ``eval_batch``); ``fixed``: only training batches do.
    mode: str = "paper"
    z_dim: int = 64  # gwae settings/geco.yaml
    lr: float = 1e-4  # gwae settings/geco.yaml; Adam (0.9, 0.999) from vaetc models/vae.py:31-34
    batchnorm: bool = True  # vaetc models/vae.py:28-29 builds the encoder and decoder with their default BN
    tolerance: float = 10.0  # gwae settings/geco.yaml; squared in vaetc geco.py:34
    momentum: float = 0.99  # gwae settings/geco.yaml; the moving average of vaetc geco.py:47-52
    lbd_step: int = 100  # gwae settings/geco.yaml; lambda moves when the batch count is a multiple (geco.py:66)
    #: Progress after which lambda may move. vaetc geco.py:66 waits for batch count > 200, i.e. progress
    #: 200 / (CELEBA_STEPS - 1) of its CelebA run; tied to progress, the wait scales with ``total_steps``.
    lbd_start: float = 200 / (CELEBA_STEPS - 1)
    lbd_factor_min: float = 0.9  # vaetc geco.py:67: log lambda moves by at least log 0.9 ...
    lbd_factor_max: float = 1.05  # ... and at most log 1.05
    #: Training steps of the run (progress = steps_done / (total_steps - 1)); the default is vaetc's CelebA
    #: budget, settings/geco.yaml epochs 150 x 2,544 batches per epoch.
    total_steps: int = CELEBA_STEPS

    def __post_init__(self) -> None:
        if self.mode not in GECO_MODES:
            raise ValueError(f"mode must be one of {', '.join(GECO_MODES)}, got {self.mode!r}")
        if self.z_dim < 1 or not self.lr > 0:
            raise ValueError(f"z_dim >= 1 and lr > 0 are required, got {self.z_dim} and {self.lr}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.lbd_step < 1 or self.total_steps < 1:
            raise ValueError(f"lbd_step and total_steps must be >= 1, got {self.lbd_step} and {self.total_steps}")
        if not 0 <= self.lbd_start <= 1:
            raise ValueError(f"lbd_start is a progress in [0, 1], got {self.lbd_start}")
        if not 0 < self.lbd_factor_min <= 1 <= self.lbd_factor_max:
            raise ValueError(
                f"0 < lbd_factor_min <= 1 <= lbd_factor_max is required, got {self.lbd_factor_min}, "
                f"{self.lbd_factor_max}"
            )


def geco_constraint(x: Tensor, x_hat: Tensor, tolerance: float) -> Tensor:
    """(B,) sum of squared errors over pixels minus tolerance^2: no 1/2 and no normalisation (geco.py:28-34)."""
    return (x - x_hat).pow(2).flatten(1).sum(dim=1) - tolerance**2


def ema_constraint(running: Tensor, batch_mean: Tensor, momentum: float, first: bool) -> Tensor:
    """The moving average after one batch: the batch mean on the first batch, else an EMA (geco.py:47-52)."""
    return batch_mean if first else momentum * running + (1 - momentum) * batch_mean


def lambda_step(constraint: Tensor, factor_min: float, factor_max: float) -> Tensor:
    """Change of log lambda: the constraint value clipped to [log factor_min, log factor_max] (geco.py:67).

    The constraint is in SSE units, so the clip nearly always saturates: lambda grows 5% while the
    constraint is violated and shrinks 10% while it is met, a sign-like schedule.
    """
    return constraint.clamp(math.log(factor_min), math.log(factor_max))


class GECO(GaussianAutoencoder):
    """Loss = lambda * C_ema + KL with C the per-image SSE - tolerance^2 (vaetc geco.py:36-76).

    Per batch: encode, sample, decode; update the moving average C_ema of the batch-mean constraint; the
    constraint term mean_b [C_b + sg(C_ema - C_b)] has the value C_ema and the gradient of mean_b C_b; the
    KL is clipped at 0 per image (a no-op kept from geco.py:56). After the optimizer step, log lambda moves
    by ``lambda_step`` when the batch count is a multiple of ``lbd_step`` and the progress exceeds
    ``lbd_start``; then the count grows by one. lambda, C_ema, the count and the step counter are buffers,
    so checkpoints carry them.

    Modes differ in validation only:
    - ``paper``: ``eval_batch`` also updates C_ema and the batch count, as vaetc's shared ``step_batch``
      does; its loss reports lambda * C_ema, so ``val_loss`` (best-checkpoint selection) mostly reflects the
      last validation batches, and the count's multiples of ``lbd_step`` shift with every validation pass.
    - ``fixed``: validation leaves every buffer alone and reports lambda * mean_b C_b + KL of its own batch.
    In both modes lambda follows vaetc's clipped step; Rezende & Viola's paper gives no clip values.
    """

    config_cls = GECOConfig
    ood_scorer = "prior_nll"
    budget_field = "total_steps"

    def __init__(self, config: GECOConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.register_buffer("log_lambda", torch.zeros(()))  # geco.py:23, lambda = 1 at the start
        self.register_buffer("running_constraint", torch.zeros(()))  # geco.py:25
        self.register_buffer("running_batches", torch.zeros((), dtype=torch.long))  # geco.py:26
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))  # training steps, for progress

    @classmethod
    def mode_of(cls, config: GECOConfig) -> str:
        return config.mode

    @property
    def progress(self) -> float:
        """vaetc's progress of the current training step: steps done / (total_steps - 1), in [0, 1]."""
        return min(max(int(self.steps_done) / max(self.config.total_steps - 1, 1), 0.0), 1.0)

    def diagnostics(self) -> dict:
        return {"lambda": float(self.log_lambda.exp()), "running_batches": int(self.running_batches),
                "training_steps": int(self.steps_done)}

    def _step(self, x: Tensor, optimizer: torch.optim.Optimizer | None) -> dict[str, Tensor]:
        """One batch of vaetc's ``step_batch``: training when an optimizer is given (geco.py:36-76)."""
        cfg, training = self.config, optimizer is not None
        mu, logvar = self.encoder(x)
        x_hat = self.decoder(gaussian_sample(mu, logvar))
        c = geco_constraint(x, x_hat, cfg.tolerance)
        counts = training or cfg.mode == "paper"
        if counts:
            first = int(self.running_batches) == 0
            new = ema_constraint(self.running_constraint, c.mean().detach(), cfg.momentum, first)
            self.running_constraint.copy_(new)
            constraint = (c + (self.running_constraint - c).detach()).mean()  # value C_ema, gradient of mean C_b
        else:
            constraint = c.mean()
        kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)).clamp_min(0).mean()
        loss = self.log_lambda.exp() * constraint + kl
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = int(self.running_batches)
            if n % cfg.lbd_step == 0 and self.progress > cfg.lbd_start:
                self.log_lambda += lambda_step(constraint.detach(), cfg.lbd_factor_min, cfg.lbd_factor_max)
            self.steps_done += 1
        if counts:
            self.running_batches += 1
        return {"loss": loss, "constraint": constraint, "kl": kl, "equivalent_beta": (-self.log_lambda).exp()}

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        return {k: v.item() for k, v in self._step(x, optimizers["main"]).items()}

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        self.eval()
        return {k: v.item() for k, v in self._step(x, None).items()}
