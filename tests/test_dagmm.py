"""DAGMM: mixture math against numpy/scipy, numerical stability, and a short training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from models.dagmm.model import (
    DAGMM,
    DAGMMConfig,
    gmm_energy,
    gmm_statistics,
    pinv_dropped,
    reconstruction_features,
    vaetc_energy,
    vaetc_terms,
)


def _random_gmm(rng: np.random.Generator, k: int, d: int) -> tuple[np.ndarray, ...]:
    phi = rng.dirichlet(np.ones(k))
    mu = rng.normal(size=(k, d))
    a = rng.normal(size=(k, d, d))
    cov = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(d)
    return phi, mu, cov


def test_gmm_energy_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    phi, mu, cov = _random_gmm(rng, k=4, d=5)
    r = rng.normal(size=(33, 5)) * 2
    log_pdf = np.stack([multivariate_normal(mu[k], cov[k]).logpdf(r) for k in range(4)], axis=1)
    ref = -logsumexp(log_pdf + np.log(phi), axis=1)
    ours = gmm_energy(*(torch.from_numpy(a) for a in (r, phi, mu, cov)))
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-10)
    ours32 = gmm_energy(torch.from_numpy(r).float(), *(torch.from_numpy(a) for a in (phi, mu, cov)))
    assert ours32.dtype == torch.float32 and ours32.shape == (33,)


def test_gmm_statistics_matches_numpy_loop() -> None:
    rng = np.random.default_rng(1)
    b, d, k, jitter = 40, 3, 5, 1e-6
    r = rng.normal(size=(b, d))
    gamma = rng.dirichlet(np.ones(k), size=b)
    phi, mu, cov = gmm_statistics(torch.from_numpy(r).float(), torch.from_numpy(gamma).float(), jitter)
    r32 = r.astype(np.float32).astype(np.float64)
    g32 = gamma.astype(np.float32).astype(np.float64)
    for j in range(k):
        w = g32[:, j]
        m = sum(w[i] * r32[i] for i in range(b)) / w.sum()
        c = sum(w[i] * np.outer(r32[i] - m, r32[i] - m) for i in range(b)) / w.sum() + jitter * np.eye(d)
        assert phi[j].item() == pytest.approx(w.mean(), rel=1e-12)
        np.testing.assert_allclose(mu[j].numpy(), m, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(cov[j].numpy(), c, rtol=1e-10, atol=1e-12)
    assert cov.dtype == torch.float64


def test_singular_covariances_stay_finite() -> None:
    r = torch.ones(16, 6, requires_grad=True)  # duplicate points: zero batch covariance
    gamma = torch.softmax(torch.randn(16, 3), dim=1)
    phi, mu, cov = gmm_statistics(r, gamma, jitter=1e-6)
    energy = gmm_energy(r, phi, mu, cov)
    energy.sum().backward()
    assert torch.isfinite(energy).all() and torch.isfinite(r.grad).all()
    # an exactly singular covariance passed directly: rescued by the jitter retry
    zero = torch.zeros(2, 6, 6, dtype=torch.float64)
    assert torch.isfinite(gmm_energy(torch.randn(4, 6), phi[:2], mu[:2], zero)).all()
    # an indefinite one cannot be rescued: a clear error naming the component
    bad = torch.eye(6, dtype=torch.float64).repeat(3, 1, 1)
    bad[2, 0, 0] = -1.0
    with pytest.raises(ValueError, match=r"component\(s\) \[2\]"):
        gmm_energy(torch.randn(4, 6), phi, mu, bad)
    with pytest.raises(ValueError, match="shapes"):
        gmm_energy(torch.randn(4, 6), phi[:2], mu, bad)


@pytest.mark.parametrize(
    "field,value", [("num_components", 0), ("cov_jitter", 0.0), ("stats_momentum", 1.5), ("lr", -1.0)]
)
def test_config_validation(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        DAGMMConfig(**{field: value})


def test_train_eval_and_ood_score() -> None:
    torch.manual_seed(0)
    model = DAGMM(DAGMMConfig(z_dim=4, num_components=3, lr=1e-3), (1, 28, 28))
    opts = model.build_optimizers()
    x = torch.rand(32, 1, 28, 28)
    assert not model.stats_updates
    model.train()
    for _ in range(3):
        terms = model.train_batch(x, opts)
        assert set(terms) == {"loss", "recon", "energy", "cov_penalty"}
        assert all(np.isfinite(v) for v in terms.values())
    assert int(model.stats_updates) == 3
    assert torch.isfinite(model.running_cov).all() and model.running_phi.sum().item() == pytest.approx(1.0)
    model.eval()
    assert all(np.isfinite(v) for v in model.eval_batch(x).values())
    scores = model.ood_score(x[:8])
    assert scores.shape == (8,) and torch.isfinite(scores).all()
    assert torch.equal(model.encode(x[:8], "mean"), model.encode(x[:8], "sample"))
    assert model.decode(model.encode(x[:8])).shape == (8, 1, 28, 28)


# -- paper mode: vaetc's DAGMM, against a literal numpy transcription of its formulas -------------
def np_vaetc_statistics(z: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, ...]:
    """vaetc: masses + 1e-5, weighted mean and covariance over z, + 1e-6 I."""
    mass = gamma.sum(axis=0) + 1e-5
    phi = gamma.mean(axis=0)
    mu = np.stack([(gamma[:, k, None] * z).sum(0) / mass[k] for k in range(gamma.shape[1])])
    cov = np.stack([
        sum(gamma[i, k] * np.outer(z[i] - mu[k], z[i] - mu[k]) for i in range(len(z))) / mass[k]
        for k in range(gamma.shape[1])
    ]) + 1e-6 * np.eye(z.shape[1])
    return phi, mu, cov


def np_vaetc_energy(z: np.ndarray, phi: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """-logsumexp_k(log phi_k - 0.5 (relu(maha) + logdet(Sigma_k log 2 pi))), with inv and logdet."""
    dens = np.empty((len(z), len(phi)))
    for k in range(len(phi)):
        inv = np.linalg.inv(cov[k])
        diff = z - mu[k]
        maha = np.einsum("bi,ij,bj->b", diff, inv, diff)
        _, logdet = np.linalg.slogdet(cov[k] * np.log(2 * np.pi))
        dens[:, k] = -0.5 * (np.maximum(maha, 0) + logdet)
    return -logsumexp(dens + np.log(phi), axis=1)


def test_paper_statistics_and_energy_match_vaetc_formulas() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(30, 4))
    gamma = rng.dirichlet(np.ones(3), size=30)
    phi, mu, cov = gmm_statistics(torch.from_numpy(z), torch.from_numpy(gamma), 1e-6, mass_eps=1e-5)
    ref = np_vaetc_statistics(z, gamma)
    for ours, theirs in zip((phi, mu, cov), ref, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10, atol=1e-12)
    energy = gmm_energy(torch.from_numpy(z), phi, mu, cov, normaliser="vaetc")
    np.testing.assert_allclose(energy.numpy(), np_vaetc_energy(z, *ref), rtol=1e-10, atol=1e-10)


def test_vaetc_normaliser_quirk_is_a_constant_shift_of_the_standard_energy() -> None:
    """logdet(Sigma log 2 pi) = logdet Sigma + D log log 2 pi, where the Gaussian has D log 2 pi."""
    rng = np.random.default_rng(4)
    phi, mu, cov = (torch.from_numpy(a) for a in _random_gmm(rng, k=3, d=5))
    r = torch.from_numpy(rng.normal(size=(12, 5)))
    shift = gmm_energy(r, phi, mu, cov, normaliser="vaetc") - gmm_energy(r, phi, mu, cov)
    expected = 0.5 * 5 * (np.log(np.log(2 * np.pi)) - np.log(2 * np.pi))  # E = -log p: a smaller constant
    np.testing.assert_allclose(shift.numpy(), expected, rtol=1e-10)


def test_paper_mode_architecture_and_loss_equal_vaetc() -> None:
    torch.manual_seed(0)
    cfg = DAGMMConfig(z_dim=4, num_components=3)
    model = DAGMM(cfg, (1, 8, 8))
    assert cfg.mode == "paper" and model.mixture_dim == 4 and model.running_cov.shape == (3, 4, 4)
    first = model.estimation[0]
    assert first.in_features == cfg.z_dim + 2  # [z, relative error, cosine similarity]
    assert [type(m).__name__ for m in model.estimation] == ["Linear", "SiLU", "Linear", "Softmax"]
    assert isinstance(model.encoder.mu_bn, torch.nn.Identity)  # vaetc's ConvEncoder: plain Linear head
    x = torch.rand(16, 1, 8, 8)
    model.train()
    with torch.no_grad():
        z = model.encoder(x)
        x_hat = model.decoder(z)
        gamma = model.estimation(torch.cat([z, reconstruction_features(x, x_hat)], dim=1))
    z64, g64 = z.double().numpy(), gamma.double().numpy()
    phi, mu, cov = np_vaetc_statistics(z64, g64)
    recon = ((x - x_hat).double().numpy() ** 2).reshape(16, -1).sum(1).mean()  # the full error, not half
    prior = (1 / (np.abs(np.diagonal(cov, axis1=1, axis2=2)) + 1e-5)).sum()
    expected = recon + 0.1 * np_vaetc_energy(z64, phi, mu, cov).mean() + 1e-4 * prior
    terms = model.train_batch(x, model.build_optimizers())
    assert terms["loss"] == pytest.approx(expected, rel=1e-5)
    # the running statistics are over z and copy the first batch
    np.testing.assert_allclose(model.running_mu.numpy(), mu, rtol=1e-5, atol=1e-6)


def test_zong_mode_keeps_the_mixture_over_features() -> None:
    model = DAGMM(DAGMMConfig(mode="zong", z_dim=4, num_components=3), (1, 8, 8))
    assert model.mixture_dim == 6 and type(model.estimation[1]).__name__ == "Tanh"
    assert DAGMM.mode_of(model.config) == "zong"
    with pytest.raises(ValueError, match="mode"):
        DAGMMConfig(mode="vaetc")


def _ill_conditioned(rng: np.random.Generator, k: int, kept: list[float], dropped: int) -> np.ndarray:
    """(K, D, D) float32 covariances Q diag(kept + [1e-6] * dropped) Q^T: pinv's float32 tolerance (16 eps times the
    largest, 1.9e-6) drops the 1e-6 directions with a clear gap, as vaetc's 1e-6 jitter leaves collapsed ones."""
    d = len(kept) + dropped
    out = []
    for _ in range(k):
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        out.append(q @ np.diag(kept + [1e-6] * dropped) @ q.T)
    return np.stack(out).astype(np.float32)


def test_vaetc_pinv_route_against_numpy_pinv_on_an_ill_conditioned_covariance() -> None:
    rng = np.random.default_rng(0)
    cov = _ill_conditioned(rng, 2, [1.0, 0.5, 0.2, 0.1, 0.05, 0.02], dropped=10)
    mu = rng.normal(size=(2, 16)).astype(np.float32)
    z = rng.normal(size=(7, 16)).astype(np.float32)
    assert pinv_dropped(torch.from_numpy(cov)) == (20, 32)  # 10 of 16 per component
    maha, logdet = vaetc_terms(*(torch.from_numpy(a) for a in (z, mu, cov)))
    assert maha.dtype == torch.float32
    c64 = cov.astype(np.float64)
    tol = 16 * np.finfo(np.float32).eps  # torch.linalg.pinv's default rtol: eps x max(rows, cols)
    expected = np.stack([[max((z[b] - mu[k]) @ np.linalg.pinv(c64[k], rcond=tol) @ (z[b] - mu[k]), 0.0)
                          for k in range(2)] for b in range(7)])
    np.testing.assert_allclose(maha.numpy(), expected, rtol=1e-3)
    # the truncation matters: the exact inverse counts the 1e-6 directions, 10^5 to 10^6 times larger
    exact = np.stack([[(z[b] - mu[k]) @ np.linalg.inv(c64[k]) @ (z[b] - mu[k]) for k in range(2)] for b in range(7)])
    assert (exact > 1e4 * expected).all()
    # the energy is assembled from these terms as vaetc's develop_may writes it
    phi = np.array([0.3, 0.7], dtype=np.float32)
    energy = vaetc_energy(*(torch.from_numpy(a) for a in (z, phi, mu, cov)))
    ref = -logsumexp(np.log(phi)[None] - 0.5 * (maha.numpy() + logdet.numpy()[None]), axis=1)
    np.testing.assert_allclose(energy.numpy(), ref, rtol=1e-5)


def test_vaetc_logdet_is_of_sigma_times_log_2pi() -> None:
    rng = np.random.default_rng(1)
    cov = _random_gmm(rng, 3, 4)[2].astype(np.float32)
    _, logdet = vaetc_terms(torch.zeros(1, 4), torch.zeros(3, 4), torch.from_numpy(cov))
    expected = [np.linalg.slogdet(c.astype(np.float64) * np.log(2 * np.pi))[1] for c in cov]
    np.testing.assert_allclose(logdet.numpy(), expected, rtol=1e-5)


def test_energy_routes_by_mode() -> None:
    assert DAGMMConfig().route == "vaetc" and DAGMMConfig(mode="zong").route == "cholesky"
    assert DAGMMConfig(energy_route="cholesky").route == "cholesky"
    with pytest.raises(ValueError, match="paper mode only"):
        DAGMMConfig(mode="zong", energy_route="vaetc")
    with pytest.raises(ValueError, match="energy_route"):
        DAGMMConfig(energy_route="inv")


def test_the_safe_energy_stays_finite_on_a_singular_covariance() -> None:
    singular = torch.tensor([[[1.0, 1.0], [1.0, 1.0]]], dtype=torch.float64) + 1e-12 * torch.eye(2)
    assert pinv_dropped(singular) == (1, 2)
    assert pinv_dropped(torch.eye(2, dtype=torch.float64)[None]) == (0, 2)
    energy = gmm_energy(torch.randn(5, 2), torch.ones(1), torch.zeros(1, 2), singular, normaliser="vaetc")
    assert torch.isfinite(energy).all()


@pytest.mark.parametrize("route", ["vaetc", "cholesky"])
def test_diagnostics_count_what_vaetc_pinv_does(route: str) -> None:
    torch.manual_seed(0)
    model = DAGMM(DAGMMConfig(z_dim=3, num_components=2, energy_route=route), (1, 8, 8))
    opts = model.build_optimizers()
    for _ in range(2):
        terms = model.train_batch(torch.rand(8, 1, 8, 8), opts)
        assert np.isfinite(terms["loss"])
    diag = model.diagnostics()
    assert diag["energy_route"] == route and diag["training_batches"] == 2
    assert 0 <= diag["pinv_truncated_batches"] <= 2 and diag["pinv_singular_values"] == 6
    assert 0 <= diag["pinv_dropped_at_scoring"] <= 6
