"""VAE with a VampPrior (Tomczak & Welling, AISTATS 2018) and the GWAE paper's version of it.

Sources: GitHub ganmodokix/vaetc, branch develop_may, ``vaetc/models/vamppriorvae.py`` (cited as
vamppriorvae.py:LINE, or line N); GitHub ganmodokix/gwae, ``settings/vamppriorvae.yaml``.

The prior is a uniform mixture of the encoder's posteriors at K learned pseudo-inputs. vaetc keeps the
pseudo-inputs as a raw image-shaped parameter initialised U[0, 1) (line 23), encodes them with the data encoder
in every loss evaluation (line 42), and writes the KL estimate with three departures from the published one
(lines 40-48, see ``VampPriorVAE``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.base import Representation, gaussian_sample, half_squared_error
from models.vae import VAE

VAMP_MODES = ("paper", "fixed")
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VampPriorConfig:
    #: ``paper``: vaetc vamppriorvae.py, its KL and sampler as written; ``fixed``: Tomczak & Welling's VampPrior
    #: KL (single-sample log q(z|x) - log p(z)) and sampling uniform over all K pseudo-inputs.
    mode: str = "paper"
    z_dim: int = 64  # gwae settings/vamppriorvae.yaml
    lr: float = 1e-4  # gwae settings/vamppriorvae.yaml; Adam (0.9, 0.999) over all parameters, vaetc vae.py:31-34
    batchnorm: bool = True  # vaetc models/vae.py:28-29 builds the encoder and decoder with their default BN
    num_pseudo_inputs: int = 500  # gwae settings/vamppriorvae.yaml (K)

    def __post_init__(self) -> None:
        if self.mode not in VAMP_MODES:
            raise ValueError(f"mode must be one of {', '.join(VAMP_MODES)}, got {self.mode!r}")
        if self.z_dim < 1 or not self.lr > 0:
            raise ValueError(f"z_dim >= 1 and lr > 0 are required, got {self.z_dim} and {self.lr}")
        least = 2 if self.mode == "paper" else 1  # paper samples from the first K - 1 pseudo-inputs
        if self.num_pseudo_inputs < least:
            raise ValueError(
                f"num_pseudo_inputs must be >= {least} in mode {self.mode!r}, got {self.num_pseudo_inputs}"
            )


def log_normal_diag(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """(B,) log N(z; mu, diag exp(logvar)), summed over dimensions, constants included."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(dim=1)


def vampprior_log_density(z: Tensor, mu_k: Tensor, logvar_k: Tensor) -> Tensor:
    """(B,) log p(z) = logsumexp_k log N(z; mu_k, diag exp(logvar_k)) - log K (Tomczak & Welling, eq. 9)."""
    zi, mk, lk = z[:, None, :], mu_k[None], logvar_k[None]
    per_component = -0.5 * ((zi - mk).pow(2) * torch.exp(-lk) + lk + LOG_2PI).sum(dim=2)  # (B, K)
    return torch.logsumexp(per_component, dim=1) - math.log(mu_k.shape[0])


def paper_posterior_term(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """(B,) vaetc's ``logpz`` (vamppriorvae.py:41): log q(z|x) with (z - mu) not squared."""
    return -0.5 * ((z - mu) / logvar.exp() + logvar + LOG_2PI).sum(dim=1)


def paper_prior_term(z: Tensor, mu_k: Tensor, logvar_k: Tensor) -> Tensor:
    """(B,) vaetc's ``logqz`` (vamppriorvae.py:43-47): -1/2 sum_d logsumexp_k [(z_d - mu_kd) / var_kd + logvar_kd
    + log 2 pi]; no square, the log-sum-exp per dimension and over the positive energy, and no -log K."""
    energy = (z[:, None, :] - mu_k[None]) / logvar_k[None].exp() + logvar_k[None] + LOG_2PI  # (B, K, L)
    return -0.5 * torch.logsumexp(energy, dim=1).sum(dim=1)


class VampPriorVAE(VAE):
    """VAE whose prior is the mixture of the posteriors at K pseudo-inputs; loss = 1/2 SSE + KL estimate.

    Shared by both modes: the pseudo-inputs are an image-shaped parameter, U[0, 1) at init, trained by the same
    Adam and encoded by the data encoder in its current mode; the encoder's BatchNorm running statistics
    therefore mix data and pseudo-inputs, and every eval-mode encoding (validation, reconstruction,
    ``sample_prior``) uses them. A sample of q(z|x) feeds both
    the decoder and the KL estimate. ``decode`` is the VAE decoder; ``sample_prior`` draws a component k and
    returns mu_k + sigma_k eps from the encoder's posterior at pseudo-input k (what vaetc's fid.py decodes).

    Differences between the modes:
    - Encoder passes: ``paper`` encodes the data batch and the K pseudo-inputs in two passes, so in training
      BatchNorm normalises each with its own statistics while its running statistics blend the two, and every
      eval-mode encoding of data then uses a normalisation training never applied (measured on MNIST: the
      validation loss rises from the first epoch while the training loss falls). ``fixed`` encodes both in
      one pass, so the running statistics estimate the very statistics training normalised with and the
      encoder is one function in training and evaluation, as the method (written without BatchNorm) assumes.
    - KL: ``paper`` is mean_b [``paper_posterior_term`` - ``paper_prior_term``] (vamppriorvae.py:41-48): both
      omit the square of (z - mu), the prior term takes the log-sum-exp over components per dimension (of
      the positive energy) and drops -log K. The prior term is linear in z and mu_k, so it has no lower bound.
      ``fixed`` is mean_b [log N(z; mu, sigma^2) - ``vampprior_log_density``(z)], the published estimate.
    - Sampling: ``paper`` draws k with ``randint(0, K - 1)`` (line 27), whose upper end is exclusive, so the
      last pseudo-input is never used; ``fixed`` draws k uniformly from all K.
    - ``ood_score``: -log p(z) under the mixture ``sample_prior`` draws from (``paper``: the first K - 1
      components, as vaetc's prior term is no density; ``fixed``: all K).
    """

    config_cls = VampPriorConfig
    ood_scorer = "vampprior_nll"
    prior_label = "vampprior"
    prior_sampler = "vampprior"

    def __init__(self, config: VampPriorConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(config, image_shape)
        self.pseudo_inputs = nn.Parameter(torch.rand(config.num_pseudo_inputs, *self.image_shape))  # line 23

    @classmethod
    def mode_of(cls, config: VampPriorConfig) -> str:
        return config.mode

    @property
    def sampled_components(self) -> int:
        """How many pseudo-inputs the prior sampler can reach: K - 1 in ``paper``, K in ``fixed``."""
        k = self.config.num_pseudo_inputs
        return k - 1 if self.config.mode == "paper" else k

    def pseudo_posteriors(self) -> tuple[Tensor, Tensor]:
        """(mu_k, logvar_k), each (K, L): the encoder at the pseudo-inputs, in its current mode."""
        return self.encoder(self.pseudo_inputs)

    def encode_with_pseudo_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(mu, logvar) of the data and (mu_k, logvar_k) of the pseudo-inputs, as the mode encodes them in a
        loss evaluation: ``paper`` in two encoder passes, data then pseudo-inputs (vamppriorvae.py, lines 35-42);
        ``fixed`` in one pass over both."""
        if self.config.mode == "paper":
            return *self.encoder(x), *self.pseudo_posteriors()
        mu, logvar = self.encoder(torch.cat([x, self.pseudo_inputs.to(x.dtype)]))
        n = x.shape[0]
        return mu[:n], logvar[:n], mu[n:], logvar[n:]

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, logvar, mu_k, logvar_k = self.encode_with_pseudo_inputs(x)
        z = gaussian_sample(mu, logvar)
        recon = half_squared_error(x, self.decoder(z))
        if self.config.mode == "paper":
            kl = (paper_posterior_term(z, mu, logvar) - paper_prior_term(z, mu_k, logvar_k)).mean()
        else:
            kl = (log_normal_diag(z, mu, logvar) - vampprior_log_density(z, mu_k, logvar_k)).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    def component_indices(self, n: int) -> Tensor:
        """``n`` pseudo-input indices, uniform over the ``sampled_components`` first ones."""
        return torch.randint(0, self.sampled_components, (n,), device=self.pseudo_inputs.device)

    @torch.no_grad()
    def sample_prior(self, n: int) -> Tensor:
        idx = self.component_indices(n)
        mu_k, logvar_k = self.pseudo_posteriors()
        return gaussian_sample(mu_k[idx], logvar_k[idx])

    @torch.no_grad()
    def prior_nll(self, z: Tensor) -> Tensor:
        """(B,) -log p(z) under the uniform mixture of the posteriors that ``sample_prior`` draws from."""
        mu_k, logvar_k = self.pseudo_posteriors()
        m = self.sampled_components
        return -vampprior_log_density(z, mu_k[:m], logvar_k[:m])

    @torch.no_grad()
    def ood_score(self, x: Tensor, representation: Representation = "mean") -> Tensor:
        """Negative log-density of the code under the model's own VampPrior (see ``prior_nll``)."""
        return self.prior_nll(self.encode(x, representation))
