"""FactorVAE (Kim & Mnih, ICML 2018) as the GWAE authors' vaetc code runs it.

Loss = 1/2 squared error + KL + gamma TC, with TC estimated by a discriminator D on codes:
TC ~ mean_b [logit_joint(z_b) - logit_product(z_b)] (the density-ratio trick). D is trained to
tell codes z ~ q(z) (class 0, "joint") from codes whose dimensions were permuted independently
across the batch (class 1, "product of marginals"). The model owns both optimizers and both steps.

Following vaetc (O): one minibatch serves both steps (Kim & Mnih draw a second batch for the
permuted codes; disentanglement_lib also uses one); the discriminator sees the codes drawn for
the main step, detached; its loss is the sum of the two classes' cross-entropies
(disentanglement_lib halves it, which Adam's scale invariance all but cancels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.base import LossTerms, gaussian_sample, half_squared_error
from models.vae import VAE, kl_standard_normal


def permute_dims(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each column of ``z`` (B, L) shuffled by its own random permutation of the batch.

    Every column keeps its values (its marginal), while the dependence between columns is broken:
    a sample of the product of the marginals q(z_1) ... q(z_L).
    """
    keys = torch.rand(z.shape, generator=generator, device=z.device)
    return torch.gather(z, 0, keys.argsort(dim=0))


class Discriminator(nn.Module):
    """MLP z -> 2 logits: ``layers`` hidden layers of ``width`` units with LeakyReLU(0.2)."""

    def __init__(self, z_dim: int, width: int, layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        d = z_dim
        for _ in range(layers):
            mods += [nn.Linear(d, width), nn.LeakyReLU(0.2)]
            d = width
        mods.append(nn.Linear(d, 2))
        self.net = nn.Sequential(*mods)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


def density_ratio_tc(logits: Tensor) -> Tensor:
    """mean_b (logit_0 - logit_1) = mean_b log(D_joint / D_product): the TC estimate of codes from q(z)."""
    return (logits[:, 0] - logits[:, 1]).mean()


def discriminator_loss(logits_joint: Tensor, logits_product: Tensor) -> Tensor:
    """CE(joint codes -> class 0) + CE(permuted codes -> class 1), each a batch mean (vaetc)."""
    zeros = torch.zeros(len(logits_joint), dtype=torch.long, device=logits_joint.device)
    ones = torch.ones(len(logits_product), dtype=torch.long, device=logits_product.device)
    return F.cross_entropy(logits_joint, zeros) + F.cross_entropy(logits_product, ones)


@dataclass(frozen=True)
class FactorVAEConfig:
    z_dim: int = 64  # official settings (CelebA), as VAEConfig; presets choose per suite
    #: TC weight: official factorvae.yaml 0.1 (CelebA). Kim & Mnih and the dlib study use 10-100 (grid 10, 20,
    #: 30, 40, 50, 100): records carry gamma in their config and hparams label.
    gamma: float = 0.1
    lr: float = 1e-4  # official settings (encoder and decoder, Adam(0.9, 0.999))
    lr_disc: float = 1e-3  # official factorvae.yaml lr_disc (Kim & Mnih and dlib: 1e-4)
    disc_betas: tuple[float, float] = (0.5, 0.9)  # O and P: the discriminator's Adam betas
    disc_width: int = 1000  # O, P and D: 5 hidden layers of 1000 units, LeakyReLU(0.2)
    disc_layers: int = 5  # O, P, D
    batchnorm: bool = True  # vaetc baselines keep BN on

    def __post_init__(self) -> None:
        if self.z_dim < 1 or self.gamma < 0 or not self.lr > 0 or not self.lr_disc > 0:
            raise ValueError("z_dim >= 1, gamma >= 0, lr > 0 and lr_disc > 0 are required")
        if self.disc_width < 1 or self.disc_layers < 1 or len(self.disc_betas) != 2:
            raise ValueError("disc_width >= 1, disc_layers >= 1 and two disc_betas are required")


class FactorVAE(VAE):
    config_cls = FactorVAEConfig

    def __init__(self, config: FactorVAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)  # type: ignore[arg-type]  # the VAE's encoder and decoder
        self.discriminator = Discriminator(config.z_dim, config.disc_width, config.disc_layers)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        main = [*self.encoder.parameters(), *self.decoder.parameters()]
        return {
            "main": torch.optim.Adam(main, lr=self.config.lr),
            "disc": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr_disc,
                                     betas=tuple(self.config.disc_betas)),
        }

    def _main_terms(self, x: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        mu, logvar = self.encoder(x)
        z = gaussian_sample(mu, logvar)
        recon = half_squared_error(x, self.decoder(z))
        kl = kl_standard_normal(mu, logvar)
        tc = density_ratio_tc(self.discriminator(z))
        return {"loss": recon + kl + self.config.gamma * tc, "recon": recon, "kl": kl, "tc": tc}, z

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        return self._main_terms(x)[0]

    def _disc_loss(self, z: Tensor) -> Tensor:
        z = z.detach()
        return discriminator_loss(self.discriminator(z), self.discriminator(permute_dims(z)))

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        self.discriminator.requires_grad_(False)  # the main loss needs gradients through D, not of D
        terms, z = self._main_terms(x)
        optimizers["main"].zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizers["main"].step()
        self.discriminator.requires_grad_(True)
        disc = self._disc_loss(z)
        optimizers["disc"].zero_grad(set_to_none=True)
        disc.backward()
        optimizers["disc"].step()
        return {**{k: v.item() for k, v in terms.items()}, "disc_loss": disc.item()}

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        self.eval()
        terms, z = self._main_terms(x)
        return {**{k: v.item() for k, v in terms.items()}, "disc_loss": self._disc_loss(z).item()}
