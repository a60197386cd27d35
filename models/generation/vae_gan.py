"""VAE-GAN (Larsen et al., ICML 2016) and the GWAE paper's version of it.

Sources: GitHub ganmodokix/vaetc, branch develop_may, ``vaetc/models/vaegan.py`` (cited as vaegan.py:LINE) and
``vaetc/network/losses.py``; the run settings: GitHub ganmodokix/gwae, ``settings/vaegan.yaml``.

A VAE whose decoder is also a GAN generator: a discriminator D tells data from reconstructions and prior
samples, and its hidden features give a learned reconstruction loss. Three networks, three optimizers, three
losses. vaetc clears each optimizer's gradients just before back-propagating that optimizer's loss, and every
backward pass accumulates into all three networks; its update order makes the decoder's adversarial gradient
cancel exactly (see ``VAEGAN``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import LossTerms, gaussian_sample, half_squared_error
from models.generation.blocks import check_betas, check_two_rates, image_stages
from models.vae import VAE, kl_standard_normal

VAEGAN_MODES = ("paper", "fixed")
#: The discriminator's block widths (vaegan.py:25-45): four stride-2 convs, 64x64 -> 4x4.
DISC_WIDTHS = (32, 64, 64, 64)
DISC_HIDDEN = 256  # vaegan.py:48


@dataclass(frozen=True)
class VAEGANConfig:
    #: ``paper``: vaetc vaegan.py's update (vaegan.py:149-165), in which the decoder's adversarial gradient
    #: cancels; ``fixed``: Larsen et al.'s update, each network stepped on the gradient of its own loss only.
    mode: str = "paper"
    z_dim: int = 64  # gwae settings/vaegan.yaml
    lr: float = 1e-4  # gwae settings/vaegan.yaml; the encoder's and the decoder's Adam, vaetc vaegan.py:86-87
    batchnorm: bool = True  # vaetc models/vae.py:28-29: the inherited encoder and decoder keep their BN
    lr_disc: float = 1e-3  # gwae settings/vaegan.yaml; the discriminator's Adam, vaetc vaegan.py:88
    beta: float = 1.0  # gwae settings/vaegan.yaml; KL weight in the encoder's loss, vaetc vaegan.py:125
    gamma: float = 1.0  # gwae settings/vaegan.yaml; reconstruction weight in the decoder's loss, vaegan.py:126
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas of the encoder and decoder, vaetc vaegan.py:86-87
    disc_betas: tuple[float, float] = (0.5, 0.9)  # Adam betas of the discriminator, vaetc vaegan.py:88

    def __post_init__(self) -> None:
        check_two_rates(self.mode, VAEGAN_MODES, self.z_dim, self.lr, self.lr_disc)
        if self.beta < 0 or self.gamma < 0:
            raise ValueError(f"beta and gamma must be >= 0, got {self.beta} and {self.gamma}")
        check_betas(betas=self.betas, disc_betas=self.disc_betas)


class FeatureDiscriminator(nn.Module):
    """vaetc's VAE-GAN discriminator (vaegan.py:17-62): returns (hidden features, log [P(fake), P(real)]).

    Blocks of Conv 4x4 stride 2, SiLU, BN2d with widths 32, 64, 64, 64 (64x64 -> 4x4; images too small for four
    halvings use the first blocks that fit); each block's output is a feature map. Head: flatten, Linear 256,
    SiLU, Linear 2, LogSoftmax. The input is the raw image.
    """

    def __init__(self, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ValueError(f"square images only, got {h}x{w}")
        stages, side = image_stages(h, len(DISC_WIDTHS))
        blocks: list[nn.Module] = []
        in_ch = c
        for width in DISC_WIDTHS[:stages]:
            blocks.append(nn.Sequential(nn.Conv2d(in_ch, width, 4, 2, 1), nn.SiLU(), nn.BatchNorm2d(width)))
            in_ch = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(in_ch * side * side, DISC_HIDDEN), nn.SiLU(),
            nn.Linear(DISC_HIDDEN, 2), nn.LogSoftmax(dim=1),
        )

    def forward(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features, self.head(x)


def feature_loss(features: list[Tensor], features_hat: list[Tensor]) -> Tensor:
    """mean_b mean_l 1/2 ||h_l(x) - h_l(x_hat)||^2, each layer summed over all its elements (vaegan.py:112-118)."""
    per_layer = [half_squared_error(h, h_hat) for h, h_hat in zip(features, features_hat, strict=True)]
    return torch.stack(per_layer).mean()


def gan_loss(logp_real: Tensor, logp_rec: Tensor, logp_prior: Tensor) -> Tensor:
    """-mean [log D(x) + log(1 - D(x_hat)) + log(1 - D(Dec(z_p)))]: the discriminator's loss (vaegan.py:120)."""
    return -(logp_real[:, 1] + logp_rec[:, 0] + logp_prior[:, 0]).mean()


class VAEGAN(VAE):
    """VAE-GAN: the VAE's BN encoder and decoder with a discriminator D that also supplies feature targets.

    Forward (vaegan.py:91-104): z = mu + sigma * eps, x_hat = Dec(z), z_p ~ N(0, I), x_p = Dec(z_p); D runs on x,
    x_hat and x_p in separate calls (its BN sees three batches). Terms: pix = 1/2 ||x - x_hat||^2, kl,
    feat = ``feature_loss``, gan = ``gan_loss``; ``loss`` = pix + feat + kl + gan unweighted, vaetc's reported
    loss and ``val_loss`` (early stopping), in both modes. Optimizers ``enc``, ``dec``, ``disc``; the steps are
    taken in the order dec, enc, disc (vaegan.py:163-165). Generation decodes N(0, I); reconstruction decodes the
    encoder's Gaussian sample (or mean).

    Differences between the modes:
    - ``paper`` (vaetc, vaegan.py:125-127, 149-165): L_enc = pix + feat + beta kl, L_dec = gamma (pix + feat) -
      gan, L_disc = gan, back-propagated in that order, each after clearing only its own optimizer's gradients.
      Every backward reaches all three networks, so the applied gradients are: encoder
      grad[(1 + gamma)(pix + feat) + beta kl] (the two gan terms cancel), decoder grad[gamma (pix + feat)] (the
      adversarial gradient cancels: the decoder never sees the GAN and prior samples get no gradient),
      discriminator grad[gan]. In effect a VAE with a learned feature loss.
    - ``fixed`` (Larsen et al., Algorithm 1): each network gets the gradient of its own loss only: encoder
      grad[beta kl + feat], decoder grad[gamma feat - gan], discriminator grad[gan]. As published, no pixel term
      is trained (pix is still reported). Kept from vaetc in both modes: the feature term is the mean over D's
      blocks (Larsen et al. take one layer), and every step is taken (the authors' code, GitHub
      andersbll/autoencoding_beyond_pixels ``model/aegan.py``, also skips D or decoder steps by an equilibrium
      margin).
    """

    config_cls = VAEGANConfig
    ood_scorer = "prior_nll"

    def __init__(self, config: VAEGANConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.discriminator = FeatureDiscriminator(self.image_shape)

    @classmethod
    def mode_of(cls, config: VAEGANConfig) -> str:
        return config.mode

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        return {
            "enc": torch.optim.Adam(self.encoder.parameters(), lr=cfg.lr, betas=cfg.betas),
            "dec": torch.optim.Adam(self.decoder.parameters(), lr=cfg.lr, betas=cfg.betas),
            "disc": torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_disc, betas=cfg.disc_betas),
        }

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        """Every loss term of one forward pass (vaegan.py:91-138), as tensors with their graphs."""
        cfg = self.config
        mu, logvar = self.encoder(x)
        z = gaussian_sample(mu, logvar)
        x_hat = self.decoder(z)
        x_p = self.decoder(torch.randn_like(z))
        h, logp = self.discriminator(x)
        h_hat, logp_hat = self.discriminator(x_hat)
        _, logp_p = self.discriminator(x_p)
        pix = half_squared_error(x, x_hat)
        kl = kl_standard_normal(mu, logvar)
        feat = feature_loss(h, h_hat)
        gan = gan_loss(logp, logp_hat, logp_p)
        if cfg.mode == "paper":
            enc = pix + feat + cfg.beta * kl
            dec = cfg.gamma * (pix + feat) - gan
        else:
            enc = cfg.beta * kl + feat
            dec = cfg.gamma * feat - gan
        return {"loss": pix + feat + kl + gan, "recon": pix, "feature": feat, "kl": kl, "gan": gan,
                "enc": enc, "dec": dec}

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        terms = self.terms(x)
        if self.config.mode == "paper":  # vaetc's accumulation, literally (vaegan.py:151-161)
            optimizers["enc"].zero_grad(set_to_none=True)
            terms["enc"].backward(retain_graph=True)
            optimizers["dec"].zero_grad(set_to_none=True)
            terms["dec"].backward(retain_graph=True)
            optimizers["disc"].zero_grad(set_to_none=True)
            terms["gan"].backward()
        else:  # each network's gradient of its own loss
            owned = [(terms["enc"], self.encoder), (terms["dec"], self.decoder), (terms["gan"], self.discriminator)]
            for i, (loss, net) in enumerate(owned):
                params = list(net.parameters())
                grads = torch.autograd.grad(loss, params, retain_graph=i < len(owned) - 1, allow_unused=True)
                for p, g in zip(params, grads, strict=True):
                    p.grad = torch.zeros_like(p) if g is None else g
        optimizers["dec"].step()
        optimizers["enc"].step()
        optimizers["disc"].step()
        return {k: v.item() for k, v in terms.items()}
