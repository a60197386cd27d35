"""Unsupervised Guided-VAE (Ding et al., CVPR 2020) as vaetc trains it (``vaetc/models/guidedvae.py``).

A VAE whose code is also decoded by a lightweight deformable-PCA branch: z = [z_def, z_cont]; the appearance
[z_cont, 1] B (PCA bases B, plus a bias row) is warped by an affine transform computed from z_def, and its
squared error to x, plus the bases' mutual orthogonality, is added to the VAE loss. The guidance reaches the
encoder through z; generation and reconstruction use the main decoder only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.base import gaussian_sample, half_squared_error
from models.vae import VAE, kl_standard_normal

BASIS_INIT_STD = 0.01  # guidedvae.py:34 (randn * 0.01)
DEFORM_HIDDEN = 256  # guidedvae.py:36-42


@dataclass(frozen=True)
class GuidedVAEConfig:
    z_dim: int = 64  # settings/guidedvae.yaml
    #: settings/guidedvae.yaml. Used as given while it leaves a content dimension (z_def_dim < z_dim); a smaller
    #: z_dim falls back to the shipped even split, z_dim // 2 (see ``split_dims``).
    z_def_dim: int = 32
    lr: float = 1e-4  # settings/guidedvae.yaml; Adam over every parameter, DPCA included (vaetc/models/vae.py:31-34)
    batchnorm: bool = True  # vaetc's ConvGaussianEncoder/ConvDecoder default (vaetc/models/vae.py:28-29)

    def __post_init__(self) -> None:
        if self.z_def_dim < 1:
            raise ValueError(f"z_def_dim must be >= 1, got {self.z_def_dim}")
        if self.z_dim < 2:
            raise ValueError(f"Guided-VAE splits z into z_def and z_cont, so z_dim must be >= 2, got {self.z_dim}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def split_dims(z_dim: int, z_def_dim: int) -> tuple[int, int]:
    """(z_def, z_cont) sizes: ``z_def_dim`` if it leaves z_cont >= 1, else the shipped even split (32 of 64).

    vaetc asserts z_cont = z_dim - z_def_dim > 0 (``guidedvae.py:63-65``); small-z presets (8, 16) cannot keep 32.
    """
    if z_dim < 2:
        raise ValueError(f"z_dim must be >= 2 to hold z_def and z_cont, got {z_dim}")
    d = z_def_dim if z_def_dim < z_dim else z_dim // 2
    return d, z_dim - d


def basis_orthogonality(bases: Tensor) -> Tensor:
    """sum_{i != j} (b_i . b_j)^2 over the rows of ``bases``, bias row included (``guidedvae.py:81-82``)."""
    gram_sq = (bases @ bases.T).pow(2)
    return gram_sq.sum() - gram_sq.diagonal().sum()


class DeformablePCA(nn.Module):
    """x_sub = grid_sample([z_cont, 1] B, affine_grid(theta(z_def))) (``guidedvae.py:16-53``).

    B: (z_cont + 1, C H W) ~ N(0, 0.01^2); theta: MLP z_def -> 256 -> 256 -> 6 with ReLU, default init (not the
    identity transform); bilinear sampling, border padding, align_corners=False; no output nonlinearity.
    """

    def __init__(self, z_def_dim: int, z_cont_dim: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        c, h, w = self.image_shape
        self.bases = nn.Parameter(torch.randn(z_cont_dim + 1, c * h * w) * BASIS_INIT_STD)
        self.deform = nn.Sequential(
            nn.Linear(z_def_dim, DEFORM_HIDDEN), nn.ReLU(),
            nn.Linear(DEFORM_HIDDEN, DEFORM_HIDDEN), nn.ReLU(),
            nn.Linear(DEFORM_HIDDEN, 6),
        )

    def forward(self, z_def: Tensor, z_cont: Tensor) -> Tensor:
        b = z_def.shape[0]
        theta = self.deform(z_def).view(b, 2, 3)
        grid = F.affine_grid(theta, [b, *self.image_shape], align_corners=False)
        appearance = (torch.cat([z_cont, z_cont.new_ones(b, 1)], dim=1) @ self.bases).view(b, *self.image_shape)
        return F.grid_sample(appearance, grid, mode="bilinear", padding_mode="border", align_corners=False)


class GuidedVAE(VAE):
    """Loss = 1/2 SSE + KL + SSE(x, x_sub) + sum_{i != j} (b_i . b_j)^2, all weights 1 (``guidedvae.py:69-85``).

    z_def = z[:, :z_def_dim], z_cont = the rest, both from the reparameterized sample the main decoder gets.

    No ``mode``: vaetc follows the published unsupervised objective, ELBO - L_DPCA with L_DPCA = E_q ||x -
    tau(z_def) o (z_cont B^T)||^2 + sum_{i != j} (b_i^T b_j)^2 (Ding et al. 2020, eq. 1, as summaries of the
    paper give it; its text was not at hand). Its details are
    choices the paper leaves open, not departures: the affine tau via ``affine_grid``/``grid_sample``; the DPCA
    error without 1/2 beside the VAE's 1/2 SSE (the paper weighs ELBO and L_DPCA 1:1 with its own likelihood
    scale); and a bias (mean-image) row in B that the orthogonality sum includes, which costs no
    expressiveness: an affine subspace m + span(b_i) always has an offset orthogonal to the b_i (shift z_cont).
    """

    config_cls = GuidedVAEConfig

    def __init__(self, config: GuidedVAEConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.z_def_dim, self.z_cont_dim = split_dims(config.z_dim, config.z_def_dim)
        self.dpca = DeformablePCA(self.z_def_dim, self.z_cont_dim, self.image_shape)

    def diagnostics(self) -> dict[str, int]:
        """The z split actually used (it differs from the config's where z_dim is small)."""
        return {"z_def_dim": self.z_def_dim, "z_cont_dim": self.z_cont_dim}

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, logvar = self.encoder(x)
        z = gaussian_sample(mu, logvar)
        recon = half_squared_error(x, self.decoder(z))
        kl = kl_standard_normal(mu, logvar)
        x_sub = self.dpca(z[:, : self.z_def_dim], z[:, self.z_def_dim :])
        dpca = (x - x_sub).pow(2).flatten(1).sum(dim=1).mean()
        orthogonality = basis_orthogonality(self.dpca.bases)
        loss = recon + kl + dpca + orthogonality
        return {"loss": loss, "recon": recon, "kl": kl, "dpca": dpca, "orthogonality": orthogonality}
