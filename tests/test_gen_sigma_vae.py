"""sigma-VAE: vaetc's (a plain VAE, sigma* only logged) and Rybkin et al.'s optimal-sigma likelihood."""

import copy
import math
from functools import partial

import pytest
import torch

from core.errors import BenchmarkError
from models import resolve_config
from models.generation.sigma_vae import SigmaVAE, gaussian_nll, optimal_log_sigma, softclip
from models.vae import VAE, VAEConfig
from tests.model_checks import (
    SHAPE,
    assert_resumes,
    assert_trainer_resumes,
    assert_trains_and_has_every_shape,
    batches,
    follow_plan,
    maker,
)

make = maker("sigma-vae", z_dim=3)


def test_softclip_and_the_optimal_sigma_by_hand():
    assert float(softclip(torch.tensor(0.0), -6.0)) == pytest.approx(-6 + math.log(1 + math.exp(6)), abs=1e-6)
    assert float(softclip(torch.tensor(-30.0), -6.0)) == pytest.approx(-6.0, abs=1e-9)
    x, x_hat = torch.rand(2, 1, 3, 3), torch.rand(2, 1, 3, 3)
    diffs = [(float(a) - float(b)) ** 2 for a, b in zip(x.flatten(), x_hat.flatten(), strict=True)]
    log_rmse = math.log(math.sqrt(sum(diffs) / len(diffs)))
    want = -6 + math.log1p(math.exp(log_rmse + 6))
    assert float(optimal_log_sigma(x, x_hat, -6.0)) == pytest.approx(want, rel=1e-6)
    assert float(optimal_log_sigma(x, x, -6.0)) == pytest.approx(-6.0, abs=1e-6)  # exact fit: the soft floor


def test_gaussian_nll_against_a_loop_and_torch_distributions():
    x, x_hat, log_sigma = torch.rand(3, 2, 2, 2), torch.rand(3, 2, 2, 2), torch.tensor(-1.3)
    s = math.exp(-1.3)
    per_image = []
    for i in range(3):
        total = 0.0
        for a, b in zip(x[i].flatten(), x_hat[i].flatten(), strict=True):
            total += (float(a) - float(b)) ** 2 / (2 * s * s) + math.log(s) + 0.5 * math.log(2 * math.pi)
        per_image.append(total)
    assert float(gaussian_nll(x, x_hat, log_sigma)) == pytest.approx(sum(per_image) / 3, rel=1e-6)
    dist = torch.distributions.Normal(x_hat, s)
    want = -dist.log_prob(x).flatten(1).sum(1).mean()
    torch.testing.assert_close(gaussian_nll(x, x_hat, log_sigma), want)


def test_paper_loss_is_the_vae_loss_on_the_same_weights_and_batch():
    model = make()
    vae = VAE(VAEConfig(z_dim=3), SHAPE)
    missing, unexpected = vae.load_state_dict(model.state_dict(), strict=False)
    assert missing == [] and unexpected == ["log_sigma"]
    x = batches(1)[0]
    for train in (True, False):
        model.train(train), vae.train(train)
        torch.manual_seed(5)
        got = model.terms(x)
        torch.manual_seed(5)
        want = vae.terms(x)
        for k in ("loss", "recon", "kl"):
            assert torch.equal(got[k], want[k]), k
    # and one training step moves both to the same weights
    opt_m, opt_v = model.build_optimizers(), vae.build_optimizers()
    torch.manual_seed(6)
    model.train_batch(x, opt_m)
    torch.manual_seed(6)
    vae.train_batch(x, opt_v)
    for k, v in vae.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_paper_keeps_sigma_star_of_the_last_training_batch_and_reports_it_in_validation():
    model = make()
    opts = model.build_optimizers()
    x, x_val = batches(2)
    twin = copy.deepcopy(model).train()
    with torch.no_grad():
        torch.manual_seed(7)
        mu, logvar = twin.encoder(x)
        x_hat = twin.decoder(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    mse = float(((x - x_hat) ** 2).mean())
    log_sigma = -6 + math.log1p(math.exp(0.5 * math.log(mse) + 6))
    torch.manual_seed(7)
    out = model.train_batch(x, opts)
    assert float(model.log_sigma) == pytest.approx(log_sigma, rel=1e-5)
    assert out["sigma"] == pytest.approx(math.exp(log_sigma), rel=1e-5)
    assert out["equivalent_beta"] == pytest.approx(2 * math.exp(2 * log_sigma), rel=1e-5)
    stored = float(model.log_sigma)
    val = model.eval_batch(x_val)
    assert float(model.log_sigma) == stored and val["sigma"] == pytest.approx(math.exp(stored))


def test_fixed_loss_is_the_optimal_sigma_gaussian_likelihood_plus_kl():
    model = make(mode="fixed")
    x = batches(1)[0]
    for train in (True, False):
        model.train(train)
        twin = copy.deepcopy(model)
        with torch.no_grad():
            torch.manual_seed(8)
            mu, logvar = twin.encoder(x)
            x_hat = twin.decoder(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
        d = x[0].numel()
        mse = float(((x - x_hat) ** 2).mean())
        log_s = -6 + math.log1p(math.exp(0.5 * math.log(mse) + 6))
        sse = ((x - x_hat) ** 2).flatten(1).sum(1)
        recon = float((sse / (2 * math.exp(2 * log_s)) + d * log_s + d * 0.5 * math.log(2 * math.pi)).mean())
        kl = float((0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)).mean())
        torch.manual_seed(8)
        with torch.no_grad():
            got = model.terms(x)
        assert float(got["recon"]) == pytest.approx(recon, rel=1e-5)
        assert float(got["kl"]) == pytest.approx(kl, rel=1e-5)
        assert float(got["loss"]) == pytest.approx(recon + kl, rel=1e-5)
        assert float(got["sigma"]) == pytest.approx(math.exp(log_s), rel=1e-5)


def test_fixed_gradient_flows_through_sigma_star_as_in_rybkins_code():
    """sigma* is not detached; at the exact optimum its gradient vanishes, so only the soft floor adds any."""
    x, x_hat = torch.rand(4, 1, 3, 3), torch.rand(4, 1, 3, 3, requires_grad=True)
    gaussian_nll(x, x_hat, optimal_log_sigma(x, x_hat, -6.0)).backward()
    got = x_hat.grad.clone()
    x_hat.grad = None
    ls = optimal_log_sigma(x, x_hat, -6.0).detach()
    gaussian_nll(x, x_hat, ls).backward()
    floor = torch.sigmoid(torch.log(((x - x_hat) ** 2).mean().sqrt()) + 6)  # d softclip / d log sqrt(MSE)
    d = x[0].numel()
    # through sigma*: d/d log s of the batch-mean NLL, -SSE/(B s^2) + D, times d log s / d x_hat
    s2 = torch.exp(2 * ls)
    dnll_dls = -((x - x_hat) ** 2).flatten(1).sum(1).mean() / s2 + d
    dls_dxhat = floor * (x_hat - x) / ((x - x_hat) ** 2).sum()
    torch.testing.assert_close(got, x_hat.grad + (dnll_dls * dls_dxhat).detach(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_resumed_run_ends_as_an_uninterrupted_one(mode):
    whole, _ = assert_resumes(partial(make, mode=mode), follow_plan(batches(8), "ttetttet", seed=50), 8, 4)
    assert float(whole.log_sigma) != 0.0


@pytest.mark.parametrize("mode", ["paper", "fixed"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_training_gives_finite_terms_and_the_model_samples_decodes_and_reconstructs(shape, mode):
    keys = {"loss", "recon", "kl", "sigma", "equivalent_beta"}
    assert_trains_and_has_every_shape(make(shape=shape, z_dim=4, mode=mode), shape, keys)


def test_modes_and_configs():
    model = make()
    assert isinstance(model, SigmaVAE) and SigmaVAE.mode_of(model.config) == "paper"
    assert SigmaVAE.mode_of(resolve_config("sigma-vae", {"mode": "fixed"})) == "fixed"
    assert "log_sigma" in model.state_dict() and not any(p is model.log_sigma for p in model.parameters())
    for bad in ({"mode": "optimal"}, {"z_dim": 0}, {"lr": 0.0}):
        with pytest.raises(BenchmarkError, match="sigma-vae"):
            resolve_config("sigma-vae", bad)


def test_the_trainer_resumes_a_crashed_run_to_the_uninterrupted_state(tmp_path, make_trainer, crash_on_step):
    assert_trainer_resumes(tmp_path, make_trainer, crash_on_step, "sigma-vae", mode="fixed")
