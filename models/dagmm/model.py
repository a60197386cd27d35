"""DAGMM (Zong et al., ICLR 2018), the OoD baseline of the GWAE paper, in two modes.

A deterministic autoencoder gives a code z and reconstruction features (relative Euclidean
error, cosine similarity); an estimation network on r = [z, rel, cos] assigns soft memberships
in a K-component Gaussian mixture estimated from the batch; the OoD score is the sample energy
under running (EMA) mixture statistics.

``mode="paper"`` (default) is the DAGMM the GWAE paper ran, vaetc's ``models/dagmm.py``:
estimation net Linear(L + 2, 256) -> SiLU -> Linear(256, K) -> softmax; the mixture, its running
statistics and the energy over **z only**; component masses ``sum gamma + 1e-5``; the full
per-image squared error; prior term ``sum 1 / (|diag Sigma| + 1e-5)``; energy
``-logsumexp(log phi - 0.5 (relu(maha) + logdet(Sigma log 2 pi)))`` (the normaliser quirk:
``logdet(Sigma log 2 pi)`` = logdet Sigma + L log log 2 pi, not L log 2 pi); encoder code head
without BatchNorm. ``mode="zong"`` is Zong et al.'s model: Tanh + Dropout(0.5) estimation net,
mixture over r, half squared error, the standard normaliser, prior term ``sum 1 / diag Sigma``.

Energy routes. ``paper`` mode computes the energy as vaetc does (``vaetc_energy``). vaetc's ``models/dagmm.py``
inverted the component covariances with ``torch.linalg.inv`` up to commit 0d8305b, briefly used a Cholesky
factor in its place (cac2282), and from 8b92d73 ("fix dagmm for nan (2)", 2022-05-07) uses
``torch.linalg.pinv``, which branch ``develop_may`` (f1076be, the version ``ganmodokix/gwae`` pins) keeps; its
log-determinant is ``torch.logdet(Sigma * log 2 pi)``, all in float32 (vaetc's statistics are float32
parameters). Against that code on identical weights every term, gradient and running statistic agrees
(~1e-7 in float32, ~1e-13 in float64). pinv's default tolerance counts singular values below float32
eps x D times the largest as zero, so an ill-conditioned covariance loses its small directions, and the
energy with them (a measured case dropped 110 of 160 singular values: energy -67.6 where the exact inverse
gives 5.7e5); paper mode keeps that truncation. ``zong`` mode, and ``paper`` mode with
``energy_route="cholesky"``, use the project's safe route (``gmm_energy``): float64, Cholesky factors with a
jitter retry, no explicit inverse. Either way the model counts what vaetc's pinv does (``pinv_dropped``):
the training batches where it dropped a direction, and the directions it drops of the running statistics
used for scoring (``diagnostics``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import BenchmarkModel, LossTerms, Representation
from models.networks import ConvDecoder, ConvEncoder

FEATURE_EPS = 1e-5  # vaetc's EPS in the reconstruction-feature denominators
MIN_MASS = 1e-6  # zong: floor on a component's total responsibility (in samples)
VAETC_EPS = 1e-5  # paper: vaetc adds it to component masses and to |diag Sigma| in the prior term
CHOLESKY_RETRIES = 3  # extra attempts, each with 10x more jitter
DAGMM_MODES = ("paper", "zong")
#: ``vaetc``: vaetc's float32 pinv route (paper mode's); ``cholesky``: the project's safe float64 route (zong's).
ENERGY_ROUTES = ("vaetc", "cholesky")


@dataclass(frozen=True)
class DAGMMConfig:
    """Defaults from vaetc's DAGMM smoke test (batch 256, Adam betas (0.9, 0.999), eps 1e-7)."""

    #: ``paper``: vaetc's DAGMM, which the GWAE paper ran (O); ``zong``: Zong et al. 2018 (P).
    mode: str = "paper"
    z_dim: int = 16  # vaetc smoke test: z_dim 16
    num_components: int = 10  # vaetc smoke test: num_components 10
    lambda_energy: float = 0.1  # vaetc smoke test: coef_energy 0.1
    lambda_cov: float = 1e-4  # vaetc smoke test: coef_prior 1e-4
    lr: float = 1e-4  # vaetc smoke test: lr 1e-4
    cov_jitter: float = 1e-6  # vaetc: sigma_hat + 1e-6 * I
    stats_momentum: float = 0.1  # vaetc: self.momentum = 0.1 for the running statistics
    batchnorm: bool = True  # vaetc ConvEncoder/ConvDecoder use batch norm
    #: ``None``: the mode's (paper: ``vaetc``, zong: ``cholesky``); ``cholesky`` in paper mode: the safe route.
    energy_route: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in DAGMM_MODES:
            raise ValueError(f"mode must be one of {', '.join(DAGMM_MODES)}, got {self.mode!r}")
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {self.z_dim}")
        if self.num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {self.num_components}")
        if self.lambda_energy < 0 or self.lambda_cov < 0:
            raise ValueError(
                f"lambda_energy and lambda_cov must be >= 0, got {self.lambda_energy}, {self.lambda_cov}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not self.cov_jitter > 0:
            raise ValueError(f"cov_jitter must be > 0 to keep covariances invertible, got {self.cov_jitter}")
        if not 0 < self.stats_momentum <= 1:
            raise ValueError(f"stats_momentum must be in (0, 1], got {self.stats_momentum}")
        if self.energy_route not in (None, *ENERGY_ROUTES):
            raise ValueError(f"energy_route must be one of {', '.join(ENERGY_ROUTES)}, got {self.energy_route!r}")
        if self.mode == "zong" and self.energy_route == "vaetc":
            raise ValueError("energy_route 'vaetc' is vaetc's formula: paper mode only")

    @property
    def route(self) -> str:
        return self.energy_route or ("vaetc" if self.mode == "paper" else "cholesky")


@dataclass(frozen=True)
class ModeRules:
    """What differs between the two modes; everything else is shared code."""

    mixture_on_features: bool  # the mixture models r = [z, rel, cos] (zong) or z alone (paper)
    recon_scale: float  # times the per-image squared error: 1 (paper, vaetc) or 1/2 (zong)
    mass_eps: float | None  # masses + eps (paper) or floored at MIN_MASS (None, zong)
    normaliser: str  # "vaetc" or "standard", see gmm_energy
    diag_eps: float  # prior term sum 1 / (|diag| + eps)
    estimation_act: type[nn.Module]
    estimation_dropout: float
    head_batchnorm: bool  # BatchNorm on the encoder's code head


MODE_RULES = {
    "paper": ModeRules(False, 1.0, VAETC_EPS, "vaetc", VAETC_EPS, nn.SiLU, 0.0, False),
    "zong": ModeRules(True, 0.5, None, "standard", 0.0, nn.Tanh, 0.5, True),
}


def gmm_statistics(
    r: Tensor, gamma: Tensor, jitter: float, mass_eps: float | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Mixture parameters from memberships: phi (K,), mu (K, D), cov (K, D, D), in float64.

    phi_k = mean_i gamma_ik, mu_k and cov_k the gamma-weighted mean and covariance of r plus
    ``jitter`` * I. The weighted sums are divided by the component mass ``sum_i gamma_ik``
    plus ``mass_eps`` (vaetc) or, without it, floored at MIN_MASS so a dead component gives
    finite gradients. Returned in float64 (not cast back) because they feed a Cholesky
    factorisation, where float32 rounding can cost positive definiteness.
    """
    r64, g64 = r.double(), gamma.double()
    mass = g64.sum(dim=0)  # (K,)
    phi = mass / r.shape[0]
    denom = mass + mass_eps if mass_eps is not None else mass.clamp_min(MIN_MASS)
    mu = (g64.T @ r64) / denom[:, None]
    diff = r64[:, None, :] - mu[None]  # (B, K, D)
    cov = torch.einsum("bk,bki,bkj->kij", g64, diff, diff) / denom[:, None, None]
    eye = torch.eye(r.shape[1], dtype=torch.float64, device=r.device)
    return phi, mu, cov + jitter * eye


def _cholesky(cov: Tensor, jitter: float) -> Tensor:
    """Batched Cholesky; components that fail get jitter * 10, 100, ... added, then ValueError.

    Non-finite covariances are not retried: their factor is set to NaN, which flows into the
    energy so that the trainer's non-finite-loss check reports it.
    """
    finite = torch.isfinite(cov).flatten(1).all(dim=1)
    chol, info = torch.linalg.cholesky_ex(cov)
    chol = torch.where(finite[:, None, None], chol, torch.full_like(chol, math.nan))
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    for attempt in range(1, CHOLESKY_RETRIES + 1):
        failed = (info > 0) & finite
        if not bool(failed.any()):
            return chol
        retry, retry_info = torch.linalg.cholesky_ex(cov[failed] + jitter * 10**attempt * eye)
        chol, info = chol.clone(), info.clone()
        chol[failed], info[failed] = retry, retry_info
    failed = ((info > 0) & finite).nonzero().flatten().tolist()
    if failed:
        raise ValueError(
            f"GMM covariance of component(s) {failed} is not positive definite even with "
            f"jitter {jitter * 10**CHOLESKY_RETRIES:g} added"
        )
    return chol


def gmm_energy(
    r: Tensor, phi: Tensor, mu: Tensor, cov: Tensor, jitter: float = 1e-6, normaliser: str = "standard"
) -> Tensor:
    """Sample energy E(r) = -log sum_k phi_k exp(-0.5 (maha_k(r) + n_k)), per row, in r's dtype.

    ``normaliser="standard"``: n_k = D log 2 pi + logdet cov_k, the Gaussian log-density.
    ``normaliser="vaetc"``: n_k = logdet(cov_k log 2 pi) = logdet cov_k + D log log 2 pi, vaetc's code
    (with its relu on the Mahalanobis term, a no-op here since the triangular solve gives a sum of
    squares). Computed in float64: logdet = 2 sum log diag L and the Mahalanobis term by a triangular
    solve with the Cholesky factor L, never an explicit inverse.
    """
    d, k = r.shape[-1], phi.shape[0]
    if r.ndim != 2 or phi.shape != (k,) or mu.shape != (k, d) or cov.shape != (k, d, d):
        raise ValueError(
            f"GMM shapes disagree: r {tuple(r.shape)}, phi {tuple(phi.shape)}, mu {tuple(mu.shape)}, "
            f"cov {tuple(cov.shape)}; expected (B, D), (K,), (K, D), (K, D, D)"
        )
    if normaliser not in ("standard", "vaetc"):
        raise ValueError(f"normaliser must be 'standard' or 'vaetc', got {normaliser!r}")
    r64, mu64, cov64 = r.double(), mu.double(), cov.double()
    chol = _cholesky(cov64, jitter)  # (K, D, D)
    diff = (r64[None, :, :] - mu64[:, None, :]).transpose(1, 2)  # (K, D, B)
    white = torch.linalg.solve_triangular(chol, diff, upper=False)
    maha = white.pow(2).sum(dim=1)  # (K, B)
    logdet = 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(dim=-1)  # (K,)
    const = d * math.log(2 * math.pi) if normaliser == "standard" else d * math.log(math.log(2 * math.pi))
    log_norm = -0.5 * (const + logdet[:, None] + maha)
    log_phi = phi.double().clamp_min(torch.finfo(torch.float64).tiny).log()
    return -torch.logsumexp(log_phi[:, None] + log_norm, dim=0).to(r.dtype)


def vaetc_terms(z: Tensor, mu: Tensor, cov: Tensor) -> tuple[Tensor, Tensor]:
    """vaetc's float32 Mahalanobis terms ``relu(d^T pinv(Sigma_k) d)`` (B, K), d = z - mu_k, and log-determinants
    ``logdet(Sigma_k log 2 pi)`` (K,). ``torch.linalg.pinv`` at its default tolerance (``pinv_dropped``): the
    directions of Sigma_k below it do not count. Differentiable (pinv and logdet have gradients)."""
    z32, mu32, cov32 = z.float(), mu.float(), cov.float()
    inv = torch.linalg.pinv(cov32)  # (K, D, D)
    diff = z32[:, None, :] - mu32[None]  # (B, K, D)
    maha = torch.relu(torch.einsum("bki,kij,bkj->bk", diff, inv, diff))
    return maha, torch.logdet(cov32 * math.log(2 * math.pi))


def vaetc_energy(z: Tensor, phi: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """vaetc's energy, in float32: ``-logsumexp_k(log phi_k - 0.5 (maha_k + logdet_k))`` (``vaetc_terms``)."""
    maha, logdet = vaetc_terms(z, mu, cov)
    return -torch.logsumexp(phi.float().log()[None] - 0.5 * (maha + logdet[None]), dim=1).to(z.dtype)


def pinv_dropped(cov: Tensor) -> tuple[int, int]:
    """(singular values that float32 ``torch.linalg.pinv`` treats as zero, all of them) over the components: its
    default tolerance drops those below ``eps(float32) * D`` times the largest, as vaetc's route does."""
    values = torch.linalg.svdvals(cov.detach().float())  # (K, D), descending
    rtol = torch.finfo(torch.float32).eps * cov.shape[-1]
    return int((values < rtol * values[..., :1]).sum()), values.numel()


def cov_penalty(cov: Tensor, eps: float = 0.0) -> Tensor:
    """sum_k sum_j 1 / (|cov_k[j, j]| + eps): keeps the mixture away from singular covariances."""
    return (cov.diagonal(dim1=-2, dim2=-1).abs() + eps).reciprocal().sum()


def reconstruction_features(x: Tensor, x_hat: Tensor) -> Tensor:
    """(B, 2): relative Euclidean distance ||x - x_hat|| / ||x|| and cosine similarity."""
    xf, hf = x.flatten(1), x_hat.flatten(1)
    x_norm, h_norm = xf.norm(dim=1), hf.norm(dim=1)
    rel = (xf - hf).norm(dim=1) / (x_norm + FEATURE_EPS)
    cos = (xf * hf).sum(dim=1) / (x_norm * h_norm + FEATURE_EPS)
    return torch.stack([rel, cos], dim=1)


def _check_representation(representation: str) -> None:
    if representation not in ("mean", "sample"):
        raise ValueError(f"representation must be 'mean' or 'sample', got {representation!r}")


class DAGMM(BenchmarkModel):
    """Deep Autoencoding Gaussian Mixture Model; OoD score = energy under running statistics."""

    config_cls = DAGMMConfig
    ood_scorer = "dagmm_energy"
    prior_label = "gmm"
    prior_sampler = "gmm-marginal"

    def __init__(self, config: DAGMMConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        c, rules = config, MODE_RULES[config.mode]
        self.rules = rules
        self.encoder = ConvEncoder(self.image_shape, c.z_dim, gaussian=False, batchnorm=c.batchnorm,
                                   head_batchnorm=c.batchnorm and rules.head_batchnorm)
        self.decoder = ConvDecoder(self.image_shape, c.z_dim, batchnorm=c.batchnorm)
        k = c.num_components
        dropout = [nn.Dropout(rules.estimation_dropout)] if rules.estimation_dropout else []
        self.estimation = nn.Sequential(
            nn.Linear(c.z_dim + 2, 256), rules.estimation_act(), *dropout, nn.Linear(256, k), nn.Softmax(dim=1)
        )
        d = self.mixture_dim
        # float64: the statistics feed a Cholesky factorisation (see gmm_statistics)
        f64 = torch.float64
        self.register_buffer("running_phi", torch.full((k,), 1.0 / k, dtype=f64))
        self.register_buffer("running_mu", torch.zeros(k, d, dtype=f64))
        self.register_buffer("running_cov", torch.eye(d, dtype=f64).expand(k, d, d).clone())
        self.register_buffer("stats_updates", torch.zeros((), dtype=torch.long))
        #: training batches where vaetc's float32 pinv dropped a direction of some component's covariance
        self.register_buffer("pinv_truncated_batches", torch.zeros((), dtype=torch.long))

    @property
    def mixture_dim(self) -> int:
        return self.config.z_dim + (2 if self.rules.mixture_on_features else 0)

    @classmethod
    def mode_of(cls, config: DAGMMConfig) -> str:
        return config.mode

    def diagnostics(self) -> dict[str, int | str]:
        """What vaetc's pinv does (whichever route runs): the training batches where it dropped a direction, and
        the singular values it drops of the running covariances used for scoring."""
        dropped, total = pinv_dropped(self.running_cov)
        return {
            "energy_route": self.config.route,
            "training_batches": int(self.stats_updates),
            "pinv_truncated_batches": int(self.pinv_truncated_batches),
            "pinv_dropped_at_scoring": dropped,
            "pinv_singular_values": total,
        }

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=(0.9, 0.999), eps=1e-7)}

    # -- representation ---------------------------------------------------------------------
    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """z; the encoder is deterministic, so "mean" and "sample" give the same code."""
        _check_representation(representation)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def sample_prior(self, n: int) -> Tensor:
        """Codes from DAGMM's own density model: the z-marginal of the running mixture.

        DAGMM has no prior (its encoder is deterministic). In ``paper`` mode the mixture is over z;
        in ``zong`` mode over r = [z, rel, cos], whose marginal over the first ``z_dim`` coordinates
        is the mixture of the components' (mu_k[:L], Sigma_k[:L, :L]). Drawn in float64 (component
        by the running weights, then a Cholesky factor of the jittered block), returned in the
        decoder's dtype.
        """
        L = self.config.z_dim
        phi = self.running_phi.clamp_min(0.0)
        comp = torch.multinomial(phi / phi.sum(), n, replacement=True)
        cov = self.running_cov[:, :L, :L]
        chol = _cholesky(cov + self.config.cov_jitter * torch.eye(L, dtype=cov.dtype, device=cov.device),
                         self.config.cov_jitter)
        eps = torch.randn(n, L, dtype=torch.float64, device=cov.device)
        z = self.running_mu[comp, :L] + torch.einsum("nij,nj->ni", chol[comp], eps)
        return z.to(next(self.decoder.parameters()).dtype)

    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction, estimation input [z, rel, cos] and what the mixture models (r or z)."""
        z = self.encoder(x)
        x_hat = self.decoder(z)
        features = torch.cat([z, reconstruction_features(x, x_hat)], dim=1)
        return x_hat, features, features if self.rules.mixture_on_features else z

    def _energy(self, m: Tensor, phi: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
        if self.config.route == "vaetc":
            return vaetc_energy(m, phi, mu, cov)
        return gmm_energy(m, phi, mu, cov, self.config.cov_jitter, self.rules.normaliser)

    def _terms(self, x: Tensor, x_hat: Tensor, energy: Tensor, cov: Tensor) -> dict[str, Tensor]:
        c = self.config
        recon = self.rules.recon_scale * (x - x_hat).pow(2).flatten(1).sum(dim=1).mean()
        energy_mean = energy.mean()
        penalty = cov_penalty(cov, self.rules.diag_eps).to(recon.dtype)
        loss = recon + c.lambda_energy * energy_mean + c.lambda_cov * penalty
        return {"loss": loss, "recon": recon, "energy": energy_mean, "cov_penalty": penalty}

    # -- training ---------------------------------------------------------------------------
    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        self.train()
        x_hat, features, m = self._forward(x)
        phi, mu, cov = gmm_statistics(m, self.estimation(features), self.config.cov_jitter, self.rules.mass_eps)
        energy = self._energy(m, phi, mu, cov)
        terms = self._terms(x, x_hat, energy, cov)
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        if pinv_dropped(cov)[0]:
            self.pinv_truncated_batches += 1
        self._update_running(phi.detach(), mu.detach(), cov.detach())
        return {name: float(value.detach()) for name, value in terms.items()}

    @torch.no_grad()
    def _update_running(self, phi: Tensor, mu: Tensor, cov: Tensor) -> None:
        """EMA of the batch statistics; the first update copies them (as vaetc)."""
        if not all(bool(torch.isfinite(t).all()) for t in (phi, mu, cov)):
            return  # keep the last good statistics; the trainer reports the non-finite loss
        first = int(self.stats_updates) == 0
        m = self.config.stats_momentum
        for buf, new in ((self.running_phi, phi), (self.running_mu, mu), (self.running_cov, cov)):
            if first:
                buf.copy_(new)
            else:
                buf.mul_(1.0 - m).add_(new.to(buf.dtype), alpha=m)
        self.stats_updates += 1

    @torch.no_grad()
    def eval_batch(self, x: Tensor) -> LossTerms:
        self.eval()
        x_hat, _, m = self._forward(x)
        energy = self._energy(m, self.running_phi, self.running_mu, self.running_cov)
        terms = self._terms(x, x_hat, energy, self.running_cov)
        return {name: float(value) for name, value in terms.items()}

    # -- out-of-distribution score ----------------------------------------------------------
    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Energy under the running mixture statistics (higher = more OoD): of z (paper), of r (zong)."""
        _check_representation(representation)  # the code is deterministic either way
        _, _, m = self._forward(x)
        return self._energy(m, self.running_phi, self.running_mu, self.running_cov)
