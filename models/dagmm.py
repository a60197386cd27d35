"""DAGMM (Zong et al., ICLR 2018), the OoD baseline of the GWAE paper, after vaetc's version.

A deterministic autoencoder (the compression network) gives a code z_c and reconstruction
features; an estimation network assigns the representation r = [z_c, rel_dist, cos_sim] soft
memberships in a K-component Gaussian mixture whose parameters are estimated from the batch.
The OoD score is the sample energy -log p(r) under running mixture statistics.

Reference implementations are known for NaNs from ``inv``/``logdet`` of near-singular
covariances, so the mixture math here runs in float64 through a Cholesky factorisation with
a jitter retry (see ``gmm_energy``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import BenchmarkModel, LossTerms, Representation, half_squared_error
from models.networks import ConvDecoder, ConvEncoder

FEATURE_EPS = 1e-5  # vaetc's EPS in the reconstruction-feature denominators
MIN_MASS = 1e-6  # floor on a component's total responsibility (in samples); vaetc adds 1e-5 instead
CHOLESKY_RETRIES = 3  # extra attempts, each with 10x more jitter


@dataclass(frozen=True)
class DAGMMConfig:
    """Defaults from vaetc's DAGMM smoke test (batch 256, Adam betas (0.9, 0.999), eps 1e-7)."""

    z_dim: int = 16  # vaetc smoke test: z_dim 16
    num_components: int = 10  # vaetc smoke test: num_components 10
    lambda_energy: float = 0.1  # vaetc smoke test: coef_energy 0.1
    lambda_cov: float = 1e-4  # vaetc smoke test: coef_prior 1e-4
    lr: float = 1e-4  # vaetc smoke test: lr 1e-4
    cov_jitter: float = 1e-6  # vaetc: sigma_hat + 1e-6 * I
    stats_momentum: float = 0.1  # vaetc: self.momentum = 0.1 for the running statistics
    batchnorm: bool = True  # vaetc ConvEncoder/ConvDecoder use batch norm

    def __post_init__(self) -> None:
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


def gmm_statistics(r: Tensor, gamma: Tensor, jitter: float) -> tuple[Tensor, Tensor, Tensor]:
    """Mixture parameters from memberships: phi (K,), mu (K, D), cov (K, D, D), in float64.

    phi_k = mean_i gamma_ik, mu_k and cov_k the gamma-weighted mean and covariance of r plus
    ``jitter`` * I. Returned in float64 (not cast back) because they feed a Cholesky
    factorisation, where float32 rounding can cost positive definiteness. A component's
    total responsibility is floored at MIN_MASS so a dead component gives finite gradients.
    """
    r64, g64 = r.double(), gamma.double()
    mass = g64.sum(dim=0)  # (K,)
    phi = mass / r.shape[0]
    mu = (g64.T @ r64) / mass.clamp_min(MIN_MASS)[:, None]
    diff = r64[:, None, :] - mu[None]  # (B, K, D)
    cov = torch.einsum("bk,bki,bkj->kij", g64, diff, diff) / mass.clamp_min(MIN_MASS)[:, None, None]
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


def gmm_energy(r: Tensor, phi: Tensor, mu: Tensor, cov: Tensor, jitter: float = 1e-6) -> Tensor:
    """Sample energy E(r) = -log sum_k phi_k N(r; mu_k, cov_k), per row, in r's dtype.

    The normaliser is the standard 0.5 * (D log 2 pi + logdet cov_k). vaetc uses
    ``logdet(cov * log 2 pi)`` = logdet cov + D log log 2 pi instead, which is non-standard
    (it shifts every energy by a constant, so OoD rankings agree but energies do not).
    Computed in float64: logdet = 2 sum log diag L and the Mahalanobis term by a triangular
    solve with the Cholesky factor L, never an explicit inverse.
    """
    d, k = r.shape[-1], phi.shape[0]
    if r.ndim != 2 or phi.shape != (k,) or mu.shape != (k, d) or cov.shape != (k, d, d):
        raise ValueError(
            f"GMM shapes disagree: r {tuple(r.shape)}, phi {tuple(phi.shape)}, mu {tuple(mu.shape)}, "
            f"cov {tuple(cov.shape)}; expected (B, D), (K,), (K, D), (K, D, D)"
        )
    r64, mu64, cov64 = r.double(), mu.double(), cov.double()
    chol = _cholesky(cov64, jitter)  # (K, D, D)
    diff = (r64[None, :, :] - mu64[:, None, :]).transpose(1, 2)  # (K, D, B)
    white = torch.linalg.solve_triangular(chol, diff, upper=False)
    maha = white.pow(2).sum(dim=1)  # (K, B)
    logdet = 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(dim=-1)  # (K,)
    log_norm = -0.5 * (d * math.log(2 * math.pi) + logdet[:, None] + maha)
    log_phi = phi.double().clamp_min(torch.finfo(torch.float64).tiny).log()
    return -torch.logsumexp(log_phi[:, None] + log_norm, dim=0).to(r.dtype)


def cov_penalty(cov: Tensor) -> Tensor:
    """sum_k sum_j 1 / cov_k[j, j]: keeps the mixture away from singular covariances."""
    return cov.diagonal(dim1=-2, dim2=-1).reciprocal().sum()


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
        c = config
        self.encoder = ConvEncoder(self.image_shape, c.z_dim, gaussian=False, batchnorm=c.batchnorm)
        self.decoder = ConvDecoder(self.image_shape, c.z_dim, batchnorm=c.batchnorm)
        d, k = c.z_dim + 2, c.num_components
        self.estimation = nn.Sequential(
            nn.Linear(d, 256), nn.Tanh(), nn.Dropout(0.5), nn.Linear(256, k), nn.Softmax(dim=1)
        )
        # float64: the statistics feed a Cholesky factorisation (see gmm_statistics)
        f64 = torch.float64
        self.register_buffer("running_phi", torch.full((k,), 1.0 / k, dtype=f64))
        self.register_buffer("running_mu", torch.zeros(k, d, dtype=f64))
        self.register_buffer("running_cov", torch.eye(d, dtype=f64).expand(k, d, d).clone())
        self.register_buffer("stats_updates", torch.zeros((), dtype=torch.long))

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=(0.9, 0.999), eps=1e-7)}

    # -- representation ---------------------------------------------------------------------
    def encode(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """z_c; the encoder is deterministic, so "mean" and "sample" give the same code."""
        _check_representation(representation)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def sample_prior(self, n: int) -> Tensor:
        """Codes from DAGMM's own density model: the z_c-marginal of the running mixture.

        DAGMM has no prior (its encoder is deterministic); its mixture models r = [z_c, rel, cos],
        and the marginal over the first ``z_dim`` coordinates is the mixture of the components'
        (mu_k[:L], Sigma_k[:L, :L]). Drawn in float64 (component by the running weights, then a
        Cholesky factor of the jittered block), returned in the decoder's dtype.
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

    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Reconstruction and representation r = [z_c, rel_dist, cos_sim]."""
        z = self.encoder(x)
        x_hat = self.decoder(z)
        return x_hat, torch.cat([z, reconstruction_features(x, x_hat)], dim=1)

    def _terms(self, x: Tensor, x_hat: Tensor, energy: Tensor, cov: Tensor) -> dict[str, Tensor]:
        c = self.config
        recon = half_squared_error(x, x_hat)
        energy_mean = energy.mean()
        penalty = cov_penalty(cov).to(recon.dtype)
        loss = recon + c.lambda_energy * energy_mean + c.lambda_cov * penalty
        return {"loss": loss, "recon": recon, "energy": energy_mean, "cov_penalty": penalty}

    # -- training ---------------------------------------------------------------------------
    def train_batch(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> LossTerms:
        x_hat, r = self._forward(x)
        phi, mu, cov = gmm_statistics(r, self.estimation(r), self.config.cov_jitter)
        energy = gmm_energy(r, phi, mu, cov, self.config.cov_jitter)
        terms = self._terms(x, x_hat, energy, cov)
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
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
        x_hat, r = self._forward(x)
        energy = gmm_energy(r, self.running_phi, self.running_mu, self.running_cov, self.config.cov_jitter)
        terms = self._terms(x, x_hat, energy, self.running_cov)
        return {name: float(value) for name, value in terms.items()}

    # -- out-of-distribution score ----------------------------------------------------------
    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Energy of r under the running mixture statistics (higher = more OoD)."""
        _check_representation(representation)  # the code is deterministic either way
        _, r = self._forward(x)
        return gmm_energy(r, self.running_phi, self.running_mu, self.running_cov, self.config.cov_jitter)
