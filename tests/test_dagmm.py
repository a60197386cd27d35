"""DAGMM: mixture math against numpy/scipy, numerical stability, and a short training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from models.dagmm import DAGMM, DAGMMConfig, gmm_energy, gmm_statistics


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
