"""Two-stage VAE: losses against direct evaluations, the stage schedule, both modes, dispatch, resume."""

import math
from functools import partial

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch.distributions import Normal, kl_divergence

from models import build_model, resolve_config
from models.generation.two_stage import (
    TwoStageVAE,
    TwoStageVAEConfig,
    gaussian_entropy,
    gaussian_nll,
    progress_at,
    stage_at,
)
from tests.model_checks import assert_resumes, follow_plan

SHAPE = (1, 28, 28)


def _model(mode="paper", shape=SHAPE, seed=0, **kw):
    torch.manual_seed(seed)
    return TwoStageVAE(TwoStageVAEConfig(mode=mode, z_dim=kw.pop("z_dim", 4), **kw), shape)


def _x(b=4, shape=SHAPE, seed=1):
    return torch.rand(b, *shape, generator=torch.Generator().manual_seed(seed))


def _params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _vaetc_stage(batch_index, total_steps):
    """vaetc/train.py:128-132 and twostagevae.py:217-220, in Python floats (progress clamped past the budget)."""
    progress = min(batch_index / max(1, total_steps - 1), 1.0)
    return 1 if progress < 1 / 2 else 2


# ----------------------------------------------------------------------------- schedule


def test_stage_switches_where_vaetcs_progress_crosses_one_half():
    for total in range(1, 40):
        for step in range(total + 3):
            assert stage_at(step, total) == _vaetc_stage(step, total), (step, total)
            assert progress_at(step, total) == pytest.approx(min(step / max(total - 1, 1), 1.0))
    total = 200 * 2544  # the shipped budget: stage 2 from global batch 254,400
    assert stage_at(254_399, total) == 1 and stage_at(254_400, total) == 2
    assert _vaetc_stage(254_399, total) == 1 and _vaetc_stage(254_400, total) == 2
    assert TwoStageVAEConfig().total_steps == total
    model = _model(total_steps=total)
    assert model.switch_step == 254_400
    for total in (1, 2, 5, 6, 7):
        first = next(s for s in range(total + 2) if stage_at(s, total) == 2)
        assert _model(total_steps=total).switch_step == first


def test_train_batch_follows_the_schedule_and_counts_steps():
    model = _model(total_steps=5)  # steps 0, 1 stage 1; 2.. stage 2 (2 * 2 >= 4)
    opts = model.build_optimizers()
    stages = [model.train_batch(_x(seed=s), opts)["stage"] for s in range(6)]
    assert stages == [1, 1, 2, 2, 2, 2]
    assert int(model.steps_done) == 6 and int(model.stage) == 2
    assert float(model.running_progress) == 1.0  # clamped past the budget


# ----------------------------------------------------------------------------- loss terms


def test_gaussian_nll_matches_scipy():
    g = torch.Generator().manual_seed(3)
    t, m = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)
    log_gamma = torch.tensor([-1.0, 0.0, 0.7], dtype=torch.float64)
    want = np.mean([-sum(norm.logpdf(t[b, d].item(), m[b, d].item(), math.exp(0.5 * log_gamma[b].item()))
                         for d in range(5)) for b in range(3)])
    assert gaussian_nll(t, m, log_gamma).item() == pytest.approx(want, rel=1e-12)
    logvar = torch.randn(3, 5, generator=g, dtype=torch.float64)
    want_h = np.mean([sum(norm.entropy(scale=math.exp(0.5 * lv)) for lv in row) for row in logvar.tolist()])
    assert gaussian_entropy(logvar).item() == pytest.approx(want_h, rel=1e-12)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_stage1_loss_is_the_gaussian_nll_with_learned_gamma_plus_kl(mode):
    model = _model(mode).train()
    if mode == "fixed":
        with torch.no_grad():
            model.gamma_x.log_gamma.fill_(0.3)
    x = _x()
    torch.manual_seed(5)
    terms = model.stage1_terms(x)
    torch.manual_seed(5)
    mu, logvar = model.enc1(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    x_hat = model.dec1(z).flatten(1)
    # paper: one variance per image, an MLP of z; fixed: the scalar
    log_gamma = model.gamma_x.net(z)[:, 0] if mode == "paper" else torch.full((len(x),), 0.3)
    nll = -Normal(x_hat, torch.exp(0.5 * log_gamma)[:, None]).log_prob(x.flatten(1)).sum(1).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(terms["recon"], nll, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(terms["kl"], kl, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms["loss"], nll + kl, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_stage2_loss_is_the_latent_vae_on_detached_first_stage_codes(mode):
    model = _model(mode).train()
    x = _x()
    torch.manual_seed(6)
    terms = model.stage2_terms(x)
    assert not any(p.grad is not None for p in model.enc1.parameters())
    torch.manual_seed(6)
    mu_z, logvar_z = model.enc1(x)
    z = (mu_z + torch.exp(0.5 * logvar_z) * torch.randn_like(mu_z)).detach()
    mu_u, logvar_u = model.enc2(z)
    u = mu_u + torch.exp(0.5 * logvar_u) * torch.randn_like(mu_u)
    h = torch.cat([model.dec2.trunk(u), u], 1)
    z_hat = model.dec2.mean(h)
    log_gamma = model.dec2.log_gamma(h)[:, 0] if mode == "paper" else model.dec2.log_gamma.log_gamma.expand(len(x))
    nll = -Normal(z_hat, torch.exp(0.5 * log_gamma)[:, None]).log_prob(z).sum(1).mean()
    kl = kl_divergence(Normal(mu_u, torch.exp(0.5 * logvar_u)), Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(terms["recon"], nll, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(terms["kl"], kl, rtol=1e-5, atol=1e-5)
    terms["loss"].backward()
    assert all(p.grad is None for p in [*model.enc1.parameters(), *model.dec1.parameters()])
    assert all(p.grad is not None for p in model.enc2.parameters())


def test_paper_mode_has_vaetc_develop_mays_per_sample_gamma_networks():
    model = _model("paper", z_dim=6)
    layers = [m for m in model.gamma_x.net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(6, 256), (256, 256), (256, 256), (256, 1)]
    assert isinstance(model.dec2.log_gamma, torch.nn.Linear)
    assert (model.dec2.log_gamma.in_features, model.dec2.log_gamma.out_features) == (256 + 6, 1)
    z = torch.randn(5, 6)
    assert model.gamma_x(z).shape == (5,) and model.gamma_x(z).unique().numel() == 5  # one gamma per image
    assert model.dec2(z)[1].unique().numel() == 5


def test_fixed_mode_has_scalar_gammas_starting_at_one():
    model = _model("fixed", z_dim=6)
    scalars = [p for p in model.parameters() if p.dim() == 0]
    assert len(scalars) == 2 and all(p.shape == () and p.item() == 0.0 for p in scalars)
    z = torch.randn(5, 6)
    assert torch.equal(model.gamma_x(z), torch.zeros(5)) and torch.equal(model.dec2(z)[1], torch.zeros(5))
    n_paper = sum(p.numel() for p in _model("paper", z_dim=6).parameters())
    n_fixed = sum(p.numel() for p in model.parameters())
    assert n_paper - n_fixed == (6 * 256 + 256 + 2 * (256 * 256 + 256) + 257) + (256 + 6 + 1) - 2


# ----------------------------------------------------------------------------- optimizers and stages


def test_exactly_one_stage_steps_and_stage2_still_moves_the_first_encoders_batchnorm():
    model = _model(total_steps=3)  # step 0: stage 1; steps 1, 2: stage 2
    opts = model.build_optimizers()
    s1 = [*model.enc1.parameters(), *model.dec1.parameters(), *model.gamma_x.parameters()]
    s2 = [*model.enc2.parameters(), *model.dec2.parameters()]
    assert {id(p) for g in opts["stage1"].param_groups for p in g["params"]} == {id(p) for p in s1}
    assert {id(p) for g in opts["stage2"].param_groups for p in g["params"]} == {id(p) for p in s2}
    assert len(s1) + len(s2) == len(list(model.parameters()))
    before1, before2 = _params(model.enc1), _params(model.enc2)
    model.train_batch(_x(), opts)  # stage 1
    assert any(not torch.equal(v, dict(model.enc1.named_parameters())[k]) for k, v in before1.items())
    assert all(torch.equal(v, dict(model.enc2.named_parameters())[k]) for k, v in before2.items())
    before1 = _params(model.enc1)
    bn = next(m for m in model.enc1.modules() if isinstance(m, torch.nn.BatchNorm2d))
    mean_before = bn.running_mean.clone()
    model.train_batch(_x(seed=2), opts)  # stage 2
    assert all(torch.equal(v, dict(model.enc1.named_parameters())[k]) for k, v in before1.items())
    assert not torch.equal(bn.running_mean, mean_before)  # vaetc: Enc1 runs in training mode in stage 2
    assert any(not torch.equal(v, dict(model.enc2.named_parameters())[k]) for k, v in before2.items())


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_train_batch_returns_finite_terms_in_both_stages(shape, mode):
    model = _model(mode, shape=shape, total_steps=2)
    opts = model.build_optimizers()
    for step in range(2):
        terms = model.train_batch(_x(shape=shape, seed=step), opts)
        assert terms["stage"] == step + 1
        assert {"loss", "recon", "kl", "log_gamma", "stage"} == set(terms)
        assert all(math.isfinite(v) for v in terms.values()), terms
        val = model.eval_batch(_x(shape=shape, seed=9))
        assert all(math.isfinite(v) for v in val.values()), val


# ----------------------------------------------------------------------------- validation loss


@pytest.mark.parametrize("val_loss", ["bound", "stage"])
def test_validation_loss_is_the_whole_models_bound_or_vaetcs_stage_loss(val_loss):
    model = _model(val_loss=val_loss)
    x = _x()
    torch.manual_seed(4)
    s1 = model.eval_batch(x)
    torch.manual_seed(4)
    assert s1["loss"] == s1["stage_loss"] == pytest.approx(model.stage1_terms(x)["loss"].item())
    model.stage.fill_(2)
    torch.manual_seed(8)
    s2 = model.eval_batch(x)
    torch.manual_seed(8)
    with torch.no_grad():  # by hand: -log p(x|z) - H[q(z|x)] + L_2(z) at one z ~ q(z|x)
        mu_z, logvar_z = model.enc1(x)
        z = mu_z + torch.exp(0.5 * logvar_z) * torch.randn_like(mu_z)
        mu_u, logvar_u = model.enc2(z)
        u = mu_u + torch.exp(0.5 * logvar_u) * torch.randn_like(mu_u)
        z_hat, lg_z = model.dec2(u)
        l2 = (-Normal(z_hat, torch.exp(0.5 * lg_z)[:, None]).log_prob(z).sum(1)
              + kl_divergence(Normal(mu_u, torch.exp(0.5 * logvar_u)), Normal(0.0, 1.0)).sum(1))
        lg_x = model.gamma_x(z)
        rec1 = -Normal(model.dec1(z).flatten(1), torch.exp(0.5 * lg_x)[:, None]).log_prob(x.flatten(1)).sum(1)
        entropy = Normal(mu_z, torch.exp(0.5 * logvar_z)).entropy().sum(1)
    assert s2["stage"] == 2 and s2["stage_loss"] == pytest.approx(l2.mean().item(), rel=1e-5)
    want = (rec1 - entropy + l2).mean().item() if val_loss == "bound" else l2.mean().item()
    assert s2["loss"] == pytest.approx(want, rel=1e-5)


def test_stage1_bound_is_the_same_bound_with_the_normal_prior_in_place_of_stage2():
    """KL(q || N(0, I)) = -H[q] + E_q[-log N(z)]: the stage-1 loss is the stage-2 bound with L_2 -> -log N(z)."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g,
                                                                                   dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(200_000, 3, 4, generator=g, dtype=torch.float64)
    cross = (-Normal(0.0, 1.0).log_prob(z)).sum(-1).mean(0).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1).mean()
    assert (cross - gaussian_entropy(logvar)).item() == pytest.approx(kl.item(), abs=0.02)


# ----------------------------------------------------------------------------- generation and encoding


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_decode_and_encode_dispatch_on_the_stage(shape):
    model = _model(shape=shape).eval()
    x, code = _x(shape=shape), torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(model.decode(code), model.dec1(code))
        assert torch.equal(model.encode(x, "mean"), model.enc1(x)[0])
        model.stage.fill_(2)
        assert torch.equal(model.decode(code), model.dec1(model.dec2.mean(torch.cat([model.dec2.trunk(code), code],
                                                                                     1))))
        assert torch.equal(model.encode(x, "mean"), model.enc2(model.enc1(x)[0])[0])
        prior = model.sample_prior(5)
        assert prior.shape == (5, 4) and prior.device == model.device
        assert model.generate(5).shape == (5, *shape)
        for rep in ("mean", "sample"):
            assert model.encode(x, rep).shape == (4, 4)
            assert model.reconstruct(x, rep).shape == x.shape
        torch.manual_seed(1)
        recon = model.reconstruct(x, "sample")
        torch.manual_seed(1)  # vaetc's PSNR path in stage 2: z ~ q(z|x), u ~ q(u|z), x = Dec1(Dec2(u))
        mu, logvar = model.enc1(x)
        mu_u, logvar_u = model.enc2(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
        u = mu_u + torch.exp(0.5 * logvar_u) * torch.randn_like(mu_u)
        torch.testing.assert_close(recon, model.dec1(model.dec2(u)[0]))
    with pytest.raises(ValueError, match="representation"):
        model.encode(x, "mode")


def test_config_is_validated_and_the_registry_builds_the_shipped_defaults():
    for bad in ({"mode": "vaetc"}, {"val_loss": "best"}, {"z_dim": 0}, {"total_steps": 0}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            TwoStageVAEConfig(**bad)
    cfg = resolve_config("two-stage-vae")
    assert (cfg.mode, cfg.z_dim, cfg.lr, cfg.batchnorm, cfg.total_steps) == ("paper", 64, 1e-4, True, 508_800)
    model = build_model("two-stage-vae", resolve_config("two-stage-vae", {"mode": "fixed", "z_dim": 3}), SHAPE)
    assert TwoStageVAE.mode_of(model.config) == "fixed"
    assert model.diagnostics() == {"stage": 1, "steps_done": 0, "stage2_from_step": 254_400}


# ----------------------------------------------------------------------------- checkpoint resume


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_resumed_run_across_the_stage_switch_ends_as_an_uninterrupted_one(mode):
    total, k = 6, 2  # stage 2 from step 3: the resumed part crosses the switch
    run = follow_plan([_x(seed=step) for step in range(total)], "t" * total, seed=1000)
    whole, resumed = assert_resumes(partial(_model, mode, total_steps=total), run, total, k, seed=123)
    assert {"steps_done", "running_progress", "stage"} <= set(whole.state_dict())  # the schedule is checkpointed
    assert int(resumed.stage) == 2 and int(resumed.steps_done) == total
