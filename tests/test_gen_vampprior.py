"""VampPrior VAE: vaetc's KL terms and sampler (paper) and the published ones (fixed), against loops."""

import copy
import math
from functools import partial

import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from core.errors import BenchmarkError
from models import resolve_config
from models.generation.vampprior import (
    VampPriorVAE,
    log_normal_diag,
    paper_posterior_term,
    paper_prior_term,
    vampprior_log_density,
)
from tests.model_checks import (
    SHAPE,
    assert_resumes,
    assert_trainer_resumes,
    assert_trains_and_has_every_shape,
    batches,
    follow_plan,
    maker,
)

L2PI = math.log(2 * math.pi)
make = maker("vampprior-vae", z_dim=3, num_pseudo_inputs=5)


def gaussians(b=4, k=3, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(b, d, generator=g, dtype=torch.float64),
            torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(k, d, generator=g, dtype=torch.float64),
            torch.randn(k, d, generator=g, dtype=torch.float64))


def lse(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def test_paper_terms_against_loops():
    z, mu, lv, mu_k, lv_k = gaussians()
    b, d = z.shape
    a_want, b_want = [], []
    for i in range(b):
        a_want.append(-0.5 * sum((z[i, j] - mu[i, j]) / math.exp(lv[i, j]) + lv[i, j] + L2PI for j in range(d)))
        per_dim = []
        for j in range(d):  # log-sum-exp over components per dimension, of the energy itself; no square
            per_dim.append(lse([float((z[i, j] - mu_k[k, j]) / math.exp(lv_k[k, j]) + lv_k[k, j] + L2PI)
                                for k in range(len(mu_k))]))
        b_want.append(-0.5 * sum(per_dim))
    torch.testing.assert_close(paper_posterior_term(z, mu, lv), torch.tensor(a_want, dtype=torch.float64))
    torch.testing.assert_close(paper_prior_term(z, mu_k, lv_k), torch.tensor(b_want, dtype=torch.float64))


def test_published_terms_against_torch_distributions():
    z, mu, lv, mu_k, lv_k = gaussians(k=4, d=3)
    posterior = Independent(Normal(mu, (0.5 * lv).exp()), 1)
    torch.testing.assert_close(log_normal_diag(z, mu, lv), posterior.log_prob(z))
    prior = MixtureSameFamily(Categorical(logits=torch.zeros(4, dtype=torch.float64)),
                              Independent(Normal(mu_k, (0.5 * lv_k).exp()), 1))
    torch.testing.assert_close(vampprior_log_density(z, mu_k, lv_k), prior.log_prob(z))


def test_the_paper_prior_term_is_linear_in_the_code():
    """Without the square the prior term has no maximum: moving z along -1 raises it without bound."""
    z, _, _, mu_k, lv_k = gaussians(k=1)
    step = -torch.ones_like(z)
    values = [paper_prior_term(z + t * step, mu_k, lv_k) for t in (0.0, 1.0, 2.0)]
    torch.testing.assert_close(values[2] - values[1], values[1] - values[0])
    assert bool((values[1] > values[0]).all())


def expected_terms(model, x, seed, mode):
    """The model's loss recomputed on a copy with the step's noise, from the direct formulas."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        if mode == "paper":  # two encoder passes: data, then pseudo-inputs
            mu, logvar = twin.encoder(x)
            mu_k, logvar_k = twin.encoder(twin.pseudo_inputs)
        else:  # one pass over both
            both_mu, both_logvar = twin.encoder(torch.cat([x, twin.pseudo_inputs]))
            mu, mu_k = both_mu[: len(x)], both_mu[len(x):]
            logvar, logvar_k = both_logvar[: len(x)], both_logvar[len(x):]
        torch.manual_seed(seed)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = float((0.5 * ((x - twin.decoder(z)) ** 2).flatten(1).sum(1)).mean())
    if mode == "paper":
        kl = paper_posterior_term(z, mu, logvar) - paper_prior_term(z, mu_k, logvar_k)
    else:
        post = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
        prior = MixtureSameFamily(Categorical(logits=torch.zeros(len(mu_k))),
                                  Independent(Normal(mu_k, (0.5 * logvar_k).exp()), 1))
        kl = post.log_prob(z) - prior.log_prob(z)
    return recon, float(kl.mean()), twin


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_the_loss_is_half_squared_error_plus_the_modes_kl_estimate(mode):
    model = make(mode=mode)
    x = batches(1)[0]
    for train in (True, False):
        model.train(train)
        recon, kl, twin = expected_terms(model, x, seed=3, mode=mode)
        torch.manual_seed(3)
        with torch.no_grad():
            got = model.terms(x)
        assert float(got["recon"]) == pytest.approx(recon, rel=1e-5)
        assert float(got["kl"]) == pytest.approx(kl, rel=1e-4, abs=1e-4)
        assert float(got["loss"]) == pytest.approx(recon + kl, rel=1e-4, abs=1e-4)
        if train:  # BatchNorm sees the pseudo-inputs as a second batch (paper) or in the data's batch (fixed)
            for name, buf in model.encoder.named_buffers():
                assert torch.equal(buf, dict(twin.encoder.named_buffers())[name]), name
                if name.endswith("num_batches_tracked"):
                    assert int(buf) == (2 if mode == "paper" else 1)


def test_pseudo_inputs_are_trained_by_the_main_optimizer():
    model = make()
    assert model.pseudo_inputs.shape == (5, *SHAPE)
    assert float(model.pseudo_inputs.detach().min()) >= 0 and float(model.pseudo_inputs.detach().max()) < 1
    opts = model.build_optimizers()
    assert any(p is model.pseudo_inputs for g in opts["main"].param_groups for p in g["params"])
    before = model.pseudo_inputs.detach().clone()
    model.train_batch(batches(1)[0], opts)
    assert not torch.equal(before, model.pseudo_inputs.detach())


class IndexEncoder(nn.Module):
    """Stub encoder: the posterior of pseudo-input k is N(10 k, e^-40), k read from the image's value."""

    def forward(self, x):
        k = x.flatten(1)[:, :1].expand(-1, 3)
        return 10 * k, torch.full_like(k, -40.0)


@pytest.mark.parametrize(("mode", "reached"), [("paper", {0, 1, 2}), ("fixed", {0, 1, 2, 3})])
def test_paper_sampling_never_reaches_the_last_pseudo_input(mode, reached):
    model = make(mode=mode, num_pseudo_inputs=4).eval()
    with torch.no_grad():
        model.pseudo_inputs.copy_(torch.arange(4.0)[:, None, None, None].expand(4, *SHAPE))
    model.encoder = IndexEncoder()
    torch.manual_seed(0)
    z = model.sample_prior(4000)
    assert z.shape == (4000, 3)
    k = torch.round(z / 10)
    assert torch.equal(k[:, :1].expand(-1, 3), k)
    assert set(k[:, 0].long().tolist()) == reached
    counts = torch.bincount(k[:, 0].long(), minlength=4)[: len(reached)]
    assert counts.min() > 4000 / len(reached) * 0.85  # uniform over the reachable components


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_sample_prior_draws_from_the_pseudo_input_posteriors_in_eval_mode(mode):
    model = make(mode=mode)
    model.train_batch(batches(1)[0], model.build_optimizers())
    model.eval()
    twin = copy.deepcopy(model)
    torch.manual_seed(11)
    got = model.sample_prior(7)
    torch.manual_seed(11)
    idx = torch.randint(0, 4 if mode == "paper" else 5, (7,))
    with torch.no_grad():
        mu_k, logvar_k = twin.encoder(twin.pseudo_inputs)
    want = mu_k[idx] + torch.exp(0.5 * logvar_k[idx]) * torch.randn(7, 3)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("mode", "components"), [("paper", 4), ("fixed", 5)])
def test_the_ood_score_is_the_nll_under_the_sampled_mixture(mode, components):
    model = make(mode=mode).eval()
    x = batches(1)[0]
    with torch.no_grad():
        z = model.encoder(x)[0]
        mu_k, logvar_k = model.encoder(model.pseudo_inputs)
    want = []
    for i in range(len(z)):
        logs = [float(Normal(mu_k[k], (0.5 * logvar_k[k]).exp()).log_prob(z[i]).sum()) for k in range(components)]
        want.append(-(lse(logs) - math.log(components)))
    torch.testing.assert_close(model.ood_score(x, "mean"), torch.tensor(want), rtol=1e-5, atol=1e-4)
    assert VampPriorVAE.ood_scorer == "vampprior_nll" and VampPriorVAE.prior_sampler == "vampprior"


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_resumed_run_ends_as_an_uninterrupted_one(mode):
    assert_resumes(partial(make, mode=mode), follow_plan(batches(8), "ttetttet", seed=50), 8, 4)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_training_gives_finite_terms_and_the_model_samples_decodes_and_reconstructs(shape, mode):
    model = make(shape=shape, z_dim=4, mode=mode, num_pseudo_inputs=6)
    assert_trains_and_has_every_shape(model, shape, {"loss", "recon", "kl"}, ood_representation="sample")


def test_modes_and_configs():
    cfg = resolve_config("vampprior-vae")
    assert cfg.num_pseudo_inputs == 500 and cfg.mode == "paper" and VampPriorVAE.mode_of(cfg) == "paper"
    assert VampPriorVAE.mode_of(resolve_config("vampprior-vae", {"mode": "fixed"})) == "fixed"
    resolve_config("vampprior-vae", {"mode": "fixed", "num_pseudo_inputs": 1})
    for bad in ({"mode": "vamp"}, {"num_pseudo_inputs": 1}, {"num_pseudo_inputs": 0}, {"z_dim": 0}):
        with pytest.raises(BenchmarkError, match="vampprior-vae"):
            resolve_config("vampprior-vae", bad)


def test_the_trainer_resumes_a_crashed_run_to_the_uninterrupted_state(tmp_path, make_trainer, crash_on_step):
    assert_trainer_resumes(tmp_path, make_trainer, crash_on_step, "vampprior-vae", num_pseudo_inputs=5)
