"""Convolutional encoder and decoder of the official GWAE/vaetc code, shared by every model, for any image size.

The official networks assume 3x64x64 (four stride-2 convs to 4x4 in the encoder, six to 1x1 in
the critic). Here the number of stride-2 stages is derived from the image size, so 28x28x1 MNIST
runs natively and 64x64x3 reproduces the official layer list exactly (see ``down_stages``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

ENCODER_WIDTHS = (32, 64, 128, 256)
HIDDEN = 256


def down_stages(size: int, max_stages: int = 4, min_size: int = 4) -> tuple[int, int]:
    """Stride-2 stages that halve ``size`` exactly while it stays >= ``min_size``.

    64 -> (4 stages, 4x4), as the official encoder; 28 -> (2 stages, 7x7).
    """
    stages = 0
    while stages < max_stages and size % 2 == 0 and size // 2 >= min_size:
        size //= 2
        stages += 1
    return stages, size


def conv_out(size: int) -> int:
    """Spatial size after a 4x4, stride-2, padding-1 convolution."""
    return (size + 2 - 4) // 2 + 1


class SigmoidInverse(nn.Module):
    """logit(clamp(x, 1e-4, 1 - 1e-4)): the official encoder's input transform."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.clamp(1e-4, 1 - 1e-4)
        return torch.log(x) - torch.log1p(-x)


def _conv_trunk(in_ch: int, widths: tuple[int, ...], batchnorm: bool, padding_mode: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers.append(nn.Conv2d(in_ch, w, 4, 2, 1, padding_mode=padding_mode))
        layers.append(nn.SiLU())
        if batchnorm:
            layers.append(nn.BatchNorm2d(w))
        in_ch = w
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """vaetc ``ConvGaussianEncoder``: logit input, stride-2 convs with SiLU, Linear 256, heads.

    ``gaussian=True`` returns (mu, logvar); ``False`` returns a deterministic code (DAGMM).
    ``batchnorm`` is True for the vaetc baselines and False for GWAE, as in the official code;
    ``head_batchnorm`` (default: ``batchnorm``) is False for vaetc's deterministic ``ConvEncoder``,
    whose code head is a plain Linear.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        z_dim: int,
        gaussian: bool = True,
        batchnorm: bool = False,
        padding_mode: str = "replicate",
        head_batchnorm: bool | None = None,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        stages, side = down_stages(min(h, w))
        if h != w:
            raise ValueError(f"square images only, got {h}x{w}")
        widths = ENCODER_WIDTHS[:stages] if stages else (ENCODER_WIDTHS[0],)
        if not stages:  # tiny images: one stride-1 conv keeps the code path uniform
            side = h
        self.gaussian = gaussian
        self.pre = SigmoidInverse()
        self.trunk = _conv_trunk(c, widths, batchnorm, padding_mode) if stages else nn.Sequential(
            nn.Conv2d(c, widths[0], 3, 1, 1, padding_mode=padding_mode), nn.SiLU()
        )
        feat = widths[-1] * side * side
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(feat, HIDDEN), nn.SiLU())
        self.mu = nn.Linear(HIDDEN, z_dim)
        self.logvar = nn.Linear(HIDDEN, z_dim) if gaussian else None
        head_batchnorm = batchnorm if head_batchnorm is None else head_batchnorm
        self.mu_bn = nn.BatchNorm1d(z_dim) if head_batchnorm else nn.Identity()
        self.logvar_bn = nn.BatchNorm1d(z_dim) if (batchnorm and gaussian) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        h = self.fc(self.trunk(self.pre(x)))
        mu = self.mu_bn(self.mu(h))
        if self.logvar is None:
            return mu
        return mu, self.logvar_bn(self.logvar(h))


class ConvDecoder(nn.Module):
    """vaetc ``ConvDecoder``: Linear 256 -> Linear to a (C, s, s) map -> stride-2 ConvTs -> sigmoid."""

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int, batchnorm: bool = False) -> None:
        super().__init__()
        c, h, _ = image_shape
        stages, side = down_stages(h)
        widths = tuple(reversed(ENCODER_WIDTHS[:stages])) if stages else (ENCODER_WIDTHS[0],)
        self.base = (widths[0], side if stages else h)
        self.fc = nn.Sequential(
            nn.Linear(z_dim, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, widths[0] * self.base[1] ** 2), nn.SiLU()
        )
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=False):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1), nn.SiLU()]
            if batchnorm:
                layers.append(nn.BatchNorm2d(w_out))
        if stages:
            layers.append(nn.ConvTranspose2d(widths[-1], c, 4, 2, 1))
        else:
            layers.append(nn.Conv2d(widths[-1], c, 3, 1, 1))
        layers.append(nn.Sigmoid())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(-1, self.base[0], self.base[1], self.base[1])
        return self.deconv(h)
