"""Two-stage VAE (Dai & Wipf, ICLR 2019) as vaetc trains it (``vaetc/models/twostagevae.py``, develop_may).

One run trains two VAEs in sequence. Stage 1 is the image VAE with a learned decoder variance gamma_x:
-log p(x|z) = 1/2 sum_pixels [(x - x_hat)^2 / gamma_x + log gamma_x + log 2 pi]. Stage 2 is a small VAE on
the first stage's codes z ~ q(z|x) (detached), with its own learned variance gamma_z: it learns q(z), the
aggregate posterior that the N(0, I) prior fails to match, and sampling goes u ~ N(0, I) -> z -> x.

The stage follows vaetc's ``progress`` (``vaetc/train.py:128-132``: global batch index / (epochs x batches per
epoch - 1)) measured in this run's step budget: stage 1 while progress < 1/2, stage 2 from then on
(``twostagevae.py:217-220``). With the shipped 200 epochs x 2,544 CelebA batches, stage 2 starts at step 254,400.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import BenchmarkModel, LossTerms, Representation, gaussian_sample
from models.networks import ConvDecoder, ConvEncoder
from models.vae import kl_standard_normal

TWO_STAGE_MODES = ("paper", "fixed")
#: ``bound``: the negative ELBO of the whole generative model (comparable across stages); ``stage``: vaetc's.
VAL_LOSSES = ("bound", "stage")
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class TwoStageVAEConfig:
    #: ``paper``: per-sample gamma networks (develop_may ``twostagevae.py:70-105``); ``fixed``: scalar learned
    #: gammas (Dai & Wipf 2019; vaetc develop, commits 4965f12 and ec1e583).
    mode: str = "paper"
    z_dim: int = 64  # settings/twostagevae.yaml (u has the same size: twostagevae.py:118-121)
    lr: float = 1e-4  # settings/twostagevae.yaml; both stages' Adam (twostagevae.py:137-140)
    batchnorm: bool = True  # vaetc's ConvGaussianEncoder/ConvDecoder default (twostagevae.py:18, 88)
    hidden: int = 256  # twostagevae.py:31, 59, 90 (hidden_dim of every stage-2 and gamma MLP)
    #: Steps of the whole run; the stage switches at half of it. Default: vaetc's budget at CelebA,
    #: settings/twostagevae.yaml epochs 200 x 2,544 batches per epoch. Suites set their own budget.
    total_steps: int = 508_800
    #: What ``eval_batch`` reports as ``loss`` (early stopping, best checkpoint). ``bound`` (ours): the whole
    #: model's negative ELBO; ``stage``: vaetc's, the active stage's loss (twostagevae.py:266-271). See ``TwoStageVAE``.
    val_loss: str = "bound"

    def __post_init__(self) -> None:
        if self.mode not in TWO_STAGE_MODES:
            raise ValueError(f"mode must be one of {', '.join(TWO_STAGE_MODES)}, got {self.mode!r}")
        if self.val_loss not in VAL_LOSSES:
            raise ValueError(f"val_loss must be one of {', '.join(VAL_LOSSES)}, got {self.val_loss!r}")
        if self.z_dim < 1 or self.hidden < 1:
            raise ValueError(f"z_dim >= 1 and hidden >= 1 are required, got {self.z_dim} and {self.hidden}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")


def stage_at(step: int, total_steps: int) -> int:
    """The stage of the 0-based training step ``step``: 1 while vaetc's progress step / (T - 1) < 1/2, else 2.

    Compared in integers (2 step < T - 1), so no rounding can move the switch.
    """
    return 1 if 2 * step < max(total_steps - 1, 1) else 2


def progress_at(step: int, total_steps: int) -> float:
    """vaetc's progress of the 0-based step ``step``: step / max(T - 1, 1), clamped to [0, 1]."""
    return min(max(step / max(total_steps - 1, 1), 0.0), 1.0)


def gaussian_nll(target: Tensor, mean: Tensor, log_gamma: Tensor) -> Tensor:
    """Batch mean of -log N(target; mean, gamma I) = 1/2 sum_d [(t - m)^2 / gamma + log gamma + log 2 pi].

    ``target`` and ``mean`` are (B, ...), ``log_gamma`` is (B,): one variance per row (``twostagevae.py:232, 252``).
    """
    sq = (target - mean).pow(2).flatten(1)
    d = sq.shape[1]
    per_row = 0.5 * ((sq * torch.exp(-log_gamma)[:, None]).sum(dim=1) + d * (log_gamma + LOG_2PI))
    return per_row.mean()


def gaussian_entropy(logvar: Tensor) -> Tensor:
    """Batch mean of H[N(mu, diag exp(logvar))] = 1/2 sum_d (logvar_d + log 2 pi + 1)."""
    return 0.5 * (logvar + LOG_2PI + 1).sum(dim=1).mean()


def _mlp(d_in: int, hidden: int, layers: int = 3) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.SiLU()]
    return nn.Sequential(*mods)


class ScalarLogGamma(nn.Module):
    """One learned log gamma, initialised at 0 (gamma = 1), broadcast to every row (vaetc develop; Dai & Wipf)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def forward(self, h: Tensor) -> Tensor:
        return self.log_gamma.expand(h.shape[0])


class ImageLogGamma(nn.Module):
    """develop_may's per-image log gamma_x: MLP z -> 256 -> 256 -> 256 -> 1 with SiLU (``twostagevae.py:90-104``)."""

    def __init__(self, z_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(_mlp(z_dim, hidden), nn.Linear(hidden, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(1)


class LatentEncoder(nn.Module):
    """q(u|z): MLP z -> 256 x 3 (SiLU) = h; mean and log-variance heads on [h, z] (``twostagevae.py:26-52``)."""

    def __init__(self, z_dim: int, hidden: int) -> None:
        super().__init__()
        self.trunk = _mlp(z_dim, hidden)
        self.mean = nn.Linear(hidden + z_dim, z_dim)
        self.logvar = nn.Linear(hidden + z_dim, z_dim)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        hz = torch.cat([self.trunk(z), z], dim=1)
        return self.mean(hz), self.logvar(hz)


class LatentDecoder(nn.Module):
    """p(z|u): MLP u -> 256 x 3 (SiLU) = h; z_hat = Linear([h, u]) (``twostagevae.py:54-81``).

    log gamma_z: per sample, Linear([h, u]) -> 1 (``per_sample_gamma``, develop_may), else one scalar.
    """

    def __init__(self, z_dim: int, hidden: int, per_sample_gamma: bool) -> None:
        super().__init__()
        self.trunk = _mlp(z_dim, hidden)
        self.mean = nn.Linear(hidden + z_dim, z_dim)
        self.per_sample_gamma = per_sample_gamma
        self.log_gamma = nn.Linear(hidden + z_dim, 1) if per_sample_gamma else ScalarLogGamma()

    def forward(self, u: Tensor) -> tuple[Tensor, Tensor]:
        hu = torch.cat([self.trunk(u), u], dim=1)
        log_gamma = self.log_gamma(hu).squeeze(1) if self.per_sample_gamma else self.log_gamma(hu)
        return self.mean(hu), log_gamma


class TwoStageVAE(BenchmarkModel):
    """Two-stage VAE: stage 1 (image VAE, learned gamma_x) for the first half of the steps, then stage 2.

    Modes (they differ only in the two decoder variances):

    - ``paper`` (vaetc develop_may, the version gwae pins): gamma_x is per image, an MLP of z
      (``twostagevae.py:90-105``), and gamma_z per sample, a Linear head on [h, u] (``:70-79``).
    - ``fixed`` (Dai & Wipf 2019, and vaetc's later develop): each gamma is one learned scalar, log gamma = 0
      at initialisation.

    Kept from vaetc in both modes: the same network sizes for both stages (Dai & Wipf's second stage is a
    wider MLP); exactly one optimizer steps per batch, ``stage1`` (encoder, decoder, gamma_x) in stage 1 and
    ``stage2`` (the latent VAE) in stage 2; in stage 2 the first encoder still runs in training mode, so its
    BatchNorm running statistics keep moving although no optimizer steps it (``twostagevae.py:244``).

    Generation and reconstruction dispatch on the ``stage`` buffer, as vaetc's ``decode``/``encode_gauss``
    dispatch on ``running_progress`` (``twostagevae.py:162-205``). ``sample_prior`` is always N(0, I). Stage 1:
    the code is z; ``decode(z)`` is the first decoder's mean. Stage 2: the code is u; ``decode(u)`` is the first
    decoder's mean at the second decoder's mean z_hat(u) (no gamma_z noise: ``twostagevae.py:197``).
    ``encode(x, "sample")`` in stage 2 is vaetc's: z ~ q(z|x), then u ~ q(u|z), so PSNR includes the second
    stage's error; ``encode(x, "mean")`` is the deterministic chain mean_u(mean_z(x)) (vaetc's ``encode_gauss``
    samples z first; its mean output feeds no metric of the paper).

    Best-checkpoint pitfall: vaetc's validation loss is the active stage's loss, a 12,288-d Gaussian NLL in
    stage 1 (around -1e4) against a 64-d one in stage 2 (around +-1e2), so its best checkpoint is always a
    stage-1 epoch and ``gwae/fid.py`` would score the first stage's N(0, I) sampler, never the two-stage one;
    here, moreover, early stopping would end stage 2 after ``patience`` epochs. With ``val_loss="bound"``
    (default) ``eval_batch`` reports the negative ELBO of the model that ``decode(sample_prior(n))`` samples
    at that stage: in stage 1 rec_1 + KL (vaetc's stage-1 loss itself); in stage 2
    rec_1(x|z) - H[q(z|x)] + L_2(z), i.e. the N(0, I) prior term of KL = -H + E[-log N(z)] replaced by the
    second stage's bound on -log p(z), at the same z. Both stages' values bound -log p(x), so the best
    checkpoint (and early stopping) picks the better sampler; ``stage_loss`` always carries vaetc's value, and
    ``val_loss="stage"`` reproduces vaetc's choice. The ``last`` checkpoint is the final stage's model either
    way (the two-stage sampler once the run passes half its budget), and ``diagnostics`` records each scored
    checkpoint's stage. The stage-2 bound is a one-sample estimate, noisier than stage 1's analytic KL.

    The default OoD score (the N(0, I) NLL of the code) is the prior NLL of z in stage 1 and of u in stage 2.
    """

    config_cls = TwoStageVAEConfig
    budget_field = "total_steps"
    prior_sampler = "normal"

    def __init__(self, config: TwoStageVAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        c, paper = config, config.mode == "paper"
        self.enc1 = ConvEncoder(self.image_shape, c.z_dim, gaussian=True, batchnorm=c.batchnorm)
        self.dec1 = ConvDecoder(self.image_shape, c.z_dim, batchnorm=c.batchnorm)
        self.gamma_x = ImageLogGamma(c.z_dim, c.hidden) if paper else ScalarLogGamma()
        self.enc2 = LatentEncoder(c.z_dim, c.hidden)
        self.dec2 = LatentDecoder(c.z_dim, c.hidden, per_sample_gamma=paper)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        #: vaetc's ``running_progress`` of the last training step (``twostagevae.py:123, 217-218``), for the record
        self.register_buffer("running_progress", torch.zeros((), dtype=torch.float64))
        #: the stage of the last training step; validation, generation and encoding use it (vaetc: 1 at start)
        self.register_buffer("stage", torch.ones((), dtype=torch.long))

    @classmethod
    def mode_of(cls, config: TwoStageVAEConfig) -> str:
        return config.mode

    @property
    def switch_step(self) -> int:
        """The first (0-based) step of stage 2."""
        return (max(self.config.total_steps - 1, 1) + 1) // 2

    def diagnostics(self) -> dict[str, int]:
        return {"stage": int(self.stage), "steps_done": int(self.steps_done), "stage2_from_step": self.switch_step}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        stage1 = [*self.enc1.parameters(), *self.dec1.parameters(), *self.gamma_x.parameters()]
        stage2 = [*self.enc2.parameters(), *self.dec2.parameters()]
        return {"stage1": torch.optim.Adam(stage1, lr=self.config.lr),
                "stage2": torch.optim.Adam(stage2, lr=self.config.lr)}

    # -- losses ------------------------------------------------------------------------------
    def stage1_terms(self, x: Tensor) -> dict[str, Tensor]:
        """L_1 = -log N(x; x_hat(z), gamma_x I) + KL(q(z|x) || N(0, I)), z ~ q(z|x) (``twostagevae.py:227-235``)."""
        mu, logvar = self.enc1(x)
        z = gaussian_sample(mu, logvar)
        log_gamma = self.gamma_x(z)
        recon = gaussian_nll(x, self.dec1(z), log_gamma)
        kl = kl_standard_normal(mu, logvar)
        return {"loss": recon + kl, "recon": recon, "kl": kl, "log_gamma": log_gamma.mean()}

    def stage2_terms(self, x: Tensor, with_bound: bool = False) -> dict[str, Tensor]:
        """L_2 = -log N(z; z_hat(u), gamma_z I) + KL(q(u|z) || N(0, I)), z ~ q(z|x) detached, u ~ q(u|z).

        ``twostagevae.py:242-255``. ``with_bound`` adds ``bound`` = rec_1(x|z) - H[q(z|x)] + L_2(z) at the same z.
        """
        with torch.no_grad():
            mu_z, logvar_z = self.enc1(x)
            z = gaussian_sample(mu_z, logvar_z)
        mu_u, logvar_u = self.enc2(z)
        z_hat, log_gamma = self.dec2(gaussian_sample(mu_u, logvar_u))
        recon = gaussian_nll(z, z_hat, log_gamma)
        kl = kl_standard_normal(mu_u, logvar_u)
        terms = {"loss": recon + kl, "recon": recon, "kl": kl, "log_gamma": log_gamma.mean()}
        if with_bound:
            rec1 = gaussian_nll(x, self.dec1(z), self.gamma_x(z))
            terms["bound"] = rec1 - gaussian_entropy(logvar_z) + terms["loss"]
        return terms

    # -- training ----------------------------------------------------------------------------
    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        """One step of the stage that vaetc's progress of this step selects; the step counter advances."""
        self.train()
        step, total = int(self.steps_done), self.config.total_steps
        stage = stage_at(step, total)
        self.running_progress.fill_(progress_at(step, total))
        self.stage.fill_(stage)
        terms = self.stage1_terms(x) if stage == 1 else self.stage2_terms(x)
        opt = optimizers[f"stage{stage}"]
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        self.steps_done += 1
        return {**{k: float(v.detach()) for k, v in terms.items()}, "stage": float(stage)}

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        """The stage of the last training step (vaetc); ``loss`` per ``val_loss``, ``stage_loss`` vaetc's loss."""
        self.eval()
        stage = int(self.stage)
        if stage == 1:
            terms = self.stage1_terms(x)
            terms["stage_loss"] = terms["loss"]
        else:
            terms = self.stage2_terms(x, with_bound=True)
            terms["stage_loss"] = terms["loss"]
            if self.config.val_loss == "bound":
                terms["loss"] = terms["bound"]
            del terms["bound"]
        return {**{k: float(v) for k, v in terms.items()}, "stage": float(stage)}

    # -- representation ----------------------------------------------------------------------
    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Stage 1: z (mean or sample of q(z|x)); stage 2: u (mean_u(mean_z) or u ~ q(u|z), z ~ q(z|x))."""
        if representation not in ("mean", "sample"):
            raise ValueError(f"representation must be 'mean' or 'sample', got {representation!r}")
        sample = representation == "sample"
        mu, logvar = self.enc1(x)
        if int(self.stage) == 1:
            return gaussian_sample(mu, logvar) if sample else mu
        mu_u, logvar_u = self.enc2(gaussian_sample(mu, logvar) if sample else mu)
        return gaussian_sample(mu_u, logvar_u) if sample else mu_u

    def decode(self, code: Tensor) -> Tensor:
        """Stage 1: x_hat(z); stage 2: x_hat(z_hat(u)), both decoders' means."""
        if int(self.stage) == 1:
            return self.dec1(code)
        return self.dec1(self.dec2(code)[0])
