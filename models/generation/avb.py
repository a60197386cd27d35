"""Adversarial Variational Bayes (Mescheder et al., ICML 2017) and the GWAE paper's version of it.

Sources: GitHub ganmodokix/vaetc, branch develop_may, ``vaetc/models/avb.py`` (cited as avb.py:LINE),
``vaetc/models/vae.py`` and ``vaetc/evaluation/preprocess/encode.py``; the run settings: GitHub ganmodokix/gwae,
``settings/avb.yaml``.

A VAE whose KL term is estimated by a discriminator T(x, z) trained to tell posterior codes from prior codes:
at the optimum, log(P(posterior) / P(prior)) = log q(z|x) - log p(z), so its batch mean stands in for the KL.
The posterior sample is z = mu + sigma * g(eps) with a noise-shaping network g, so q(z|x) need not be Gaussian.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import LossTerms, Representation, half_squared_error
from models.generation.blocks import check_betas, check_two_rates, image_stages
from models.vae import GaussianAutoencoder

AVB_MODES = ("paper", "fixed")
DISC_WIDTH = 64  # avb.py:27-44: every conv has 64 channels
DISC_HIDDEN = 256  # avb.py:48-57
NOISE_HIDDEN = 256  # avb.py:69-77
MAX_STAGES = 6  # avb.py:27-44: six stride-2 convs take 64x64 to 1x1


@dataclass(frozen=True)
class AVBConfig:
    #: ``paper``: vaetc avb.py, where the noise network g is in no optimizer (avb.py:100-111) and evaluation
    #: samples an ordinary Gaussian (vaetc evaluation/preprocess/encode.py:35-43); ``fixed``: g is trained with
    #: the encoder, and ``encode(x, "sample")`` draws from the trained posterior mu + sigma * g(eps).
    mode: str = "paper"
    z_dim: int = 64  # gwae settings/avb.yaml
    lr: float = 1e-4  # gwae settings/avb.yaml; the encoder and decoder's Adam, vaetc avb.py:109
    batchnorm: bool = True  # vaetc avb.py:95-96 builds the encoder and decoder with their default BN
    lr_disc: float = 1e-3  # gwae settings/avb.yaml; the discriminator's Adam, vaetc avb.py:110
    beta: float = 1.0  # gwae settings/avb.yaml; weight of the KL estimate, vaetc avb.py:149
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas of the encoder and decoder, vaetc avb.py:109
    disc_betas: tuple[float, float] = (0.5, 0.9)  # Adam betas of the discriminator, vaetc avb.py:110

    def __post_init__(self) -> None:
        check_two_rates(self.mode, AVB_MODES, self.z_dim, self.lr, self.lr_disc)
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        check_betas(betas=self.betas, disc_betas=self.disc_betas)


class NoiseShaper(nn.Module):
    """vaetc's ``Reparameterizer`` g (avb.py:64-80): MLP L -> 256 -> 256 -> L, SiLU after every layer (the last
    too), then BatchNorm1d without affine parameters, so in training g(eps) is standardised per dimension."""

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(z_dim, NOISE_HIDDEN), nn.SiLU(),
            nn.Linear(NOISE_HIDDEN, NOISE_HIDDEN), nn.SiLU(),
            nn.Linear(NOISE_HIDDEN, z_dim), nn.SiLU(),
            nn.BatchNorm1d(z_dim, affine=False),
        )

    def forward(self, eps: Tensor) -> Tensor:
        return self.net(eps)


class AVBDiscriminator(nn.Module):
    """vaetc's AVB discriminator T(x, z) -> log [P(posterior code), P(prior code)] (avb.py:16-62).

    Image features: 4x4 stride-2 convs of 64 channels with replicate padding (vaetc's choice when deterministic
    algorithms are off), each followed by Dropout2d (0.2 for the first, 0.5 for the others) and ReLU, the last by
    ReLU only; six convs take 64x64 to 1x1, smaller images use fewer. The flattened features are concatenated
    with the raw code: Linear 256, Dropout 0.2, LeakyReLU 0.2, Linear 256, Dropout 0.2, LeakyReLU 0.2, Linear 2,
    LogSoftmax. Column 0 is "posterior" (vaetc's fake), 1 "prior" (real).
    """

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int) -> None:
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ValueError(f"square images only, got {h}x{w}")
        stages, side = image_stages(h, MAX_STAGES)
        layers: list[nn.Module] = []
        in_ch = c
        for i in range(stages):
            layers.append(nn.Conv2d(in_ch, DISC_WIDTH, 4, 2, 1, padding_mode="replicate"))
            if i < stages - 1:
                layers.append(nn.Dropout2d(0.2 if i == 0 else 0.5))
            layers.append(nn.ReLU())
            in_ch = DISC_WIDTH
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.logits = nn.Sequential(
            nn.Linear(in_ch * side * side + z_dim, DISC_HIDDEN), nn.Dropout(0.2), nn.LeakyReLU(0.2),
            nn.Linear(DISC_HIDDEN, DISC_HIDDEN), nn.Dropout(0.2), nn.LeakyReLU(0.2),
            nn.Linear(DISC_HIDDEN, 2), nn.LogSoftmax(dim=1),
        )

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.logits(torch.cat([self.features(x), z], dim=1))


def kl_estimate(logp_posterior: Tensor) -> Tensor:
    """mean_b [log T_0 - log T_1] = mean_b log((1 - D) / D), D = P(prior): ~ log q(z|x) - log p(z) (line 146)."""
    return (logp_posterior[:, 0] - logp_posterior[:, 1]).mean()


def discriminator_loss(logp_prior: Tensor, logp_posterior: Tensor) -> Tensor:
    """-mean [log D(x, z_prior) + log(1 - D(x, z_posterior))], prior codes are class 1 (avb.py:157-159)."""
    return -(logp_prior[:, 1] + logp_posterior[:, 0]).mean()


class AdversarialVariationalBayes(GaussianAutoencoder):
    """AVB: loss = 1/2 ||x - x_hat||^2 + beta * ``kl_estimate``, the KL estimated by a discriminator.

    One training step (vaetc avb.py:161-188): the posterior code z = mu + sigma * g(eps), x_hat = Dec(z),
    loss = rec + beta * mean [T_0(x, z) - T_1(x, z)]; a ``main`` step. Then the discriminator step on the same x:
    z detached (drawn before the encoder step), a prior code z_r ~ N(0, I),
    ``discriminator_loss``(T(x, z_r), T(x, z)); a ``disc`` step. ``eval_batch`` repeats both passes in eval mode
    (g with its running statistics, dropout off) and reports loss, recon, kl and disc (vaetc's ``val_loss`` is
    rec + beta * kl). Generation decodes N(0, I).

    Differences between the modes:
    - ``paper`` (vaetc): g is in no optimizer (avb.py:100-111): its weights stay at their initialisation and only
      its BatchNorm statistics move. ``encode(x, "sample")`` is mu + sigma * eps, the ordinary Gaussian sample
      vaetc's evaluation (PSNR, reconstructions) takes, not the posterior the model was trained with.
    - ``fixed`` (Mescheder et al.): g is trained with the encoder and decoder by the ``main`` optimizer, and
      ``encode(x, "sample")`` is mu + sigma * g(eps), the trained posterior.
    Neither has the paper's adaptive contrast; ``encode(x, "mean")`` is mu in both.
    """

    config_cls = AVBConfig
    ood_scorer = "prior_nll"

    def __init__(self, config: AVBConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.noise = NoiseShaper(config.z_dim)
        self.discriminator = AVBDiscriminator(self.image_shape, config.z_dim)

    @classmethod
    def mode_of(cls, config: AVBConfig) -> str:
        return config.mode

    def main_parameters(self) -> list[nn.Parameter]:
        """What the ``main`` optimizer trains: the encoder and decoder, plus g in ``fixed`` mode."""
        parts = [self.encoder, self.decoder] + ([self.noise] if self.config.mode == "fixed" else [])
        return list(itertools.chain.from_iterable(m.parameters() for m in parts))

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        return {
            "main": torch.optim.Adam(self.main_parameters(), lr=cfg.lr, betas=cfg.betas),
            "disc": torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_disc, betas=cfg.disc_betas),
        }

    def posterior_sample(self, mu: Tensor, logvar: Tensor) -> Tensor:
        """z = mu + exp(logvar / 2) * g(eps), eps ~ N(0, I): the code AVB trains with (avb.py:122-126)."""
        return mu + torch.exp(0.5 * logvar) * self.noise(torch.randn_like(mu))

    def _step(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer] | None) -> LossTerms:
        mu, logvar = self.encoder(x)
        z = self.posterior_sample(mu, logvar)
        recon = half_squared_error(x, self.decoder(z))
        kl = kl_estimate(self.discriminator(x, z))
        loss = recon + self.config.beta * kl
        if optimizers is not None:
            self.zero_grad(set_to_none=True)
            loss.backward()
            optimizers["main"].step()
        z_fake = z.detach()
        z_real = torch.randn_like(z_fake)
        logp_fake = self.discriminator(x, z_fake)
        loss_disc = discriminator_loss(self.discriminator(x, z_real), logp_fake)
        if optimizers is not None:
            self.zero_grad(set_to_none=True)
            loss_disc.backward()
            optimizers["disc"].step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item(), "disc": loss_disc.item()}

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        return self._step(x, optimizers)

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        self.eval()
        return self._step(x, None)

    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        if representation == "sample" and self.config.mode == "fixed":
            return self.posterior_sample(*self.encoder(x))
        return super().encode(x, representation)
