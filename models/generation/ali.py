"""ALI (Dumoulin et al., ICLR 2017) / BiGAN (Donahue et al., ICLR 2017) as the GWAE paper's baseline ran it.

Sources: GitHub ganmodokix/vaetc, branch develop_may, ``vaetc/models/ali.py`` (cited as ali.py:LINE) and
``vaetc/models/vae.py``; the run settings: GitHub ganmodokix/gwae, ``settings/ali.yaml``; the authors' codes:
GitHub IshmaelBelghazi/ALI, ``ali/bricks.py`` (``compute_losses``) and ``ali/algorithms.py`` (``ali_algorithm``),
and GitHub jeffdonahue/bigan, ``train_gan.py`` (``--no_update_both``).

An encoder E (a stochastic Gaussian encoder) and a deterministic generator G are trained against a joint
discriminator D(x, z) that tells encoder pairs (x, E(x)) from generator pairs (G(z_p), z_p). There is no
reconstruction or KL term: reconstruction and generation come from the adversarial game alone.

vaetc's losses are the published ones (the discriminator's cross-entropy and the generator's label-swapped,
non-saturating loss, as in ALI's ``compute_losses``). Its one departure is the schedule: it updates D first, then
E and G against the updated D on a fresh forward pass (ali.py:158-176), where both authors' codes take the two
gradient steps together from one forward pass (ALI's ``ali_algorithm``; BiGAN's default for one D step per G step).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import LossTerms, gaussian_sample
from models.generation.blocks import check_betas, check_mode, image_stages
from models.vae import GaussianAutoencoder

#: Widths of the discriminator's image branch at 64x64 (ali.py:28-58): six stride-2 convs down to 1x1.
X_WIDTHS = (16, 32, 64, 128, 256, 512)
Z_WIDTH = 512  # ali.py:60-67
JOINT_WIDTH = 1024  # ali.py:69-78
ALI_MODES = ("paper", "fixed")


@dataclass(frozen=True)
class ALIConfig:
    #: ``paper``: vaetc ali.py:152-184, D step, then a fresh forward and the E/G step against the updated D;
    #: ``fixed``: the authors' simultaneous update, both steps from one forward (IshmaelBelghazi/ALI
    #: ali/algorithms.py ``ali_algorithm``).
    mode: str = "paper"
    z_dim: int = 64  # gwae settings/ali.yaml
    lr: float = 1e-4  # gwae settings/ali.yaml; both optimizers use it, no lr_disc is read (ali.py:110-118)
    batchnorm: bool = True  # vaetc models/vae.py:28-29: the inherited encoder and generator keep their BN
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas of both optimizers, vaetc ali.py:116-117

    def __post_init__(self) -> None:
        check_mode(self.mode, ALI_MODES)
        if self.z_dim < 1 or not self.lr > 0:
            raise ValueError(f"z_dim >= 1 and lr > 0 are required, got {self.z_dim} and {self.lr}")
        check_betas(betas=self.betas)


class JointDiscriminator(nn.Module):
    """vaetc's ALI discriminator D(x, z) -> log [P(generator pair), P(encoder pair)] (ali.py:16-87).

    Image branch on the raw image: stride-2 4x4 convs, SiLU after each, BN2d and Dropout2d (0.2 after the first,
    0.5 after the others) after all but the last; flatten. At 64x64 these are vaetc's six convs 3 -> 16 -> ... ->
    512; smaller images use fewer convs, keeping the widest ones, so the branch still ends in 512 channels.
    Code branch: Linear 512, SiLU, Dropout 0.2, Linear 512, SiLU, Dropout 0.5. Joint: concat, two Linear 1024
    with SiLU and Dropout 0.5, Linear 2, LogSoftmax. Column 1 is "encoder pair" (vaetc's real), 0 "generator".
    """

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int) -> None:
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ValueError(f"square images only, got {h}x{w}")
        stages, side = image_stages(h, len(X_WIDTHS))
        widths = X_WIDTHS[len(X_WIDTHS) - stages:]
        layers: list[nn.Module] = []
        in_ch = c
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(in_ch, width, 4, 2, 1), nn.SiLU()]
            if i < len(widths) - 1:
                layers += [nn.BatchNorm2d(width), nn.Dropout2d(0.2 if i == 0 else 0.5)]
            in_ch = width
        self.image = nn.Sequential(*layers, nn.Flatten())
        self.code = nn.Sequential(
            nn.Linear(z_dim, Z_WIDTH), nn.SiLU(), nn.Dropout(0.2),
            nn.Linear(Z_WIDTH, Z_WIDTH), nn.SiLU(), nn.Dropout(0.5),
        )
        self.joint = nn.Sequential(
            nn.Linear(in_ch * side * side + Z_WIDTH, JOINT_WIDTH), nn.SiLU(), nn.Dropout(0.5),
            nn.Linear(JOINT_WIDTH, JOINT_WIDTH), nn.SiLU(), nn.Dropout(0.5),
            nn.Linear(JOINT_WIDTH, 2), nn.LogSoftmax(dim=1),
        )

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.joint(torch.cat([self.image(x), self.code(z)], dim=1))


def discriminator_loss(logp_q: Tensor, logp_p: Tensor) -> Tensor:
    """-mean [log D(x, E(x)) + log(1 - D(G(z_p), z_p))]: encoder pairs are class 1, generator pairs 0 (line 137)."""
    return -(logp_q[:, 1] + logp_p[:, 0]).mean()


def generator_loss(logp_q: Tensor, logp_p: Tensor) -> Tensor:
    """-mean [log(1 - D(x, E(x))) + log D(G(z_p), z_p)]: the labels swapped, non-saturating (line 146)."""
    return -(logp_q[:, 0] + logp_p[:, 1]).mean()


class ALI(GaussianAutoencoder):
    """ALI/BiGAN: E and G (the VAE's BN encoder and decoder) against a joint discriminator.

    A forward pass: z = E(x) reparameterized, z_p ~ N(0, I), x_p = G(z_p), D on (x, z) and on (x_p, z_p) in
    separate calls (D's BN sees two batches). The generator is deterministic (no pixel noise, ali.py:126-128).
    Optimizers ``main`` (E and G) and ``disc``. Generation decodes N(0, I); reconstruction decodes E's Gaussian
    sample (or mean), as vaetc's evaluation does.

    Differences between the modes:
    - ``paper`` (vaetc ali.py:152-184): a forward, ``discriminator_loss``, a ``disc`` step; then a second forward
      with fresh noise and the updated D, ``generator_loss``, a ``main`` step. (In the first pass E and G run
      without a graph: vaetc back-propagates into them too but clears those gradients before they are used.)
      ``eval_batch`` also runs two passes and reports loss = disc + gen, vaetc's ``val_loss``.
    - ``fixed`` (the authors' codes): one forward; D is stepped on the gradient of ``discriminator_loss`` and E, G
      on that of ``generator_loss``, both taken before either step. ``eval_batch`` reports both from one pass.
    """

    config_cls = ALIConfig
    ood_scorer = "prior_nll"

    def __init__(self, config: ALIConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.discriminator = JointDiscriminator(self.image_shape, config.z_dim)

    @classmethod
    def mode_of(cls, config: ALIConfig) -> str:
        return config.mode

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        main = itertools.chain(self.encoder.parameters(), self.decoder.parameters())
        return {
            "main": torch.optim.Adam(main, lr=cfg.lr, betas=cfg.betas),
            "disc": torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr, betas=cfg.betas),
        }

    def pairs(self, x: Tensor, generator_grad: bool = True) -> tuple[Tensor, Tensor]:
        """D's log-probabilities of the encoder pairs (x, E(x)) and the generator pairs (G(z_p), z_p).

        The noise is drawn in vaetc's order (the encoder's eps, then z_p); ``generator_grad=False`` runs E and G
        without a graph (their BatchNorm still updates in train mode).
        """
        with torch.set_grad_enabled(generator_grad and torch.is_grad_enabled()):
            mu, logvar = self.encoder(x)
            z = gaussian_sample(mu, logvar)
            z_p = torch.randn_like(z)
            x_p = self.decoder(z_p)
        return self.discriminator(x, z), self.discriminator(x_p, z_p)

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        if self.config.mode == "paper":
            loss_disc = discriminator_loss(*self.pairs(x, generator_grad=False))
            self.zero_grad(set_to_none=True)
            loss_disc.backward()
            optimizers["disc"].step()
            loss_gen = generator_loss(*self.pairs(x))
            self.zero_grad(set_to_none=True)
            loss_gen.backward()
            optimizers["main"].step()
        else:
            logp_q, logp_p = self.pairs(x)
            loss_disc, loss_gen = discriminator_loss(logp_q, logp_p), generator_loss(logp_q, logp_p)
            disc = list(self.discriminator.parameters())
            main = [*self.encoder.parameters(), *self.decoder.parameters()]
            grads = [*torch.autograd.grad(loss_disc, disc, retain_graph=True), *torch.autograd.grad(loss_gen, main)]
            for p, g in zip(disc + main, grads, strict=True):
                p.grad = g
            optimizers["disc"].step()
            optimizers["main"].step()
        return {"loss": loss_disc.item() + loss_gen.item(), "disc": loss_disc.item(), "gen": loss_gen.item()}

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        self.eval()
        if self.config.mode == "paper":
            loss_disc = discriminator_loss(*self.pairs(x))
            loss_gen = generator_loss(*self.pairs(x))
        else:
            logp_q, logp_p = self.pairs(x)
            loss_disc, loss_gen = discriminator_loss(logp_q, logp_p), generator_loss(logp_q, logp_p)
        return {"loss": loss_disc.item() + loss_gen.item(), "disc": loss_disc.item(), "gen": loss_gen.item()}
