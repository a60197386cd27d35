"""Ladder VAE (Sønderby et al. 2016) as vaetc's ``laddervae`` trains it (``vaetc/models/laddervae.py``).

Line numbers refer to vaetc branch ``develop_may`` (f1076be), the version ``ganmodokix/gwae`` pins; the
settings are ``ganmodokix/gwae`` ``settings/laddervae.yaml``.

Latent layout, shared by every method here: levels 0 (next to the image) .. L-1 (top), with dimensions
``ladder_dims`` = [z_dim // L] * (L - 1) + [the rest] (laddervae.py:28-30; [21, 21, 22] for 64 and 3). A code
is the flat concatenation [z_0, z_1, ..., z_{L-1}] (laddervae.py:163-164, 194), and the image decoder reads
z_0 only (laddervae.py:168-170), so ``decode(encode(x))`` and ``decode(sample_prior(n))`` are both the
decoder applied to a level-0 code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import Representation, SingleObjectiveModel, gaussian_sample, half_squared_error
from models.networks import HIDDEN, SigmoidInverse, down_stages

LADDER_MODES = ("paper", "fixed")
#: Channel widths of the bottom-up convolutions, 8 -> 128 (laddervae.py:38-47); the decoder mirrors them.
LADDER_WIDTHS = (8, 16, 32, 64, 128)


@dataclass(frozen=True)
class LadderVAEConfig:
    """Defaults: ``settings/laddervae.yaml`` and ``vaetc/models/laddervae.py``."""

    #: ``paper``: vaetc's code, quirks included; ``fixed``: the published LVAE (see ``LadderVAE``).
    mode: str = "paper"
    z_dim: int = 64  # settings/laddervae.yaml: z_dim 64
    num_layers: int = 3  # settings/laddervae.yaml: num_layers 3
    #: BatchNorm1d on the latent heads, vaetc's only BN: settings/laddervae.yaml batchnorm_latent True
    #: (laddervae.py:61-82); the conv and MLP layers have none (laddervae.py:34-60, 83-113).
    batchnorm: bool = True
    warmup: bool = True  # settings/laddervae.yaml: warmup True (linear KL warm-up, laddervae.py:218)
    #: beta = min(1, progress / warmup_fraction) in training: laddervae.py:218 writes min(1, 4 * progress).
    warmup_fraction: float = 0.25
    #: Steps over which progress runs from 0 to 1: vaetc's budget at CelebA, settings/laddervae.yaml
    #: epochs 100 x 2,544 batches per epoch (vaetc/train.py:128-132 ties progress to the epoch count).
    total_steps: int = 254_400
    lr: float = 1e-4  # settings/laddervae.yaml: lr 1e-4 (Adam, default betas: laddervae.py:115-118)

    def __post_init__(self) -> None:
        if self.mode not in LADDER_MODES:
            raise ValueError(f"mode must be one of {', '.join(LADDER_MODES)}, got {self.mode!r}")
        if self.num_layers < 2:
            raise ValueError(f"num_layers must be >= 2 (a ladder needs a top-down conditional), got {self.num_layers}")
        if self.z_dim < self.num_layers:
            raise ValueError(f"z_dim must be >= num_layers ({self.num_layers}) to give every level a dimension, "
                             f"got {self.z_dim}")
        if not 0 < self.warmup_fraction <= 1:
            raise ValueError(f"warmup_fraction must be in (0, 1], got {self.warmup_fraction}")
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def ladder_dims(z_dim: int, num_layers: int) -> list[int]:
    """Per-level dimensions, bottom first: z_dim // L for each lower level, the rest at the top."""
    return [z_dim // num_layers] * (num_layers - 1) + [z_dim - z_dim // num_layers * (num_layers - 1)]


# ----------------------------------------------------------------------------- loss terms


def merge_paper(mu_hat: Tensor, logvar_hat: Tensor, mu_p: Tensor, logvar_p: Tensor) -> tuple[Tensor, Tensor]:
    """vaetc's merge (laddervae.py:152-153): the log-variance is -LSE(-mu_p, -mu_hat), of the *means*.

    The mean is the precision-weighted form, weighted by the true precisions but scaled by that variance.
    """
    logvar_q = -torch.logsumexp(torch.stack([-mu_p, -mu_hat]), dim=0)
    return _weighted_mean(mu_hat, logvar_hat, mu_p, logvar_p, logvar_q), logvar_q


def merge_precision(mu_hat: Tensor, logvar_hat: Tensor, mu_p: Tensor, logvar_p: Tensor) -> tuple[Tensor, Tensor]:
    """Sønderby et al.'s precision-weighted merge: 1/s_q^2 = 1/s_hat^2 + 1/s_p^2, mu_q = s_q^2 (mu/s^2 summed)."""
    logvar_q = -torch.logsumexp(torch.stack([-logvar_p, -logvar_hat]), dim=0)
    return _weighted_mean(mu_hat, logvar_hat, mu_p, logvar_p, logvar_q), logvar_q


def _weighted_mean(mu_hat: Tensor, logvar_hat: Tensor, mu_p: Tensor, logvar_p: Tensor, logvar_q: Tensor) -> Tensor:
    # (mu_hat e^-lh + mu_p e^-lp) e^lq with the exponents combined, so no factor over- or underflows alone
    return mu_hat * torch.exp(logvar_q - logvar_hat) + mu_p * torch.exp(logvar_q - logvar_p)


def kl_gaussians(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, e^lq) || N(mu_p, e^lp)) per row, summed over dimensions.

    Evaluated with the exponents combined (e^(lq - lp) and (dmu e^(-lp/2))^2): once a level's posterior has
    collapsed onto its prior (q = p, KL 0) nothing holds lp up, and e^-lp alone overflows float32 below
    lp = -88 while the KL stays small.
    """
    ratio = torch.exp(logvar_q - logvar_p)
    scaled_gap = (mu_q - mu_p) * torch.exp(-0.5 * logvar_p)
    return (0.5 * (logvar_p - logvar_q) + 0.5 * ratio + 0.5 * scaled_gap.pow(2) - 0.5).sum(dim=1)


def kl_paper(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """vaetc's ladder KL per row (laddervae.py:210): the Gaussian KL with (lp - lq) in place of (lp - lq) / 2,
    in vaetc's arithmetic ((e^lq + dmu^2) / 2 e^-lp, which overflows as ``kl_gaussians`` explains)."""
    as_written = (0.5 * (logvar_p - logvar_q) + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * 0.5 * torch.exp(-logvar_p)
                  - 0.5).sum(dim=1)
    return as_written + 0.5 * (logvar_p - logvar_q).sum(dim=1)


def kl_to_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, e^l) || N(0, I)) per row (vaetc/network/losses.py:6-20, the top level: laddervae.py:211)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)


def gaussian_nll(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """-log N(z; mu, diag e^l) per row, constants included."""
    return 0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(dim=1)


def warmup_beta(progress: float, fraction: float) -> float:
    """KL weight of the linear warm-up: min(1, progress / fraction) (laddervae.py:218 with fraction 1/4)."""
    return min(1.0, progress / fraction)


# ----------------------------------------------------------------------------- networks


def _mlp(d_in: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, HIDDEN), nn.SiLU())


def _head(dim: int, batchnorm: bool) -> nn.Module:
    return nn.Sequential(nn.Linear(HIDDEN, dim), nn.BatchNorm1d(dim)) if batchnorm else nn.Linear(HIDDEN, dim)


def bottom_trunk(image_shape: tuple[int, int, int]) -> nn.Sequential:
    """x -> d_0 (256): logit, stride-2 convs with SiLU down to >= 2x2, Linear 256, SiLU (laddervae.py:36-51).

    64x64 gives vaetc's five convs 8..128 to 2x2; smaller images keep the first widths: 32x32 four convs to
    2x2, 28x28 two convs to 7x7 (``down_stages``: halve exactly while the side stays >= 2).
    """
    c, h, w = image_shape
    stages, side = down_stages(h, max_stages=len(LADDER_WIDTHS), min_size=2)
    if h != w or stages == 0:
        raise ValueError(f"square images of an even side >= 4 only, got {h}x{w}")
    layers: list[nn.Module] = [SigmoidInverse()]
    for w_in, w_out in zip((c, *LADDER_WIDTHS[: stages - 1]), LADDER_WIDTHS[:stages], strict=True):
        layers += [nn.Conv2d(w_in, w_out, 4, 2, 1), nn.SiLU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(LADDER_WIDTHS[stages - 1] * side * side, HIDDEN), nn.SiLU())


def image_decoder(image_shape: tuple[int, int, int], dim: int) -> nn.Sequential:
    """z_0 -> image: Linear to a (w, s, s) map, SiLU, stride-2 ConvTs with SiLU, sigmoid (laddervae.py:83-96).

    64x64 gives vaetc's Linear to 64x4x4 and ConvTs 64-32-16-8-C; smaller images drop the widest stages
    (32x32: 32x4x4 and three ConvTs; 28x28: 16x7x7 and two), as ``ConvDecoder`` does.
    """
    c, h, _ = image_shape
    stages, side = down_stages(h, max_stages=len(LADDER_WIDTHS) - 1, min_size=4)
    if stages == 0:
        raise ValueError(f"the ladder decoder needs a side of at least 8, got {h}")
    widths = tuple(reversed(LADDER_WIDTHS[:stages]))
    layers: list[nn.Module] = [
        nn.Linear(dim, widths[0] * side * side), nn.SiLU(), nn.Unflatten(1, (widths[0], side, side))
    ]
    for w_in, w_out in zip(widths, (*widths[1:], c), strict=True):
        layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1), nn.SiLU()]
    layers[-1] = nn.Sigmoid()  # the last ConvT ends in a sigmoid instead
    return nn.Sequential(*layers)


@dataclass
class LadderPass:
    """One inference pass, per level (bottom first): bottom-up estimates, top-down conditionals, merged posteriors.

    ``mu_p[i]`` / ``logvar_p[i]`` are p(z_i | z_{i+1}) for i < L-1 and None at the top; ``z[i]`` is what the
    pass fed down from level i (a sample of the merged posterior, or its mean in a deterministic pass).
    """

    mu_hat: list[Tensor]
    logvar_hat: list[Tensor]
    mu_p: list[Tensor | None]
    logvar_p: list[Tensor | None]
    mu_q: list[Tensor]
    logvar_q: list[Tensor]
    z: list[Tensor]


class LadderVAE(SingleObjectiveModel):
    """Ladder VAE: a bottom-up deterministic path, a top-down prior p(z_i | z_{i+1}), merged posteriors.

    Loss = 1/2 squared error + beta (sum of the lower levels' KL(q_i || p_i) + KL(q_top || N(0, I))), beta the
    linear warm-up over the step budget in training and 1 in evaluation (laddervae.py:196-231).

    Modes (``paper`` = vaetc's code; ``fixed`` = Sønderby et al. 2016):

    1. Merge: ``paper`` sets the merged log-variance to -LSE(-mu_p, -mu_hat), of the means (laddervae.py:152);
       ``fixed`` -LSE(-logvar_p, -logvar_hat), i.e. added precisions. The mean is precision-weighted in both.
    2. KL of the lower levels: ``paper`` has (logvar_p - logvar_q) without its 1/2 (laddervae.py:210);
       ``fixed`` is the Gaussian KL.
    3. Decoder input in training: ``paper`` decodes z_0 ~ p(z_0 | z_1), the top-down conditional
       (laddervae.py:202-203); ``fixed`` decodes the posterior sample z_0 ~ q(z_0 | .) of the pass.
    4. Deterministic path: ``paper`` shares one MLP for every level above the first, as vaetc's
       ``[Sequential(...)] * (num_layers - 1)`` does (laddervae.py:52-59: ``enc_blocks[1] is enc_blocks[2]``);
       ``fixed`` gives each level its own.
    5. Prior samples: ``paper`` maps z_top ~ N(0, I) down the ladder through the conditional *means*, so a
       sample is a deterministic function of z_top (laddervae.py:180-194, the sampling line is commented out);
       ``fixed`` samples each conditional (ancestral sampling).
    6. ``encode(x, "sample")``: ``paper`` is vaetc's evaluation route (``encode_gauss``, then a fresh sample of
       each level's merged Gaussian: vaetc/evaluation/preprocess/encode.py:35-43); ``fixed`` returns the
       pass's own ancestral sample, so the levels of a code belong together. z_0 has the same law in both.

    ``encode(x, "mean")`` returns the merged means of a deterministic pass (each level's mean is fed down),
    so a representation does not depend on noise; vaetc has no such call. vaetc's unused ``dec_means[-1]`` /
    ``dec_logvars[-1]`` heads (laddervae.py:106-113) are not built: they get no gradient and change nothing.
    """

    config_cls = LadderVAEConfig
    budget_field = "total_steps"
    ood_scorer = "ladder_prior_nll"
    prior_label = "ladder"

    def __init__(self, config: LadderVAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        c = config
        self.dims = ladder_dims(c.z_dim, c.num_layers)
        levels = range(c.num_layers)
        upper = [_mlp(HIDDEN)] * (c.num_layers - 1) if c.mode == "paper" else [_mlp(HIDDEN) for _ in levels[1:]]
        #: [0]: x -> d_0; [i]: d_{i-1} -> d_i (one shared module in paper mode, as vaetc)
        self.enc_blocks = nn.ModuleList([bottom_trunk(self.image_shape), *upper])
        self.enc_means = nn.ModuleList([_head(d, c.batchnorm) for d in self.dims])
        self.enc_logvars = nn.ModuleList([_head(d, c.batchnorm) for d in self.dims])
        #: top_down[i]: z_{i+1} -> h, the features of p(z_i | z_{i+1}) (vaetc's dec_blocks[i + 1])
        self.top_down = nn.ModuleList([_mlp(self.dims[i + 1]) for i in levels[:-1]])
        self.prior_means = nn.ModuleList([nn.Linear(HIDDEN, self.dims[i]) for i in levels[:-1]])
        self.prior_logvars = nn.ModuleList([nn.Linear(HIDDEN, self.dims[i]) for i in levels[:-1]])
        self.decoder = image_decoder(self.image_shape, self.dims[0])
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    @classmethod
    def mode_of(cls, config: LadderVAEConfig) -> str:
        return config.mode

    @property
    def prior_sampler(self) -> str:  # type: ignore[override]
        return "ladder-means" if self.config.mode == "paper" else "ladder-ancestral"

    # -- schedule ---------------------------------------------------------------------------
    @property
    def progress(self) -> float:
        """steps_done / (total_steps - 1) in [0, 1]: vaetc's progress over this run's step budget."""
        return min(1.0, max(0.0, int(self.steps_done) / max(self.config.total_steps - 1, 1)))

    @property
    def beta(self) -> float:
        """KL weight: the warm-up in training mode (when on), 1 in evaluation (laddervae.py:218)."""
        return warmup_beta(self.progress, self.config.warmup_fraction) if self.config.warmup and self.training else 1.0

    # -- the ladder -------------------------------------------------------------------------
    def conditional(self, i: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of p(z_i | z_{i+1})."""
        h = self.top_down[i](z_above)
        return self.prior_means[i](h), self.prior_logvars[i](h)

    def ladder(self, x: Tensor, sample: bool = True) -> LadderPass:
        """Bottom-up estimates, then top-down merging; ``sample=False`` feeds each level's mean down."""
        mu_hat, logvar_hat, d = [], [], x
        for block, head_mu, head_lv in zip(self.enc_blocks, self.enc_means, self.enc_logvars, strict=True):
            d = block(d)
            mu_hat.append(head_mu(d))
            logvar_hat.append(head_lv(d))
        top = len(self.dims) - 1
        merge = merge_paper if self.config.mode == "paper" else merge_precision
        n = len(self.dims)
        mu_p: list[Tensor | None] = [None] * n
        logvar_p: list[Tensor | None] = [None] * n
        mu_q, logvar_q = list(mu_hat), list(logvar_hat)  # the top level's posterior is its estimate
        z: list[Tensor] = [mu_hat[top]] * n  # overwritten top-down
        for i in range(top, -1, -1):
            if i < top:
                mu_p[i], logvar_p[i] = self.conditional(i, z[i + 1])
                mu_q[i], logvar_q[i] = merge(mu_hat[i], logvar_hat[i], mu_p[i], logvar_p[i])
            z[i] = gaussian_sample(mu_q[i], logvar_q[i]) if sample else mu_q[i]
        return LadderPass(mu_hat, logvar_hat, mu_p, logvar_p, mu_q, logvar_q, z)

    # -- objective --------------------------------------------------------------------------
    def terms(self, x: Tensor) -> dict[str, Tensor]:
        p = self.ladder(x)
        paper = self.config.mode == "paper"
        z0 = gaussian_sample(p.mu_p[0], p.logvar_p[0]) if paper else p.z[0]
        recon = half_squared_error(x, self.decoder(z0))
        kl_fn = kl_paper if paper else kl_gaussians
        lower = range(len(self.dims) - 1)
        kl_ladder = sum(kl_fn(p.mu_q[i], p.logvar_q[i], p.mu_p[i], p.logvar_p[i]) for i in lower).mean()
        kl_top = kl_to_standard(p.mu_q[-1], p.logvar_q[-1]).mean()
        kl = kl_ladder + kl_top
        beta = torch.tensor(self.beta, dtype=kl.dtype, device=kl.device)
        return {"loss": recon + beta * kl, "recon": recon, "kl": kl, "kl_ladder": kl_ladder, "kl_top": kl_top,
                "beta": beta}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        out = super().train_batch(x, optimizers)
        self.steps_done += 1
        return out

    # -- representation ---------------------------------------------------------------------
    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Flat code [z_0, ..., z_top]: merged means of a deterministic pass, or a sample (see class docstring)."""
        if representation == "mean":
            return torch.cat(self.ladder(x, sample=False).mu_q, dim=1)
        if representation != "sample":
            raise ValueError(f"representation must be 'mean' or 'sample', got {representation!r}")
        p = self.ladder(x)
        if self.config.mode == "paper":
            return gaussian_sample(torch.cat(p.mu_q, dim=1), torch.cat(p.logvar_q, dim=1))
        return torch.cat(p.z, dim=1)

    def split(self, z: Tensor) -> list[Tensor]:
        """A flat code's levels, bottom first."""
        return list(torch.split(z, self.dims, dim=1))

    def decode(self, z: Tensor) -> Tensor:
        """The image decoder on the level-0 block (laddervae.py:168-170)."""
        return self.decoder(z[:, : self.dims[0]])

    @torch.no_grad()
    def sample_prior(self, n: int) -> Tensor:
        """z_top ~ N(0, I), mapped down the ladder: conditional means (paper) or samples (fixed); flat code."""
        z = [torch.randn(n, self.dims[-1], device=self.device)]
        for i in range(len(self.dims) - 2, -1, -1):
            mu, logvar = self.conditional(i, z[0])
            z.insert(0, mu if self.config.mode == "paper" else gaussian_sample(mu, logvar))
        return torch.cat(z, dim=1)

    def prior_nll(self, z: Tensor) -> Tensor:
        """-log p(z) per row under the hierarchical prior N(z_top; 0, I) prod_i N(z_i; p(z_i | z_{i+1}))."""
        levels = self.split(z)
        nll = gaussian_nll(levels[-1], torch.zeros_like(levels[-1]), torch.zeros_like(levels[-1]))
        for i in range(len(levels) - 1):
            nll = nll + gaussian_nll(levels[i], *self.conditional(i, levels[i + 1]))
        return nll

    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Negative log-density of the code under the ladder's own prior, the one its KL terms use."""
        return self.prior_nll(self.encode(x, representation))
