"""Loss terms of the GWAE objective (docs/method.md, "Objective"), as pure tensor functions.

Each is tested against an independent numpy computation in ``tests/test_gwae_losses.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from models.precision import fp32


def pairwise_distances(a: Tensor) -> Tensor:
    """Euclidean distances between the rows of ``a`` (B, ...), B x B, exactly zero between equal rows.

    The official code builds the B x B x D difference tensor (200 MB at B = 64, D = 12288).
    This uses the Gram matrix instead (B x B memory) after centring the rows, which keeps the
    cancellation error of ``|a|^2 + |b|^2 - 2 a.b`` small, and forces the diagonal to zero:
    ``torch.cdist``'s matmul path leaves about 0.04 there at D = 12288, which changes the loss.
    Off the diagonal an exactly duplicated pair of rows would keep such a residue (0.0039 for two
    equal latent codes); pairs whose squared distance is within ``DUPLICATE_SCREEN`` of their squared
    norms are compared element by element and set to zero when equal, as the official formula gives.
    Every other value is the Gram route's. The square root is taken only where the squared distance
    is positive, so the gradient at zero is zero (as PyTorch's norm gives for the official
    formulation) and never NaN.
    """
    flat = a.flatten(1)
    centred = flat - flat.mean(dim=0, keepdim=True).detach()
    sq = centred.pow(2).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * centred @ centred.T
    off = ~torch.eye(len(flat), dtype=torch.bool, device=flat.device)
    near = off & (d2 <= DUPLICATE_SCREEN * (sq[:, None] + sq[None, :]))
    i, j = near.nonzero(as_tuple=True)
    off[i, j] = ~(flat[i] == flat[j]).all(dim=1)
    positive = off & (d2 > 0)
    return torch.where(positive, d2.where(positive, torch.ones_like(d2)).sqrt(), torch.zeros_like(d2))


#: Pairs with d2 <= this x (|a_i|^2 + |a_j|^2) are checked for exact equality: far above the Gram route's
#: cancellation residue (about D x 2^-24 relative at worst), and rare between distinct points.
DUPLICATE_SCREEN = 1e-2


def batch_latent_scale(z: Tensor, floor: float = 1e-8) -> Tensor:
    """s = mean over dimensions of the unbiased per-dimension std across the batch, >= floor."""
    return z.std(dim=0, unbiased=True).mean().clamp_min(floor)


def gw_loss(z: Tensor, x: Tensor, log_distance_coef: Tensor) -> Tensor:
    """L_GW = (1/B^2) sum_ij | (c/s) ||z_i - z_j|| - ||x_i - x_j|| |, c = exp(log_distance_coef).

    Distortion exponent p = 1, the B zero diagonal pairs counted in the mean, pixel distances
    neither squared nor normalised by the dimension: all as in the official code.
    """
    with fp32(z, x, log_distance_coef) as (z, x, log_distance_coef):  # bf16 distances would move the loss
        scale = torch.exp(log_distance_coef) / batch_latent_scale(z)
        return (scale * pairwise_distances(z) - pairwise_distances(x)).abs().mean()


def gw_loss_official(z: Tensor, x: Tensor, log_distance_coef: Tensor) -> Tensor:
    """The official formulation, B x B x D difference tensors and all; kept for the speed benchmark."""
    scale = torch.exp(log_distance_coef) / batch_latent_scale(z)
    dz = (z[:, None, :] - z[None, :, :]).norm(dim=2)
    xf = x.flatten(1)
    dx = (xf[:, None, :] - xf[None, :, :]).norm(dim=2)
    return (scale * dz - dx).abs().mean()


def entropy_regularizer(logvar: Tensor) -> Tensor:
    """L_H = -(1/B) sum_b sum_k logvar_bk: minimising it raises the encoder variance."""
    return -logvar.sum(dim=1).mean()


def interpolate_pairs(x_real: Tensor, z_real: Tensor, x_fake: Tensor, z_fake: Tensor) -> tuple[Tensor, Tensor]:
    """Points between real and fake pairs for the gradient penalty, with one t ~ U(0, 1) per sample
    for both parts of the pair (official lines 316-336); both require grad."""
    t = torch.rand(len(x_real), device=x_real.device, dtype=x_real.dtype)
    tx = t.view(-1, *([1] * (x_real.dim() - 1)))
    x_bar = (tx * x_real + (1 - tx) * x_fake).requires_grad_(True)
    z_bar = (t[:, None] * z_real + (1 - t[:, None]) * z_fake).requires_grad_(True)
    return x_bar, z_bar


def penalty_of(f_bar: Tensor, x_bar: Tensor, z_bar: Tensor) -> Tensor:
    """mean_b (||[grad_x f, grad_z f]||_2 - 1)^2 of critic values ``f_bar`` at the interpolates."""
    gx, gz = torch.autograd.grad(f_bar.sum(), (x_bar, z_bar), create_graph=True)
    with fp32(gx, gz) as (gx, gz):
        norm = torch.cat([gx.flatten(1), gz.flatten(1)], dim=1).norm(dim=1)
        return (norm - 1).pow(2).mean()


def gradient_penalty(
    critic: Callable[[Tensor, Tensor], Tensor],
    x_real: Tensor,
    z_real: Tensor,
    x_fake: Tensor,
    z_fake: Tensor,
) -> Tensor:
    """One-centred WGAN-GP penalty on the joint critic: mean_b (||[grad_x f, grad_z f]||_2 - 1)^2.

    The norm is taken over the concatenated flattened image and latent gradients at points
    interpolated between the real and fake pairs (``interpolate_pairs``).
    """
    x_bar, z_bar = interpolate_pairs(x_real, z_real, x_fake, z_fake)
    return penalty_of(critic(x_bar, z_bar), x_bar, z_bar)
