"""GWAE's joint critic f(x, z) of the official code, with its spectral normalisation (official or modern).

The official critic runs six stride-2 convolutions to 1x1 at 3x64x64; here the number of stages follows the
image size as the shared encoder's does (``models.networks.down_stages``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import parametrizations, parametrize

from models.networks import HIDDEN, conv_out
from models.precision import fp32

CRITIC_WIDTHS = (8, 16, 32, 64, 128, 256)
#: ``official``: ``torch.nn.utils.spectral_norm``'s semantics (the official critic's); ``modern``:
#: ``torch.nn.utils.parametrizations.spectral_norm``. See ``OfficialSpectralNorm``.
SPECTRAL_NORMS = ("official", "modern")

class OfficialSpectralNorm(nn.Module):
    """Spectral norm as the official critic computes it (``torch.nn.utils.spectral_norm``), as a parametrization.

    Written from the algorithm, not from torch's deprecated hook: u and v start as normalised
    Gaussian draws (u first) with **no** power iteration at construction; each call in training mode
    runs ``n_power_iterations`` of v <- W^T u / |W^T u|, then u <- W v / |W v| (v first); in eval mode
    u and v stay. sigma = u . W v and the weight is W / sigma, with gradients through sigma but not
    through u, v. The modern parametrization differs in two ways that change training: it updates u
    before v and runs 15 iterations at construction (plus one more when registered), so after one
    call from the same initialisation the critic's largest layer sigma differs (1.447 against 1.054,
    issue 11). Being a parametrization, it works under ``parametrize.cached()`` (``critic_passes=fused``).
    """

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, eps: float = 1e-12) -> None:
        super().__init__()
        h, w = weight.flatten(1).shape  # dim 0: Linear and Conv2d, the only layers normed here
        self.n_power_iterations, self.eps = n_power_iterations, eps
        self.register_buffer("_u", F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps))

    def forward(self, weight: Tensor) -> Tensor:
        """W / sigma, computed in fp32 under bf16 autocast too (``models.precision``): u, v and sigma are fp32
        buffers and a bf16 power iteration would both mix dtypes and move sigma."""
        with fp32(weight) as (weight,):
            mat = weight.flatten(1)
            if self.training:
                with torch.no_grad():
                    for _ in range(self.n_power_iterations):
                        self._v.copy_(F.normalize(mat.t() @ self._u, dim=0, eps=self.eps))
                        self._u.copy_(F.normalize(mat @ self._v, dim=0, eps=self.eps))
            u, v = self._u.clone(), self._v.clone()
            return weight / torch.dot(u, mat @ v)


def spectral_norm(module: nn.Module, kind: str = "official") -> nn.Module:
    """Spectral-normalise ``module.weight`` with the ``kind`` of SPECTRAL_NORMS."""
    if kind == "modern":
        return parametrizations.spectral_norm(module)
    if kind != "official":
        raise ValueError(f"spectral_norm must be one of {', '.join(SPECTRAL_NORMS)}, got {kind!r}")
    # unsafe: the shape check would call the parametrization once, i.e. run a power iteration
    parametrize.register_parametrization(module, "weight", OfficialSpectralNorm(module.weight), unsafe=True)
    return module


class JointCritic(nn.Module):
    """The official GWAE critic f(x, z): image branch, latent branch, joint head; all spectral-normed.

    Image branch: stride-2 convs with LeakyReLU(0.2) down to at most 1x1 (six for 64x64, as the
    official code, with its widths 8..256; fewer for smaller images, keeping the widest ones),
    flatten, Linear to 64 (no activation). Latent branch: L -> 256 -> 256 -> 64, LeakyReLU after
    each. Joint: concat / 2 -> 256 -> 256 -> 1. ``spectral_norm`` is one of SPECTRAL_NORMS.
    """

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int, spectral_norm_kind: str = "official") -> None:
        super().__init__()
        c, h, _ = image_shape
        sizes = [h]
        while sizes[-1] > 1 and len(sizes) <= len(CRITIC_WIDTHS):
            sizes.append(conv_out(sizes[-1]))
        n = len(sizes) - 1
        widths = CRITIC_WIDTHS[len(CRITIC_WIDTHS) - n :]
        def sn(layer: nn.Module) -> nn.Module:
            return spectral_norm(layer, spectral_norm_kind)

        layers: list[nn.Module] = []
        in_ch = c
        for w in widths:
            layers += [sn(nn.Conv2d(in_ch, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
            in_ch = w
        feat = in_ch * sizes[-1] ** 2
        self.image = nn.Sequential(*layers, nn.Flatten(), sn(nn.Linear(feat, 64)))
        self.latent = nn.Sequential(
            sn(nn.Linear(z_dim, HIDDEN)), nn.LeakyReLU(0.2),
            sn(nn.Linear(HIDDEN, HIDDEN)), nn.LeakyReLU(0.2),
            sn(nn.Linear(HIDDEN, 64)), nn.LeakyReLU(0.2),
        )
        self.joint = nn.Sequential(
            sn(nn.Linear(128, HIDDEN)), nn.LeakyReLU(0.2),
            sn(nn.Linear(HIDDEN, HIDDEN)), nn.LeakyReLU(0.2),
            sn(nn.Linear(HIDDEN, 1)),
        )

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        h = torch.cat([self.image(x), self.latent(z)], dim=1) / 2
        return self.joint(h).squeeze(1)
