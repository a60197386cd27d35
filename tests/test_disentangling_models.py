"""Loss terms of beta-TCVAE, FactorVAE, DIP-VAE and AnnealedVAE against independent computations."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from core.errors import BenchmarkError
from models import build_model, resolve_config
from models.disentangling.annealed_vae import annealed_capacity
from models.disentangling.beta_tcvae import mss_log_weights, total_correlation
from models.disentangling.dip_vae import batch_covariance, dip_covariance, dip_penalties
from models.disentangling.factor_vae import density_ratio_tc, discriminator_loss, permute_dims

NEW_MODELS = ("beta-tcvae", "factorvae", "dip-vae-i", "dip-vae-ii", "annealed-vae")


def _batch(b=5, dims=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(b, dims, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(b, dims, generator=g, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(b, dims, generator=g, dtype=torch.float64)
    return z, mu, logvar


def _brute_tc(z, mu, logvar, weights):
    """TC by loops: log q(z_i) = log sum_j w_ij prod_d N(z_id; mu_jd, s_jd), marginals likewise."""
    z, mu, sd = z.numpy(), mu.numpy(), np.exp(0.5 * logvar.numpy())
    b, dims = z.shape
    total = 0.0
    for i in range(b):
        joint = [math.log(weights[i][j]) + sum(norm.logpdf(z[i, d], mu[j, d], sd[j, d]) for d in range(dims))
                 for j in range(b)]
        marg = sum(logsumexp([math.log(weights[i][j]) + norm.logpdf(z[i, d], mu[j, d], sd[j, d])
                              for j in range(b)]) for d in range(dims))
        total += logsumexp(joint) - marg
    return total / b


def test_paper_and_mws_estimators_match_a_direct_evaluation():
    z, mu, logvar = _batch()
    b, n = len(z), 1000
    ones = [[1.0] * b for _ in range(b)]  # the official estimator: no 1/(B N) weights at all
    assert total_correlation(z, mu, logvar, "paper").item() == pytest.approx(_brute_tc(z, mu, logvar, ones), abs=1e-10)
    mws = [[1.0 / (b * n)] * b for _ in range(b)]
    assert total_correlation(z, mu, logvar, "mws", n).item() == pytest.approx(_brute_tc(z, mu, logvar, mws), abs=1e-10)


def test_mss_estimator_matches_a_direct_evaluation_with_the_papers_weights():
    z, mu, logvar = _batch(b=4)
    b, n = 4, 10
    m = b - 1
    w = [[1.0 / m] * b for _ in range(b)]
    for i in range(b):  # Chen et al. appendix C.2, written out by hand
        w[i][i] = 1.0 / n
        w[i][(i + 1) % b] = (n - m) / (n * m)
    assert np.allclose(mss_log_weights(b, n).exp().numpy(), w)
    assert np.allclose(np.sum(w, axis=1), 1.0)
    assert total_correlation(z, mu, logvar, "mss", n).item() == pytest.approx(_brute_tc(z, mu, logvar, w), abs=1e-10)


def test_mws_and_paper_differ_by_a_constant_and_share_gradients():
    z, mu, logvar = _batch(b=6, dims=4)
    grads = {}
    for est in ("mws", "paper"):
        mu_ = mu.clone().requires_grad_(True)
        tc = total_correlation(z, mu_, logvar, est, 100)
        tc.backward()
        grads[est] = (tc.item(), mu_.grad)
    assert grads["mws"][0] - grads["paper"][0] == pytest.approx(3 * math.log(6 * 100))
    assert torch.allclose(grads["mws"][1], grads["paper"][1])


def test_tc_of_independent_codes_is_near_zero_and_of_copied_codes_is_large():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(256, 1, generator=g, dtype=torch.float64)
    small = torch.full((256, 2), -8.0, dtype=torch.float64)
    copied = mu.repeat(1, 2)  # two identical dims: high total correlation
    independent = torch.randn(256, 2, generator=g, dtype=torch.float64)
    assert total_correlation(copied, copied, small, "mss", 256 * 4).item() > 2.0
    assert abs(total_correlation(independent, independent, torch.zeros_like(independent), "mss", 1024).item()) < 0.1


def test_tc_estimator_errors():
    z, mu, logvar = _batch()
    with pytest.raises(ValueError, match="one of"):
        total_correlation(z, mu, logvar, "nope")
    with pytest.raises(ValueError, match="dataset_size"):
        total_correlation(z, mu, logvar, "mss")
    with pytest.raises(ValueError, match="dataset_size >= batch"):
        mss_log_weights(8, 4)


def test_dip_covariances_match_numpy():
    z, mu, logvar = _batch(b=7, dims=3)
    cov_mu = np.cov(mu.numpy(), rowvar=False, bias=True)
    assert np.allclose(batch_covariance(mu).numpy(), cov_mu)
    assert np.allclose(dip_covariance(mu, logvar, "i").numpy(), cov_mu)
    expected_ii = cov_mu + np.diag(np.exp(logvar.numpy()).mean(axis=0))
    assert np.allclose(dip_covariance(mu, logvar, "ii").numpy(), expected_ii)
    off, diag = dip_penalties(torch.from_numpy(expected_ii))
    by_loop_off = sum(expected_ii[i, j] ** 2 for i in range(3) for j in range(3) if i != j)
    by_loop_diag = sum((expected_ii[i, i] - 1) ** 2 for i in range(3))
    assert off.item() == pytest.approx(by_loop_off) and diag.item() == pytest.approx(by_loop_diag)
    with pytest.raises(ValueError, match="variant"):
        dip_covariance(mu, logvar, "iii")


def test_dip_loss_uses_the_registered_weights():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 8, 8)
    for name, lod, ld in (("dip-vae-i", 1.0, 1.0), ("dip-vae-ii", 10.0, 1.0)):
        model = build_model(name, resolve_config(name, {"z_dim": 3}), (1, 8, 8)).eval()
        torch.manual_seed(1)
        t = model.terms(x)
        expected = t["recon"] + t["kl"] + lod * t["dip_off_diagonal"] + ld * t["dip_diagonal"]
        assert t["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    cfg = resolve_config("dip-vae-i", {"lambda_od": 5.0, "lambda_d_factor": 10.0})
    assert cfg.diagonal_weight == 50.0  # disentanglement_lib's tie lambda_d = factor x lambda_od


def test_permutation_keeps_each_columns_marginal_and_breaks_the_pairing():
    g = torch.Generator().manual_seed(0)
    base = torch.arange(64, dtype=torch.float64)[:, None]
    z = torch.cat([base, base * 10, base - 5], dim=1)  # perfectly dependent columns
    p = permute_dims(z, generator=g)
    for d in range(3):
        assert torch.equal(p[:, d].sort().values, z[:, d].sort().values)
    assert not torch.equal(p[:, 1], p[:, 0] * 10)  # the joint is broken
    assert not torch.equal(p[:, 0], p[:, 2] + 5)


def test_discriminator_loss_and_tc_by_hand():
    logits_joint = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    logits_product = torch.tensor([[0.0, 1.0], [3.0, 0.0]])

    def log_softmax(row, k):
        return row[k] - math.log(sum(math.exp(v) for v in row))

    by_hand = -(np.mean([log_softmax(r, 0) for r in logits_joint.tolist()])
                + np.mean([log_softmax(r, 1) for r in logits_product.tolist()]))
    assert discriminator_loss(logits_joint, logits_product).item() == pytest.approx(by_hand)
    assert density_ratio_tc(logits_joint).item() == pytest.approx(((2 + 1) + 0) / 2)


def test_factorvae_owns_two_optimizers_and_steps_both():
    torch.manual_seed(0)
    model = build_model("factorvae", resolve_config("factorvae", {"z_dim": 3}), (1, 8, 8))
    opts = model.build_optimizers()
    disc_params = {id(p) for p in model.discriminator.parameters()}
    assert not disc_params & {id(p) for g in opts["main"].param_groups for p in g["params"]}
    assert disc_params == {id(p) for g in opts["disc"].param_groups for p in g["params"]}
    assert opts["disc"].param_groups[0]["betas"] == (0.5, 0.9) and opts["disc"].param_groups[0]["lr"] == 1e-3
    before_d = [p.detach().clone() for p in model.discriminator.parameters()]
    before_e = [p.detach().clone() for p in model.encoder.parameters()]
    out = model.train_batch(torch.rand(16, 1, 8, 8), opts)
    assert {"loss", "recon", "kl", "tc", "disc_loss"} <= set(out)
    assert any(not torch.equal(a, b) for a, b in zip(before_d, model.discriminator.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_e, model.encoder.parameters(), strict=True))
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_annealed_capacity_at_given_steps():
    assert annealed_capacity(0, 25.0, 100) == 0.0
    assert annealed_capacity(40, 25.0, 100) == pytest.approx(10.0)
    assert annealed_capacity(100, 25.0, 100) == 25.0
    assert annealed_capacity(10_000, 25.0, 100) == 25.0
    with pytest.raises(ValueError):
        annealed_capacity(1, 1.0, 0)


def test_annealed_vae_counts_its_steps_in_the_checkpointed_state():
    torch.manual_seed(0)
    model = build_model("annealed-vae", resolve_config("annealed-vae", {"z_dim": 3, "c_max": 8.0,
                                                                          "anneal_steps": 4}), (1, 8, 8))
    opts = model.build_optimizers()
    x = torch.rand(8, 1, 8, 8)
    caps = [model.train_batch(x, opts)["capacity"] for _ in range(6)]
    assert caps == pytest.approx([0, 2, 4, 6, 8, 8])
    assert int(model.state_dict()["steps_done"]) == 6
    t = model.eval().terms(x)
    assert t["loss"].item() == pytest.approx((t["recon"] + 1000 * (t["kl"] - 8).abs()).item(), rel=1e-6)


def test_beta_tcvae_loss_is_kl_plus_beta_minus_one_tc():
    torch.manual_seed(0)
    model = build_model("beta-tcvae", resolve_config("beta-tcvae", {"z_dim": 3}), (1, 8, 8)).eval()
    t = model.terms(torch.rand(8, 1, 8, 8))
    assert t["loss"].item() == pytest.approx((t["recon"] + t["kl"] + 1.0 * t["tc"]).item(), rel=1e-6)
    assert resolve_config("beta-tcvae").beta == 2.0


@pytest.mark.parametrize("name", NEW_MODELS)
def test_new_models_train_with_finite_losses(name):
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, {"z_dim": 3}), (1, 8, 8))
    opts = model.build_optimizers()
    for _ in range(2):
        out = model.train_batch(torch.rand(8, 1, 8, 8), opts)
    assert all(math.isfinite(v) for v in out.values())
    assert all(math.isfinite(v) for v in model.eval_batch(torch.rand(8, 1, 8, 8)).values())
    assert model.ood_score(torch.rand(4, 1, 8, 8)).shape == (4,)
    assert model.generate(3).shape == (3, 1, 8, 8)


@pytest.mark.parametrize(("name", "override"), [
    ("beta-tcvae", {"estimator": "exact"}), ("dip-vae-i", {"variant": "iii"}), ("annealed-vae", {"anneal_steps": 0}),
    ("factorvae", {"disc_layers": 0}), ("dip-vae-ii", {"lambda_d_factor": -1.0}),
])
def test_bad_configs_are_clear_errors(name, override):
    with pytest.raises(BenchmarkError):
        resolve_config(name, override)


def test_annealed_step_count_survives_a_checkpoint(make_trainer, tmp_path):
    from benchmark.run.folder import RunFolder

    trainer = make_trainer(tmp_path, name="annealed-vae", anneal_steps=6)
    result = trainer.fit()
    assert int(trainer.model.steps_done) == result.steps == 9  # 3 epochs x 3 steps
    fresh = build_model("annealed-vae", resolve_config("annealed-vae", {"z_dim": 3, "anneal_steps": 6}), (1, 8, 8))
    RunFolder(tmp_path).load(fresh, "last", torch.device("cpu"))
    assert int(fresh.steps_done) == 9 and fresh.capacity == 25.0
