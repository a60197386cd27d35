"""Ladder VAE (vaetc's laddervae): loss terms against direct evaluations, each paper-mode quirk, the fixed
mode's published formulas, shapes at every suite image size and a checkpoint resume."""

import copy
import math
from functools import partial

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from core.errors import BenchmarkError
from models import MODELS, build_model, prior_of, resolve_config
from models.generation import ladder_vae as lv
from models.generation.ladder_vae import (
    LadderVAE,
    LadderVAEConfig,
    gaussian_nll,
    kl_gaussians,
    kl_paper,
    kl_to_standard,
    ladder_dims,
    merge_paper,
    merge_precision,
    warmup_beta,
)
from tests.model_checks import assert_resumes, batches, follow_plan, half_noise, resumed_run

SIZES = [(1, 28, 28), (3, 32, 32), (3, 64, 64)]
MODES = ["paper", "fixed"]

pytestmark = pytest.mark.usefixtures("one_thread")


def _gaussians(b=3, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, d, generator=g, dtype=torch.float64) for _ in range(4)]  # mu_hat, lh, mu_p, lp


def _model(mode="paper", shape=(1, 28, 28), seed=0, **kw):
    torch.manual_seed(seed)
    return LadderVAE(LadderVAEConfig(mode=mode, **{"z_dim": 8, **kw}), shape)


# ----------------------------------------------------------------------------- pure terms


def test_ladder_dims_follow_vaetc():
    assert ladder_dims(64, 3) == [21, 21, 22]
    assert ladder_dims(8, 3) == [2, 2, 4]
    assert ladder_dims(4, 3) == [1, 1, 2]
    assert _model().dims == [2, 2, 4]


def test_paper_merge_matches_a_loop_and_ignores_the_log_variances_in_the_variance():
    mh, lh, mp, lp = _gaussians()
    mu_q, logvar_q = merge_paper(mh, lh, mp, lp)
    for idx in [(i, j) for i in range(3) for j in range(4)]:
        a, la, b, lb = mh[idx].item(), lh[idx].item(), mp[idx].item(), lp[idx].item()
        want_lq = -math.log(math.exp(-b) + math.exp(-a))  # vaetc: -LSE(-mu_p, -mu_hat)
        assert logvar_q[idx].item() == pytest.approx(want_lq, rel=1e-12)
        want_mq = (a * math.exp(-la) + b * math.exp(-lb)) * math.exp(want_lq)
        assert mu_q[idx].item() == pytest.approx(want_mq, rel=1e-10)
    _, lq_other = merge_paper(mh, lh + 3.0, mp, lp - 2.0)
    assert torch.equal(lq_other, logvar_q)  # the quirk: the variance never sees a log-variance


def test_fixed_merge_is_the_precision_weighted_gaussian_product():
    mh, lh, mp, lp = _gaussians(seed=1)
    mu_q, logvar_q = merge_precision(mh, lh, mp, lp)
    for idx in [(i, j) for i in range(3) for j in range(4)]:
        vh, vp = math.exp(lh[idx].item()), math.exp(lp[idx].item())
        var = 1.0 / (1.0 / vh + 1.0 / vp)
        assert math.exp(logvar_q[idx].item()) == pytest.approx(var, rel=1e-12)
        assert mu_q[idx].item() == pytest.approx(var * (mh[idx].item() / vh + mp[idx].item() / vp), rel=1e-10)


def test_fixed_kl_is_the_gaussian_kl():
    mq, lq, mp, lp = _gaussians(seed=2)
    want = kl_divergence(Normal(mq, torch.exp(0.5 * lq)), Normal(mp, torch.exp(0.5 * lp))).sum(dim=1)
    torch.testing.assert_close(kl_gaussians(mq, lq, mp, lp), want, rtol=1e-12, atol=1e-12)


def test_fixed_kl_stays_finite_where_a_collapsed_prior_variance_overflows_e_to_the_minus_lp():
    # A level collapsed onto its prior: tiny variances (lp down to -120), q within rounding of p. e^-lp alone
    # is inf in float32; the KL itself is small, and must come out as float64 computes it.
    lp = torch.tensor([[-120.0, -95.0, -60.0]], dtype=torch.float64)
    lq = lp - torch.tensor([[0.01, 0.2, 0.0]], dtype=torch.float64)
    mp = torch.tensor([[0.0, -1.0, 2.0]], dtype=torch.float64)  # the first gap survives float32: (dmu e^60)^2 = 1/4
    mq = mp + torch.exp(0.5 * lp) * torch.tensor([[0.5, -1.0, 0.1]], dtype=torch.float64)
    mq, lq, mp, lp = (t.float() for t in (mq, lq, mp, lp))
    assert torch.isinf(torch.exp(-lp)).any()
    got = kl_gaussians(mq, lq, mp, lp)
    q, p = (Normal(m.double(), torch.exp(0.5 * v.double())) for m, v in ((mq, lq), (mp, lp)))
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), kl_divergence(q, p).sum(dim=1), rtol=1e-5, atol=1e-6)


def test_paper_kl_matches_vaetcs_expression_and_lacks_the_half():
    mq, lq, mp, lp = _gaussians(seed=3)
    got = kl_paper(mq, lq, mp, lp)
    for i in range(3):
        want = sum((lp[i, d] - lq[i, d]).item() + (math.exp(lq[i, d].item()) + (mq[i, d] - mp[i, d]).item() ** 2) / 2
                   * math.exp(-lp[i, d].item()) - 0.5 for d in range(4))
        assert got[i].item() == pytest.approx(want, rel=1e-12)
    torch.testing.assert_close(got - kl_gaussians(mq, lq, mp, lp), 0.5 * (lp - lq).sum(dim=1))


def test_top_kl_and_prior_density_match_torch_distributions():
    mu, logvar, z, _ = _gaussians(seed=4)
    std = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    want = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), std).sum(dim=1)
    torch.testing.assert_close(kl_to_standard(mu, logvar), want)
    torch.testing.assert_close(gaussian_nll(z, mu, logvar), -Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1))


def test_warmup_beta_is_linear_then_one():
    assert [warmup_beta(p, 0.25) for p in (0.0, 0.125, 0.25, 0.9, 1.0)] == [0.0, 0.5, 1.0, 1.0, 1.0]


# ----------------------------------------------------------------------------- the whole loss


def _hand_terms(m: LadderVAE, x, mode):
    """Every term from the submodules, with eps = 1/2 and merge/KL written out here (3 levels)."""
    e = m.enc_blocks
    d = [e[0](x)]
    d += [e[1](d[0])]
    d += [e[2](d[1])]
    mh = [m.enc_means[i](d[i]) for i in range(3)]
    lh = [m.enc_logvars[i](d[i]) for i in range(3)]
    mq, lq, mp, lp, z = {2: mh[2]}, {2: lh[2]}, {}, {}, {}
    z[2] = half_noise(mq[2], lq[2])
    for i in (1, 0):
        h = m.top_down[i](z[i + 1])
        mp[i], lp[i] = m.prior_means[i](h), m.prior_logvars[i](h)
        if mode == "paper":
            lq[i] = -torch.log(torch.exp(-mp[i]) + torch.exp(-mh[i]))
        else:
            lq[i] = -torch.log(torch.exp(-lp[i]) + torch.exp(-lh[i]))
        mq[i] = (mh[i] * torch.exp(-lh[i]) + mp[i] * torch.exp(-lp[i])) * torch.exp(lq[i])
        z[i] = half_noise(mq[i], lq[i])
    z0 = half_noise(mp[0], lp[0]) if mode == "paper" else z[0]
    recon = 0.5 * (x - m.decoder(z0)).pow(2).flatten(1).sum(1).mean()
    half = 1.0 if mode == "paper" else 0.5
    kl_ladder = sum(
        (half * (lp[i] - lq[i]) + (lq[i].exp() + (mq[i] - mp[i]) ** 2) / (2 * lp[i].exp()) - 0.5).sum(1)
        for i in (0, 1)
    ).mean()
    kl_top = (0.5 * (mq[2] ** 2 + lq[2].exp() - lq[2] - 1)).sum(1).mean()
    other_z0 = z[0] if mode == "paper" else half_noise(mp[0], lp[0])
    other_recon = 0.5 * (x - m.decoder(other_z0)).pow(2).flatten(1).sum(1).mean()
    return recon, kl_ladder, kl_top, other_recon


@pytest.mark.parametrize("mode", MODES)
def test_loss_terms_match_a_hand_evaluation(mode, monkeypatch):
    monkeypatch.setattr(lv, "gaussian_sample", half_noise)
    m = _model(mode, total_steps=33).double().train()
    m.steps_done.fill_(4)  # progress 4 / 32 = 1/8, so the warm-up beta is 1/2
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    got = m.terms(x)
    recon, kl_ladder, kl_top, other_recon = _hand_terms(m, x, mode)
    assert got["beta"].item() == 0.5
    for key, want in (("recon", recon), ("kl_ladder", kl_ladder), ("kl_top", kl_top)):
        assert got[key].item() == pytest.approx(want.item(), rel=1e-10), key
    assert got["loss"].item() == pytest.approx((recon + 0.5 * (kl_ladder + kl_top)).item(), rel=1e-10)
    assert abs(other_recon.item() - recon.item()) > 1e-6  # the decoder input really differs between the modes


def test_paper_mode_shares_the_deterministic_layers_and_fixed_does_not():
    paper, fixed = _model("paper"), _model("fixed")
    assert paper.enc_blocks[1] is paper.enc_blocks[2]
    assert fixed.enc_blocks[1] is not fixed.enc_blocks[2]
    four = _model("paper", num_layers=4)
    assert four.enc_blocks[1] is four.enc_blocks[2] is four.enc_blocks[3]
    shared = sum(p.numel() for p in paper.enc_blocks[1].parameters())
    total = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert total(fixed) - total(paper) == shared
    fresh = _model("paper", seed=1)
    fresh.load_state_dict(paper.state_dict())  # the shared block's two state_dict keys load into one module
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), paper.state_dict().values(),
                                                  strict=True))


def test_vaetc_architecture_at_64():
    m = _model("paper", (3, 64, 64), z_dim=64)
    convs = [mod for mod in m.enc_blocks[0] if isinstance(mod, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 8), (8, 16), (16, 32), (32, 64), (64, 128)]
    linear = [mod for mod in m.enc_blocks[0] if isinstance(mod, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linear] == [(512, 256)]
    assert all(isinstance(h[1], torch.nn.BatchNorm1d) for h in [*m.enc_means, *m.enc_logvars])
    assert m.decoder[0].in_features == 21 and m.decoder[0].out_features == 64 * 4 * 4
    convts = [mod for mod in m.decoder if isinstance(mod, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convts] == [(64, 32), (32, 16), (16, 8), (8, 3)]
    assert isinstance(m.decoder[-1], torch.nn.Sigmoid)
    assert [td[0].in_features for td in m.top_down] == [21, 22]  # p(z_0 | z_1) and p(z_1 | z_2)
    no_bn = _model("paper", batchnorm=False)
    assert not any(isinstance(mod, torch.nn.BatchNorm1d) for mod in no_bn.modules())


# ----------------------------------------------------------------------------- generation and codes


def test_paper_prior_samples_are_conditional_means_of_a_standard_normal_top():
    m = _model("paper").eval()
    torch.manual_seed(3)
    z = m.sample_prior(5)
    torch.manual_seed(3)
    top = torch.randn(5, m.dims[-1])
    z0, z1, z2 = m.split(z)
    assert torch.equal(z2, top)
    with torch.no_grad():
        torch.testing.assert_close(z1, m.prior_means[1](m.top_down[1](z2)), rtol=0, atol=0)
        torch.testing.assert_close(z0, m.prior_means[0](m.top_down[0](z1)), rtol=0, atol=0)
    torch.manual_seed(3)
    again = m.sample_prior(5)
    assert torch.equal(again, z)  # a deterministic function of z_top


def test_fixed_prior_samples_are_ancestral():
    m = _model("fixed").eval()
    torch.manual_seed(3)
    z0, z1, z2 = m.split(m.sample_prior(256))
    with torch.no_grad():
        mu, logvar = m.conditional(1, z2)
    eps = (z1 - mu) / torch.exp(0.5 * logvar)
    assert abs(eps.mean().item()) < 0.1 and abs(eps.std().item() - 1) < 0.1  # standardised: N(0, 1) noise


def test_decode_reads_level_zero_only_and_generation_runs_down_the_ladder():
    m = _model("paper").eval()
    z = torch.randn(3, 8)
    other = z.clone()
    other[:, 2:] = torch.randn(3, 6)
    with torch.no_grad():
        assert torch.equal(m.decode(z), m.decode(other))
        assert torch.equal(m.decode(z), m.decoder(z[:, :2]))
    torch.manual_seed(0)
    images = m.generate(4)
    torch.manual_seed(0)
    assert torch.equal(images, m.decode(m.sample_prior(4)))


def test_mean_code_is_a_noise_free_pass(monkeypatch):
    m = _model("fixed").eval()
    x = torch.rand(4, 1, 28, 28)

    def no_noise(mu, logvar):
        raise AssertionError("the mean pass must not sample")

    monkeypatch.setattr(lv, "gaussian_sample", no_noise)
    with torch.no_grad():
        code = m.encode(x, "mean")
        p = m.ladder(x, sample=False)
    torch.testing.assert_close(code, torch.cat(p.mu_q, dim=1), rtol=0, atol=0)
    torch.testing.assert_close(p.z[1], p.mu_q[1], rtol=0, atol=0)  # each level's mean is fed down


@pytest.mark.parametrize("mode", MODES)
def test_sample_code_paper_resamples_the_merged_gaussians_fixed_keeps_the_pass(mode, monkeypatch):
    calls = []

    def recorded(mu, logvar):
        calls.append((mu, logvar))
        return half_noise(mu, logvar)

    monkeypatch.setattr(lv, "gaussian_sample", recorded)
    m = _model(mode).eval()
    with torch.no_grad():
        code = m.encode(torch.rand(4, 1, 28, 28), "sample")
    ladder = calls[:3]  # z_2, z_1, z_0 of the pass
    if mode == "paper":  # vaetc's encode_gauss then reparameterize: one more, independent, sample of all levels
        assert len(calls) == 4
        mu, logvar = calls[3]
        torch.testing.assert_close(mu, torch.cat([ladder[2][0], ladder[1][0], ladder[0][0]], dim=1))
        torch.testing.assert_close(code, half_noise(mu, logvar))
    else:
        assert len(calls) == 3
        torch.testing.assert_close(code, torch.cat([half_noise(*c) for c in ladder[::-1]], dim=1))


def test_ood_score_is_the_hierarchical_prior_nll():
    m = _model("paper").double().eval()
    z = torch.randn(5, 8, dtype=torch.float64)
    with torch.no_grad():
        want = -Normal(0.0, 1.0).log_prob(z[:, 4:]).sum(1)
        for i, (lo, hi) in enumerate([(0, 2), (2, 4)]):
            above = z[:, hi: hi + (2 if i == 0 else 4)]
            mu, logvar = m.conditional(i, above)
            want = want - Normal(mu, torch.exp(0.5 * logvar)).log_prob(z[:, lo:hi]).sum(1)
        torch.testing.assert_close(m.prior_nll(z), want)
        x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
        torch.testing.assert_close(m.ood_score(x), m.prior_nll(m.encode(x, "mean")))


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_shapes_at_every_suite_size(mode, shape):
    z_dim = 64 if shape[1] == 64 else 8
    m = _model(mode, shape, z_dim=z_dim)
    m.train()
    m.terms(torch.rand(4, *shape))  # train mode once, so the BN running statistics exist as in real use
    m.eval()
    x = torch.rand(3, *shape)
    with torch.no_grad():
        for rep in ("mean", "sample"):
            assert m.encode(x, rep).shape == (3, z_dim)
            out = m.reconstruct(x, rep)
            assert out.shape == (3, *shape) and out.min() >= 0 and out.max() <= 1
        assert m.sample_prior(2).shape == (2, z_dim)
        assert m.generate(2).shape == (2, *shape)
        assert m.ood_score(x).shape == (3,)


@pytest.mark.parametrize("shape", SIZES[:2])
@pytest.mark.parametrize("mode", MODES)
def test_train_batch_returns_finite_terms_and_counts_steps(mode, shape):
    m = _model(mode, shape)
    opt = m.build_optimizers()
    before = copy.deepcopy(m.state_dict())
    for _ in range(2):
        terms = m.train_batch(torch.rand(4, *shape), opt)
        assert set(terms) == {"loss", "recon", "kl", "kl_ladder", "kl_top", "beta"}
        assert all(math.isfinite(v) for v in terms.values()), terms
    assert int(m.steps_done) == 2
    assert any(not torch.equal(v, before[k]) for k, v in m.state_dict().items() if v.is_floating_point())
    val = m.eval_batch(torch.rand(4, *shape))
    assert val["beta"] == 1.0 and math.isfinite(val["loss"])


def test_warmup_follows_the_step_budget():
    m = _model("paper", total_steps=9, warmup_fraction=0.25)  # progress k / 8, beta min(1, k / 2)
    opt = m.build_optimizers()
    x = torch.rand(4, 1, 28, 28)
    betas = [m.train_batch(x, opt)["beta"] for _ in range(3)]
    assert betas == [0.0, 0.5, 1.0]
    assert m.eval_batch(x)["beta"] == 1.0
    m.steps_done.fill_(50)
    assert m.progress == 1.0
    off = _model("paper", warmup=False)
    assert off.train_batch(x, off.build_optimizers())["beta"] == 1.0
    assert _model("paper", total_steps=1).progress == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_checkpoint_resume_equals_an_uninterrupted_run(mode):
    make = partial(_model, mode, total_steps=6, warmup_fraction=1.0)
    run = follow_plan(batches(5, shape=(1, 28, 28), b=4, seed=7), "ttttt", seed=100)
    whole, resumed = assert_resumes(make, run, 5, 2)
    assert int(resumed.steps_done) == int(whole.steps_done) == 5
    # the schedule lives in the checkpoint: losing the step counter changes the run
    lost = resumed_run(make, run, 5, 2, after_load=lambda m: m.steps_done.zero_())
    a = whole.state_dict()
    assert not all(torch.equal(a[k], lost.state_dict()[k]) for k in a if a[k].is_floating_point())


# ----------------------------------------------------------------------------- config and registry


@pytest.mark.parametrize("bad", [
    {"mode": "vaetc"}, {"num_layers": 1}, {"z_dim": 2}, {"warmup_fraction": 0.0}, {"warmup_fraction": 1.5},
    {"total_steps": 0}, {"lr": 0.0},
])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        LadderVAEConfig(**bad)
    with pytest.raises(BenchmarkError):
        resolve_config("ladder-vae", bad)


def test_registry_defaults_and_mode_labels():
    assert MODELS.get("ladder-vae").cls is LadderVAE
    cfg = resolve_config("ladder-vae")
    assert (cfg.z_dim, cfg.num_layers, cfg.batchnorm, cfg.warmup, cfg.lr) == (64, 3, True, True, 1e-4)
    assert cfg.total_steps == 100 * 2544
    assert prior_of("ladder-vae", cfg) == ("ladder", "paper")
    fixed = resolve_config("ladder-vae", {"mode": "fixed", "z_dim": 8})
    assert prior_of("ladder-vae", fixed) == ("ladder", "fixed")
    assert build_model("ladder-vae", fixed, (1, 28, 28)).prior_sampler == "ladder-ancestral"
    assert _model("paper").prior_sampler == "ladder-means"
