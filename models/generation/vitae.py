"""U-VITAE (Detlefsen & Hauberg, NeurIPS 2019) as vaetc trains it (``vaetc/models/vitae.py``, class ``VITAE``).

The code splits into a perspective part z_p = z[:, :zp_dim] and an appearance part z_a = z[:, zp_dim:]. The
appearance decoder draws an image from z_a; a displacement net turns z_p into a smooth warp field (a 5x5 field
bounded by tanh, upsampled bilinearly), and the output is the appearance image sampled at identity + field.
With the shipped settings (z_dim 64, zp_dim 62) the appearance code has only 2 dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.base import Representation, SingleObjectiveModel, gaussian_sample
from models.networks import ConvDecoder, ConvEncoder
from models.vae import kl_standard_normal

VITAE_MODES = ("paper", "fixed")
PERSPECTIVE_HIDDEN = 256  # vitae.py:35


@dataclass(frozen=True)
class VITAEConfig:
    #: ``paper``: vaetc's code (vitae.py:57-62, 93-96); ``fixed``: the published objective and warp (see ``VITAE``).
    mode: str = "paper"
    z_dim: int = 64  # settings/vitae.yaml
    #: settings/vitae.yaml; the appearance code gets z_dim - zp_dim (2 with z_dim 64). Capped at z_dim - 1 (see
    #: ``split_dims``), so small-z presets keep one appearance dimension.
    zp_dim: int = 62
    num_samples: int = 4  # vitae.py:29 (num_sampling, hard-coded): decoder passes per image per step
    displacement_grid: int = 5  # vitae.py:36-39: the field is 2 x 5 x 5 before upsampling
    lr: float = 1e-4  # settings/vitae.yaml; Adam over every parameter (vitae.py:43-46)
    batchnorm: bool = True  # vaetc's ConvGaussianEncoder/ConvDecoder default (vitae.py:32-33)

    def __post_init__(self) -> None:
        if self.mode not in VITAE_MODES:
            raise ValueError(f"mode must be one of {', '.join(VITAE_MODES)}, got {self.mode!r}")
        if self.z_dim < 2:
            raise ValueError(f"U-VITAE splits z into perspective and appearance, so z_dim must be >= 2, "
                             f"got {self.z_dim}")
        if self.zp_dim < 1:
            raise ValueError(f"zp_dim must be >= 1, got {self.zp_dim}")
        if self.num_samples < 1 or self.displacement_grid < 2:
            raise ValueError(f"num_samples >= 1 and displacement_grid >= 2 are required, got {self.num_samples} "
                             f"and {self.displacement_grid}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def split_dims(z_dim: int, zp_dim: int) -> tuple[int, int]:
    """(zp, za) sizes: zp = min(zp_dim, z_dim - 1), za = z_dim - zp, so both are >= 1.

    vaetc asserts 0 < zp_dim < z_dim (``vitae.py:24-26``). The cap only acts where the configured zp_dim would
    leave no appearance dimension (z_dim 8 or 16 with the shipped 62), and keeps the shipped shape of the split:
    nearly all of z is perspective, a minimal appearance code.
    """
    if z_dim < 2 or zp_dim < 1:
        raise ValueError(f"z_dim >= 2 and zp_dim >= 1 are required to split z, got {z_dim} and {zp_dim}")
    zp = min(zp_dim, z_dim - 1)
    return zp, z_dim - zp


def vaetc_identity_grid(size: int) -> Tensor:
    """vaetc's zero-displacement grid (``vitae.py:57-62``): (size, size, 2), grid[i, j] = (pos_i, pos_j).

    pos = linspace(-1, 1, size). ``grid_sample`` reads channel 0 as x (the column), so output pixel (i, j)
    samples column i and row j: a transpose. With align_corners=False, +-1 are the outer pixel edges, not
    centres: pixel i is read at i + (i - c) / (size - 1), c the centre, so the image also shrinks by
    (size - 1) / size about the centre (a slight blur).
    """
    pos = torch.linspace(-1, 1, size)
    rows, cols = torch.meshgrid(pos, pos, indexing="ij")
    return torch.stack([rows, cols], dim=-1)


def identity_grid(size: int) -> Tensor:
    """The exact identity for ``grid_sample(align_corners=False)``: grid[i, j] = (x_j, y_i) at pixel centres."""
    theta = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    return F.affine_grid(theta, [1, 1, size, size], align_corners=False)[0]


class VITAE(SingleObjectiveModel):
    """U-VITAE: one Gaussian encoder; x_hat = warp(Dec_a(z_a), identity + field(z_p)); loss = rec + KL.

    Every step decodes ``num_samples`` (4) reparameterized codes per image, each pass through the decoders
    separately (BatchNorm statistics per pass, as vaetc's loop, ``vitae.py:78-82``).

    Modes:

    - ``paper`` (vaetc): the reconstruction term is the *sum* over the 4 samples of 1/2 SSE, batch mean
      (``vitae.py:93-96``: the samples are flattened into one row before the per-row sum), i.e. 4x the
      ELBO's Monte-Carlo average against one KL: in effect a beta-VAE with beta = 1/4. The zero-displacement
      grid is vaetc's ``meshgrid(..., indexing="ij")`` of linspace(-1, 1) (``vitae.py:57-62``), which transposes
      the appearance image and rescales it slightly (``vaetc_identity_grid``).
    - ``fixed`` (the published model): the reconstruction term is the mean over the samples (the ELBO's
      estimate), and zero displacement is the exact identity warp (``identity_grid``).

    Kept from vaetc in both: one shared encoder for both codes (the paper's U-VITAE infers z_p and z_a from x
    with separate encoders, which one network with both heads parameterises), and vaetc's free-form, tanh-bounded
    5x5 displacement field in place of the paper's affine or CPAB transformations. vaetc also keeps the VAE's
    unused 64-d decoder; it is left out here (it has no effect on training or evaluation).

    Generation: z ~ N(0, I) -> decode; reconstruction: decode(mu + sigma eps) (one sample), as vaetc.
    """

    config_cls = VITAEConfig

    def __init__(self, config: VITAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        c = config
        _, h, w = self.image_shape
        if h != w:
            raise ValueError(f"square images only, got {h}x{w}")
        self.zp_dim, self.za_dim = split_dims(c.z_dim, c.zp_dim)
        self.encoder = ConvEncoder(self.image_shape, c.z_dim, gaussian=True, batchnorm=c.batchnorm)
        self.appearance = ConvDecoder(self.image_shape, self.za_dim, batchnorm=c.batchnorm)
        g = c.displacement_grid
        self.perspective = nn.Sequential(
            nn.Linear(self.zp_dim, PERSPECTIVE_HIDDEN), nn.LeakyReLU(0.2),
            nn.Linear(PERSPECTIVE_HIDDEN, 2 * g * g), nn.Tanh(),
        )
        grid = vaetc_identity_grid(h) if c.mode == "paper" else identity_grid(h)
        self.register_buffer("base_grid", grid, persistent=False)  # a constant of the mode: not checkpointed

    @classmethod
    def mode_of(cls, config: VITAEConfig) -> str:
        return config.mode

    def diagnostics(self) -> dict[str, int]:
        """The z split actually used (it differs from the config's where z_dim is small)."""
        return {"zp_dim": self.zp_dim, "za_dim": self.za_dim}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def displacement(self, zp: Tensor) -> Tensor:
        """(B, H, W, 2) field: tanh outputs on a g x g grid, bilinearly upsampled with aligned corners
        (``nn.UpsamplingBilinear2d``, ``vitae.py:39``); channel 0 displaces x, channel 1 y."""
        g, size = self.config.displacement_grid, self.image_shape[1]
        field = self.perspective(zp).view(-1, 2, g, g)
        field = F.interpolate(field, size=(size, size), mode="bilinear", align_corners=True)
        return field.permute(0, 2, 3, 1)

    def decode(self, z: Tensor) -> Tensor:
        """grid_sample(Dec_a(z_a), base grid + field(z_p)), bilinear, border padding (``vitae.py:52-68``)."""
        zp, za = z[:, : self.zp_dim], z[:, self.zp_dim :]
        grid = self.base_grid.to(z.dtype) + self.displacement(zp)
        return F.grid_sample(self.appearance(za), grid, mode="bilinear", padding_mode="border", align_corners=False)

    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """The mean of q(z|x), or a reparameterized sample (vaetc's reconstruction for PSNR)."""
        if representation not in ("mean", "sample"):
            raise ValueError(f"representation must be 'mean' or 'sample', got {representation!r}")
        mu, logvar = self.encoder(x)
        return mu if representation == "mean" else gaussian_sample(mu, logvar)

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        """rec over ``num_samples`` codes per image (sum: paper, mean: fixed) + KL (``vitae.py:70-106``)."""
        mu, logvar = self.encoder(x)
        per_sample = torch.stack(
            [0.5 * (x - self.decode(gaussian_sample(mu, logvar))).pow(2).flatten(1).sum(dim=1)
             for _ in range(self.config.num_samples)],
            dim=1,
        )  # (B, S)
        recon = (per_sample.sum(dim=1) if self.config.mode == "paper" else per_sample.mean(dim=1)).mean()
        kl = kl_standard_normal(mu, logvar)
        return {"loss": recon + kl, "recon": recon, "kl": kl, "recon_per_sample": per_sample.mean()}
