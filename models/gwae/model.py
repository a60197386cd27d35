"""Gromov-Wasserstein Autoencoder (Nakagawa et al., ICLR 2023), following the official code.

Objective (docs/method.md, "Objective"): L_GW + coef_w L_W + coef_entropy L_H + coef_d L_D, RMSprop for
encoder, decoder, prior sampler and log distance scale; then ``critic_steps`` critic updates on
the same minibatch with a one-centred gradient penalty (docs/method.md, "Critic").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from models.base import BenchmarkModel, LossTerms, Representation, gaussian_sample, half_squared_error
from models.gwae.critic import SPECTRAL_NORMS, JointCritic
from models.gwae.losses import entropy_regularizer, gw_loss, interpolate_pairs, penalty_of
from models.gwae.priors import PriorConfig, build_prior
from models.networks import ConvDecoder, ConvEncoder

CRITIC_PASSES = ("official", "fused")


@dataclass(frozen=True)
class GWAEConfig:
    #: Latent size. Official (CelebA) 64; MNIST and 3D Shapes values are not retrievable: presets choose.
    z_dim: int = 64
    prior: PriorConfig = field(default_factory=PriorConfig)
    lr: float = 1e-4  # official settings/gwae.yaml
    lr_critic: float = 1e-4  # official lr_disc
    coef_w: float = 1.0  # official coef_w (reconstruction, W(data, model))
    coef_d: float = 1.0  # official coef_d (merged condition, critic term)
    coef_entropy: float = 0.03  # official coef_qentropy
    coef_gp: float = 10.0  # official coef_gp
    critic_steps: int = 5  # official times_d_training
    drift: float = 1e-4  # official drift weight inside the GP bracket (effective 1e-3)
    distance_coef_initial: float = 2.5  # official settings/gwae.yaml (code default 1.0)
    batchnorm: bool = False  # official GWAE turns encoder/decoder BN off
    #: ``official``: one critic call per pair (real, fake, interpolate), each running a power iteration of
    #: every spectral norm. ``fused`` (ours, for speed): one call on the concatenated pairs with the
    #: normalised weights computed once, so one power iteration per step; exact otherwise (no BN in f).
    critic_passes: str = "official"
    #: ``official`` (default, paper mode): the official critic's ``torch.nn.utils.spectral_norm`` semantics
    #: (v then u, no iterations at construction); ``modern``: torch's parametrization (u then v, 15 at
    #: construction). The official one is the default because the benchmark compares the paper's method.
    spectral_norm: str = "official"

    def __post_init__(self) -> None:
        if self.z_dim < 1 or self.critic_steps < 0 or self.distance_coef_initial <= 0:
            raise ValueError("z_dim >= 1, critic_steps >= 0 and distance_coef_initial > 0 are required")
        if self.critic_passes not in CRITIC_PASSES:
            raise ValueError(f"critic_passes must be one of {', '.join(CRITIC_PASSES)}")
        if self.spectral_norm not in SPECTRAL_NORMS:
            raise ValueError(f"spectral_norm must be one of {', '.join(SPECTRAL_NORMS)}")


class GWAE(BenchmarkModel):
    config_cls = GWAEConfig
    ood_scorer = "critic_potential"

    def __init__(self, config: GWAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        L = config.z_dim
        self.encoder = ConvEncoder(image_shape, L, gaussian=True, batchnorm=config.batchnorm)
        self.decoder = ConvDecoder(image_shape, L, batchnorm=config.batchnorm)
        self.prior = build_prior(L, config.prior)
        self.critic = JointCritic(image_shape, L, config.spectral_norm)
        self.log_distance_coef = nn.Parameter(torch.tensor(math.log(config.distance_coef_initial)))

    @classmethod
    def mode_of(cls, config: GWAEConfig) -> str:
        return config.prior.mode if config.prior.name == "gaussian_mixture" else "-"

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        main = [p for name, p in self.named_parameters() if not name.startswith("critic.")]
        return {
            "main": torch.optim.RMSprop(main, lr=self.config.lr),
            "critic": torch.optim.RMSprop(self.critic.parameters(), lr=self.config.lr_critic),
        }

    def _main_terms(self, x: Tensor) -> dict[str, Tensor]:
        cfg = self.config
        mu, logvar = self.encoder(x)
        z = gaussian_sample(mu, logvar)
        z_prior = self.prior(len(x))
        x_prior = self.decoder(z_prior)
        f_real, f_fake = self._critic_on((x, z), (x_prior, z_prior))  # real first, as the official code
        terms = {
            "gw": gw_loss(z_prior, x_prior, self.log_distance_coef),
            "w": half_squared_error(x, self.decoder(z)),
            "entropy": entropy_regularizer(logvar),
            "critic_gap": f_fake.mean() - f_real.mean(),
        }
        terms["loss"] = (
            terms["gw"] + cfg.coef_w * terms["w"] + cfg.coef_entropy * terms["entropy"]
            + cfg.coef_d * terms["critic_gap"]
        )
        return terms

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        self.critic.requires_grad_(False)  # the main loss needs gradients through f, not of f
        terms = self._main_terms(x)
        optimizers["main"].zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizers["main"].step()
        self.critic.requires_grad_(True)
        out = {k: v.item() for k, v in terms.items()}
        out.update(self._critic_steps(x, optimizers["critic"]))
        out["distance_coef"] = self.log_distance_coef.exp().item()
        return out

    def _critic_steps(self, x: Tensor, optimizer: torch.optim.Optimizer) -> LossTerms:
        cfg = self.config
        with torch.no_grad():
            mu, logvar = self.encoder(x)  # once, with the updated encoder (official)
        loss = gp = torch.zeros(())
        for _ in range(cfg.critic_steps):
            with torch.no_grad():
                z = gaussian_sample(mu, logvar)
                z_prior = self.prior(len(x))
                x_prior = self.decoder(z_prior)
            x_bar, z_bar = interpolate_pairs(x, z, x_prior, z_prior)
            f_real, f_fake, f_bar = self._critic_on((x, z), (x_prior, z_prior), (x_bar, z_bar))
            gp = penalty_of(f_bar, x_bar, z_bar)
            drift = cfg.drift * (f_real.pow(2).mean() + f_fake.pow(2).mean())
            loss = -(f_fake.mean() - f_real.mean()) + cfg.coef_gp * (gp + drift)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return {"critic_loss": loss.item(), "gradient_penalty": gp.item()}

    def _critic_on(self, *pairs: tuple[Tensor, Tensor]) -> list[Tensor]:
        """f on each (x, z) pair, as ``critic_passes`` says: separate calls, or one fused call."""
        if self.config.critic_passes == "official":
            return [self.critic(x, z) for x, z in pairs]
        with parametrize.cached():  # the spectral-normed weights once, for every pair
            f = self.critic(torch.cat([x for x, _ in pairs]), torch.cat([z for _, z in pairs]))
        return list(f.split([len(x) for x, _ in pairs]))

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        self.eval()
        return {k: v.item() for k, v in self._main_terms(x).items()}

    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        mu, logvar = self.encoder(x)
        return mu if representation == "mean" else gaussian_sample(mu, logvar)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    @property
    def prior_sampler(self) -> str:  # type: ignore[override]
        return f"learned:{self.config.prior.name}" if self.prior.learned else f"fixed:{self.config.prior.name}"

    @torch.no_grad()
    def sample_prior(self, n: int) -> Tensor:
        """Codes from the trainable prior in eval mode: its final BatchNorm uses the running statistics,
        so a code does not depend on the batch it is drawn with (official ``fid.py``)."""
        was_training = self.prior.training
        self.prior.eval()
        try:
            return self.prior(n)
        finally:
            self.prior.train(was_training)

    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Kantorovich potential f(G(z), z) on the decoded latent, no sign flip (official clu.py)."""
        z = self.encode(x, representation)
        return self.critic(self.decoder(z), z)
