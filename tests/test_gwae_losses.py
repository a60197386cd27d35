"""GWAE loss terms against independent numpy computations (loops over pairs, closed forms)."""

import math

import numpy as np
import pytest
import torch

from models.gwae.losses import (
    batch_latent_scale,
    entropy_regularizer,
    gradient_penalty,
    gw_loss,
    gw_loss_official,
    pairwise_distances,
)
from models.gwae.model import GWAE, GWAEConfig
from models.gwae.priors import PriorConfig
from models.vae import kl_standard_normal


def np_pairwise(a: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    return np.array([[math.sqrt(((a[i] - a[j]) ** 2).sum()) for j in range(len(a))] for i in range(len(a))])


def test_pairwise_distances_match_double_loop_and_diagonal_is_exactly_zero():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 64, 64)  # B = 64, D = 12288, where cdist's matmul path leaves ~0.04 on the diagonal
    d = pairwise_distances(x)
    assert torch.all(d.diagonal() == 0)
    np.testing.assert_allclose(d.double().numpy(), np_pairwise(x.numpy()), rtol=1e-5, atol=1e-4)
    assert torch.cdist(x.flatten(1), x.flatten(1)).diagonal().abs().max() > 1e-3  # why we do not use it


def test_pairwise_distances_gradient_is_finite_with_duplicate_rows():
    z = torch.randn(6, 4)
    z = torch.cat([z, z[:2]]).requires_grad_(True)  # two exact duplicates: zero off-diagonal distances
    pairwise_distances(z).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_exactly_duplicated_rows_are_exactly_zero_apart_and_l_gw_s_gradient_matches_the_official_formula():
    """Codes of norm ~80 (seed 22): the Gram route left 0.0699 between the duplicated pair (7.9e-6 relative on
    L_GW's code gradient against the official broadcast formula); now exactly 0, leaving Gram rounding alone."""
    z = torch.randn(64, 64, generator=torch.Generator().manual_seed(22)) * 10
    z[7] = z[3]
    x = torch.rand(64, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    x[40] = x[41]  # duplicated images too, at D = 12288
    assert pairwise_distances(z)[3, 7] == 0 and pairwise_distances(z)[7, 3] == 0
    assert pairwise_distances(x)[40, 41] == 0
    off = ~torch.eye(64, dtype=torch.bool)
    off[3, 7] = off[7, 3] = False
    assert (pairwise_distances(z)[off] > 0).all()  # every other pair keeps its distance
    grads = []
    for loss in (gw_loss, gw_loss_official):
        codes = z.clone().requires_grad_(True)
        loss(codes, x, torch.tensor(0.3)).backward()
        grads.append(codes.grad)
    assert ((grads[0] - grads[1]).norm() / grads[1].norm()).item() < 2e-6


def test_distinct_rows_keep_the_gram_routes_distances_bitwise():
    """The duplicate check only zeroes equal rows: committed fp32 GWAE runs (no duplicated pairs) are unchanged."""
    a = torch.randn(64, 16, generator=torch.Generator().manual_seed(4)) * 10
    a[5] = a[9] + 1e-3  # near, not equal: screened, compared, kept
    flat = a - a.mean(dim=0, keepdim=True)
    sq = flat.pow(2).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T
    want = d2.clamp_min(0).sqrt().fill_diagonal_(0)
    assert torch.equal(pairwise_distances(a), want)


def np_gw(z: np.ndarray, x: np.ndarray, log_c: float) -> float:
    B = len(z)
    s = max(z.std(axis=0, ddof=1).mean(), 1e-8)
    dz, dx = np_pairwise(z), np_pairwise(x)
    total = sum(abs(math.exp(log_c) / s * dz[i, j] - dx[i, j]) for i in range(B) for j in range(B))
    return total / B**2  # the B zero diagonal pairs count in the denominator


def test_gw_loss_matches_numpy_loop():
    torch.manual_seed(1)
    z, x = torch.randn(12, 5), torch.rand(12, 1, 8, 8)
    log_c = torch.tensor(math.log(2.5))
    assert gw_loss(z, x, log_c).item() == pytest.approx(np_gw(z.numpy(), x.numpy(), log_c.item()), rel=1e-5)


def test_gw_loss_matches_official_formulation_in_value_and_gradient():
    torch.manual_seed(2)
    z1, x1 = torch.randn(10, 6, requires_grad=True), torch.rand(10, 3, 16, 16, requires_grad=True)
    z2, x2 = z1.detach().clone().requires_grad_(True), x1.detach().clone().requires_grad_(True)
    c1, c2 = torch.tensor(0.3, requires_grad=True), torch.tensor(0.3, requires_grad=True)
    a, b = gw_loss(z1, x1, c1), gw_loss_official(z2, x2, c2)
    a.backward()
    b.backward()
    assert a.item() == pytest.approx(b.item(), rel=1e-5)
    for g1, g2 in ((z1.grad, z2.grad), (x1.grad, x2.grad), (c1.grad, c2.grad)):
        torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-5)


def test_latent_scale_is_mean_unbiased_std_with_floor():
    z = torch.tensor([[0.0, 1.0], [2.0, 5.0], [4.0, 9.0]])
    assert batch_latent_scale(z).item() == pytest.approx((2.0 + 4.0) / 2)
    assert batch_latent_scale(torch.ones(4, 3)).item() == pytest.approx(1e-8)


def test_entropy_regularizer_by_hand():
    logvar = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    assert entropy_regularizer(logvar).item() == pytest.approx(-((0.5 - 1.0) + (2.0 + 0.0)) / 2)


def test_gradient_penalty_of_linear_critic_is_closed_form():
    torch.manual_seed(3)
    wx, wz = torch.randn(1, 2, 3, 3), torch.randn(4)

    def critic(x, z):
        return (x * wx).flatten(1).sum(1) + z @ wz

    x_r, x_f = torch.rand(5, 2, 3, 3), torch.rand(5, 2, 3, 3)
    z_r, z_f = torch.randn(5, 4), torch.randn(5, 4)
    expected = (math.sqrt(wx.pow(2).sum().item() + wz.pow(2).sum().item()) - 1) ** 2
    assert gradient_penalty(critic, x_r, z_r, x_f, z_f).item() == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_of_quadratic_critic_uses_one_t_for_both_parts():
    def critic(x, z):  # gradient = (x, z): the penalty depends on the interpolation points
        return 0.5 * x.flatten(1).pow(2).sum(1) + 0.5 * z.pow(2).sum(1)

    x_r, x_f, z_r, z_f = torch.rand(7, 1, 2, 2), torch.rand(7, 1, 2, 2), torch.randn(7, 3), torch.randn(7, 3)
    torch.manual_seed(4)
    gp = gradient_penalty(critic, x_r, z_r, x_f, z_f).item()
    torch.manual_seed(4)
    t = torch.rand(7).numpy()[:, None]
    xb = t * x_r.flatten(1).numpy() + (1 - t) * x_f.flatten(1).numpy()
    zb = t * z_r.numpy() + (1 - t) * z_f.numpy()
    norms = np.sqrt((xb**2).sum(1) + (zb**2).sum(1))
    assert gp == pytest.approx(((norms - 1) ** 2).mean(), rel=1e-5)


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(5)
    mu, logvar = torch.randn(3, 2), torch.randn(3, 2) * 0.5
    n = 200_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 3, 2)
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0).mean()
    assert kl_standard_normal(mu, logvar).item() == pytest.approx(mc.item(), abs=0.01)


def test_gwae_step_updates_main_and_critic_and_reports_every_term():
    torch.manual_seed(6)
    model = GWAE(GWAEConfig(z_dim=4, critic_steps=2, prior=PriorConfig("gaussian_mixture")), (1, 28, 28))
    opts = model.build_optimizers()
    enc0 = model.encoder.mu.weight.detach().clone()
    critic0 = [p.detach().clone() for p in model.critic.parameters()]
    terms = model.train_batch(torch.rand(16, 1, 28, 28), opts)
    assert {"loss", "gw", "w", "entropy", "critic_gap", "critic_loss", "gradient_penalty"} <= set(terms)
    expected = terms["gw"] + terms["w"] + 0.03 * terms["entropy"] + terms["critic_gap"]
    assert terms["loss"] == pytest.approx(expected, rel=1e-5)
    assert not torch.equal(enc0, model.encoder.mu.weight)
    assert any(not torch.equal(a, b) for a, b in zip(critic0, model.critic.parameters(), strict=True))
    assert all(math.isfinite(v) for v in terms.values())


def _gwae_after_one_step(passes: str, power_iterations: int | None = None,
                         spectral_norm: str = "official") -> tuple[GWAE, dict, list[int]]:
    torch.manual_seed(0)
    model = GWAE(GWAEConfig(z_dim=3, critic_steps=2, critic_passes=passes, spectral_norm=spectral_norm), (1, 8, 8))
    if power_iterations is not None:
        for module in model.critic.modules():
            if hasattr(module, "n_power_iterations"):
                module.n_power_iterations = power_iterations
    calls = []
    model.critic.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))
    opts = model.build_optimizers()
    torch.manual_seed(1)
    x = torch.rand(8, 1, 8, 8)
    return model, model.train_batch(x, opts), calls


@pytest.mark.parametrize("spectral_norm", ["official", "modern"])
def test_fused_critic_passes_equal_official_ones_when_spectral_norm_runs_no_power_iteration(spectral_norm):
    """Fusing is exact but for the power-iteration count: with it off, both modes train identically."""
    official, t_official, calls_official = _gwae_after_one_step("official", 0, spectral_norm)
    fused, t_fused, calls_fused = _gwae_after_one_step("fused", 0, spectral_norm)
    assert t_fused == pytest.approx(t_official, rel=1e-5, abs=1e-6)
    # One step: later ones amplify round-off through RMSprop on gradients that are zero in exact
    # arithmetic (the prior's last bias feeds a BatchNorm), so they are no test of the fusing.
    torch.testing.assert_close(fused.state_dict(), official.state_dict(), rtol=1e-4, atol=1e-5)
    # main step + 2 critic steps: official 2 + 2 x 3 calls of B, fused one call of 2B and two of 3B
    assert calls_official == [8] * 8 and calls_fused == [16, 24, 24]


def test_fused_critic_passes_run_one_power_iteration_per_critic_call():
    official, _, _ = _gwae_after_one_step("official")
    fused, _, _ = _gwae_after_one_step("fused")
    u = [k for k in official.state_dict() if k.startswith("critic.") and k.endswith("_u")]
    assert u and any(not torch.equal(official.state_dict()[k], fused.state_dict()[k]) for k in u)
