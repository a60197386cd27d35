"""Variational Ladder Autoencoder (Zhao et al. 2017) as vaetc's ``vladderae`` trains it.

Source: ``vaetc/models/vladderae.py`` on vaetc branch ``develop_may`` (f1076be), the version
``ganmodokix/gwae`` pins; settings: ``ganmodokix/gwae`` ``settings/vladderae.yaml`` (lr 1e-4, z_dim 64,
early stopping with patience 5).

No ``mode``: vaetc's VLAE is the published model's structure (one Gaussian latent per encoder depth,
injected at the matching decoder depth, a factorized N(0, I) prior, the plain ELBO). Its networks are
vaetc's own rather than the paper's, which this module follows; that is an architecture, not a departure
in the method. vaetc's one dead layer, ``dec_blocks[0]`` (a ConvT 64->64 that ``decode`` never calls,
vladderae.py:63-69, 105-114), is not built: it gets no gradient and changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import Representation, SingleObjectiveModel, gaussian_sample, half_squared_error
from models.vae import kl_standard_normal

NUM_LEVELS = 4  # vladderae.py:22: four latent blocks
#: Encoder channels per depth, image channels first (vladderae.py:23: (3, 32, 32, 64, 64)).
ENC_CHANNELS = (32, 32, 64, 64)
FEATURES = 64  # per-level feature width: Linear(c * 4 * 4, 64) (vladderae.py:33-41)
POOL = 4  # AdaptiveMaxPool2d([4, 4]) before each level's features (vladderae.py:35)
HEADER = 256  # hidden width of the injection headers (vladderae.py:53-60)
HEADER_MAP = (64, 8)  # every injection header produces a (64, 8, 8) map before resizing (vladderae.py:56-59)
SLOPE = 0.2  # LeakyReLU(0.2) throughout (vladderae.py:29, 38, 55, 57, 66)


@dataclass(frozen=True)
class VLAEConfig:
    """Defaults: ``settings/vladderae.yaml``.

    No ``batchnorm`` field: vaetc's VLAE has no normalisation layer at all (vladderae.py:26-69; it deletes
    the VAE's BN encoder and decoder), so there is nothing for the switch of the other baselines to turn off.
    """

    z_dim: int = 64  # settings/vladderae.yaml: z_dim 64, split over four levels by ``vlae_dims``
    lr: float = 1e-4  # settings/vladderae.yaml: lr 1e-4 (Adam, default betas: vladderae.py:72-75)

    def __post_init__(self) -> None:
        if self.z_dim < NUM_LEVELS:
            raise ValueError(f"z_dim must be >= {NUM_LEVELS} so each of the {NUM_LEVELS} levels gets a dimension, "
                             f"got {self.z_dim}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def vlae_dims(z_dim: int) -> tuple[int, ...]:
    """Per-level dimensions, shallowest first: z_dim // 4 for the three shallow levels, the rest at the deepest.

    vaetc's rule (vladderae.py:22): 64 -> (16, 16, 16, 16); small presets: 8 -> (2, 2, 2, 2),
    10 -> (2, 2, 2, 4). vaetc asserts z_dim > 6; any z_dim >= 4 gives every level at least one dimension.
    """
    q = z_dim // NUM_LEVELS
    return (q,) * (NUM_LEVELS - 1) + (z_dim - q * (NUM_LEVELS - 1),)


def decoder_sizes(side: int) -> tuple[int, ...]:
    """Spatial sizes of the decoder path, deepest first: ``side`` halved three times, rounding up.

    64 -> (8, 16, 32, 64), vaetc's; 32 -> (4, 8, 16, 32); 28 -> (4, 7, 14, 28).
    """
    sizes = [side]
    for _ in range(NUM_LEVELS - 1):
        sizes.append(math.ceil(sizes[-1] / 2))
    return tuple(reversed(sizes))


def upsample(c_in: int, c_out: int, size_in: int, size_out: int) -> nn.ConvTranspose2d:
    """Stride-2 ConvT from ``size_in`` to ``size_out``: vaetc's 4x4 / padding 1 doubles; 3x3 gives 2 s - 1."""
    if size_out not in (2 * size_in, 2 * size_in - 1):
        raise ValueError(f"a stride-2 ConvT cannot take {size_in} to {size_out}")
    return nn.ConvTranspose2d(c_in, c_out, 4 if size_out == 2 * size_in else 3, 2, 1)


class VLAEEncoder(nn.Module):
    """Raw x -> four stride-2 convs (LeakyReLU); each depth's map -> max-pool 4x4 -> Linear 64 -> mu_i, logvar_i.

    vladderae.py:26-49, 77-92. No logit input and no BN. Adaptive pooling makes it size-agnostic (images of
    side >= 16): 64 -> maps 32, 16, 8, 4 (vaetc's); 32 -> 16, 8, 4, 2; 28 -> 14, 7, 3, 1.
    """

    def __init__(self, channels: int, dims: tuple[int, ...]) -> None:
        super().__init__()
        ins = (channels, *ENC_CHANNELS[:-1])
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(SLOPE))
            for c_in, c_out in zip(ins, ENC_CHANNELS, strict=True)
        )
        self.features = nn.ModuleList(
            nn.Sequential(nn.AdaptiveMaxPool2d(POOL), nn.Flatten(), nn.Linear(c * POOL * POOL, FEATURES),
                          nn.LeakyReLU(SLOPE))
            for c in ENC_CHANNELS
        )
        self.means = nn.ModuleList(nn.Linear(FEATURES, d) for d in dims)
        self.logvars = nn.ModuleList(nn.Linear(FEATURES, d) for d in dims)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mus, logvars, h = [], [], x
        for block, feat, mean, logvar in zip(self.blocks, self.features, self.means, self.logvars, strict=True):
            h = block(h)
            g = feat(h)
            mus.append(mean(g))
            logvars.append(logvar(g))
        return torch.cat(mus, dim=1), torch.cat(logvars, dim=1)


class VLAEDecoder(nn.Module):
    """Deepest latent first: h = Linear(z_4) as a map; then for z_3, z_2, z_1: h = ConvT(cat[h, header(z_i)]).

    vladderae.py:52-69, 94-116. Each header is Linear 256 -> Linear (64, 8, 8), LeakyReLU after both, then
    AdaptiveAvgPool2d to the current size (a nearest upsample when larger, as in vaetc). At 64x64 the sizes are
    vaetc's (8, 16, 32, 64) and the ConvTs 128->32, 96->32, 96->C, the last with a sigmoid; other sizes follow
    ``decoder_sizes``, a 3x3 ConvT taking an odd step (28x28: 4 -> 7).
    """

    def __init__(self, channels: int, side: int, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims
        self.sizes = decoder_sizes(side)
        c_map, s_map = HEADER_MAP
        top = ENC_CHANNELS[-1]
        s0 = self.sizes[0]
        #: z_4 -> a (64, s, s) map, no activation (vladderae.py:52, 108-110)
        self.top = nn.Sequential(nn.Linear(dims[-1], top * s0 * s0), nn.Unflatten(1, (top, s0, s0)))
        self.headers = nn.ModuleList(
            nn.Sequential(nn.Linear(d, HEADER), nn.LeakyReLU(SLOPE), nn.Linear(HEADER, c_map * s_map * s_map),
                          nn.LeakyReLU(SLOPE), nn.Unflatten(1, (c_map, s_map, s_map)), nn.AdaptiveAvgPool2d(size))
            for d, size in zip(dims[-2::-1], self.sizes[:-1], strict=True)
        )
        ins = (top, *reversed(ENC_CHANNELS[:2]))  # 64, 32, 32: the map entering each ConvT, before the header
        outs = (*reversed(ENC_CHANNELS[:2]), channels)  # 32, 32, C
        self.ups = nn.ModuleList(
            nn.Sequential(upsample(c_in + c_map, c_out, s_in, s_out),
                          nn.Sigmoid() if i == NUM_LEVELS - 2 else nn.LeakyReLU(SLOPE))
            for i, (c_in, c_out, s_in, s_out) in enumerate(zip(ins, outs, self.sizes[:-1], self.sizes[1:], strict=True))
        )

    def forward(self, z: Tensor) -> Tensor:
        levels = torch.split(z, self.dims, dim=1)  # shallowest first
        h = self.top(levels[-1])
        for header, up, zi in zip(self.headers, self.ups, levels[-2::-1], strict=True):
            h = up(torch.cat([h, header(zi)], dim=1))
        return h


class VLAE(SingleObjectiveModel):
    """VLAE: z = [z_1 (shallowest), ..., z_4 (deepest)] ~ N(0, I), loss = 1/2 squared error + KL.

    vladderae.py:118-139 (the loss of vaetc's VAE). ``encode(x, "mean")`` is the concatenated Gaussian mean,
    ``"sample"`` a reparameterized sample; ``sample_prior`` is the inherited N(0, I) (vaetc/models/vae.py:44-47).
    """

    config_cls = VLAEConfig
    ood_scorer = "prior_nll"

    def __init__(self, config: VLAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        c, h, w = self.image_shape
        if h != w or h < 16:
            raise ValueError(f"VLAE needs square images of side >= 16 (four stride-2 convs), got {h}x{w}")
        self.dims = vlae_dims(config.z_dim)
        self.encoder = VLAEEncoder(c, self.dims)
        self.decoder = VLAEDecoder(c, h, self.dims)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, logvar = self.encoder(x)
        recon = half_squared_error(x, self.decoder(gaussian_sample(mu, logvar)))
        kl = kl_standard_normal(mu, logvar)
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        mu, logvar = self.encoder(x)
        return mu if representation == "mean" else gaussian_sample(mu, logvar)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)
