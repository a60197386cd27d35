"""Trainable prior samplers of GWAE (docs/method.md, "Priors") and the fixed priors, in one registry.

A prior maps a batch size to latent samples z = S(eps), eps ~ N(0, I). Learned samplers end in
``BatchNorm1d(affine=False, momentum=0.5)``: in training mode every prior batch is standardised
per dimension, in eval mode the running statistics are used (official behaviour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.registry import Registry

PRIORS: Registry[type[Prior]] = Registry("prior")
BATCHNORM_MOMENTUM = 0.5  # official BATCHNORM_MOMENTUM (PyTorch semantics)


@dataclass(frozen=True)
class PriorConfig:
    name: str = "neural"
    #: GMP only. Component count: not in the official code or retrievable paper text;
    #: 10 (one per MNIST digit class) is our choice.
    num_components: int = 10
    #: GMP only. "paper" reproduces the official sampler (effectively diagonal covariance,
    #: mixture logits without gradient); "fixed" uses the full covariance S_k eps and a
    #: straight-through Gumbel-softmax so the mixture weights train.
    mode: Literal["paper", "fixed"] = "paper"

    def __post_init__(self) -> None:
        if self.num_components < 2:
            raise ValueError("num_components must be >= 2")


class Prior(nn.Module):
    learned = True

    def __init__(self, z_dim: int, config: PriorConfig) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.config = config
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def forward(self, n: int) -> Tensor:
        return self.transform(torch.randn(n, self.z_dim, device=self._anchor.device))

    def transform(self, eps: Tensor) -> Tensor:
        raise NotImplementedError


class LeakySiLU(nn.Module):
    """f(u) = 0.8 * SiLU(u) + 0.2 * u, the official sampler activation."""

    def __init__(self, slope: float = 0.2) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, u: Tensor) -> Tensor:
        return (1 - self.slope) * F.silu(u) + self.slope * u


def _standardize(z_dim: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(z_dim, affine=False, momentum=BATCHNORM_MOMENTUM)


@PRIORS.register("neural", "NP: dense MLP L -> 4L -> 4L -> 4L -> L, LeakySiLU(0.2), BN without affine")
class NeuralPrior(Prior):
    def __init__(self, z_dim: int, config: PriorConfig) -> None:
        super().__init__(z_dim, config)
        h = 4 * z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, h), LeakySiLU(), nn.Linear(h, h), LeakySiLU(),
            nn.Linear(h, h), LeakySiLU(), nn.Linear(h, z_dim),
        )
        self.bn = _standardize(z_dim)

    def transform(self, eps: Tensor) -> Tensor:
        return self.bn(self.net(eps))


@PRIORS.register("factorized_neural", "FNP: one scalar MLP 1 -> 4 -> 4 -> 4 -> 1 per latent dimension")
class FactorizedNeuralPrior(Prior):
    """Grouped 1x1 convolutions (groups = L) so that z_k depends on eps_k alone."""

    def __init__(self, z_dim: int, config: PriorConfig) -> None:
        super().__init__(z_dim, config)
        L = z_dim
        self.net = nn.Sequential(
            nn.Conv1d(L, 4 * L, 1, groups=L), LeakySiLU(), nn.Conv1d(4 * L, 4 * L, 1, groups=L), LeakySiLU(),
            nn.Conv1d(4 * L, 4 * L, 1, groups=L), LeakySiLU(), nn.Conv1d(4 * L, L, 1, groups=L),
        )
        self.bn = _standardize(z_dim)

    def transform(self, eps: Tensor) -> Tensor:
        return self.bn(self.net(eps[:, :, None])[:, :, 0])


@PRIORS.register("gaussian_mixture", "GMP: learned K-component Gaussian mixture (modes: paper, fixed)")
class GaussianMixturePrior(Prior):
    """Means ~ N(0, I), matrices S_k = I + 0.01 N(0, 1), logits ~ N(0, 1) at initialisation."""

    def __init__(self, z_dim: int, config: PriorConfig) -> None:
        super().__init__(z_dim, config)
        K, L = config.num_components, z_dim
        self.means = nn.Parameter(torch.randn(K, L))
        self.sqrt_precision = nn.Parameter(torch.eye(L).expand(K, L, L) + 0.01 * torch.randn(K, L, L))
        self.logits = nn.Parameter(torch.randn(K))
        self.bn = _standardize(z_dim)

    def transform(self, eps: Tensor) -> Tensor:
        log_w = F.log_softmax(self.logits, dim=0)
        gumbel = -torch.log(-torch.log(torch.rand(len(eps), len(log_w), device=eps.device).clamp_min(1e-20)))
        scores = log_w + gumbel
        if self.config.mode == "paper":
            m = scores.argmax(dim=1)  # hard index: the logits get no gradient (official quirk)
            # Official expression: sum_i eps_j * S[i, j] -- an element-wise, i.e. diagonal, transform.
            z = self.means[m] + (eps[:, None, :] * self.sqrt_precision[m]).sum(dim=1)
        else:
            soft = scores.softmax(dim=1)
            hard = F.one_hot(soft.argmax(dim=1), len(log_w)).to(soft)
            weight = hard + soft - soft.detach()  # straight-through: forward is the hard choice
            comps = self.means[None] + torch.einsum("kij,bj->bki", self.sqrt_precision, eps)
            z = (weight[:, :, None] * comps).sum(dim=1)
        return self.bn(z)


@PRIORS.register("normal", "fixed standard normal N(0, I)")
class NormalPrior(Prior):
    learned = False

    def transform(self, eps: Tensor) -> Tensor:
        return eps


@PRIORS.register("uniform", "fixed uniform on [-sqrt 3, sqrt 3]^L (unit variance)")
class UniformPrior(Prior):
    learned = False

    def forward(self, n: int) -> Tensor:
        u = torch.rand(n, self.z_dim, device=self._anchor.device)
        return (2 * u - 1) * math.sqrt(3)


@PRIORS.register("spherical", "fixed uniform on the unit sphere (normalised Gaussian)")
class SphericalPrior(Prior):
    learned = False

    def transform(self, eps: Tensor) -> Tensor:
        return F.normalize(eps, dim=1)


def build_prior(z_dim: int, config: PriorConfig) -> Prior:
    return PRIORS.get(config.name)(z_dim, config)
