"""AVB as vaetc's models/avb.py: the discriminator's KL estimate, the untrained noise network (paper) against the
trained one (fixed), the evaluation sample, the update order, resume."""

import copy
from functools import partial

import pytest
import torch
from torch import nn

from core.errors import BenchmarkError
from models import resolve_config
from models.generation.avb import AdversarialVariationalBayes, discriminator_loss, kl_estimate
from tests.model_checks import (
    assert_resumes,
    assert_same_state,
    assert_trainer_resumes,
    assert_trains_and_has_every_shape,
    batches,
    log_probs,
    maker,
    train_then_validate,
)

pytestmark = pytest.mark.usefixtures("one_thread")
make = maker("avb", z_dim=3)


def half_sse_by_hand(x, x_hat):
    total = 0.0
    for i in range(len(x)):
        total = total + 0.5 * sum((a - b) ** 2 for a, b in zip(x[i].flatten(), x_hat[i].flatten(), strict=True))
    return total / len(x)


def kl_by_hand(logp):
    """mean_b log((1 - D) / D), D = P(prior code) = exp of column 1."""
    d = logp[:, 1].exp()
    return sum(torch.log((1 - d[b]) / d[b]) for b in range(len(d))) / len(d)


def disc_by_hand(logp_real, logp_fake):
    """-1/B sum_b [log D(x, z_prior) + log(1 - D(x, z_posterior))]."""
    dr, df = logp_real[:, 1].exp(), logp_fake[:, 1].exp()
    return -sum(torch.log(dr[b]) + torch.log(1 - df[b]) for b in range(len(dr))) / len(dr)


def test_kl_estimate_and_discriminator_loss_by_hand():
    lp, lq = log_probs(5, 1), log_probs(5, 2)
    torch.testing.assert_close(kl_estimate(lq), kl_by_hand(lq))
    torch.testing.assert_close(discriminator_loss(lp, lq), disc_by_hand(lp, lq))


def test_networks_are_vaetcs_at_64x64_and_shrink_for_small_images():
    model = make(shape=(3, 64, 64), z_dim=64)
    d = model.discriminator
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 64)] + [(64, 64)] * 5
    assert all(c.padding_mode == "replicate" and c.stride == (2, 2) for c in convs)
    assert [m.p for m in d.features if isinstance(m, nn.Dropout2d)] == [0.2, 0.5, 0.5, 0.5, 0.5]
    assert sum(isinstance(m, nn.ReLU) for m in d.features) == 6
    assert [(m.in_features, m.out_features) for m in d.logits if isinstance(m, nn.Linear)] == [
        (128, 256), (256, 256), (256, 2)]  # 64 image features + the raw 64-d code
    g = list(model.noise.net)
    assert [(m.in_features, m.out_features) for m in g if isinstance(m, nn.Linear)] == [(64, 256), (256, 256),
                                                                                          (256, 64)]
    assert sum(isinstance(m, nn.SiLU) for m in g) == 3 and isinstance(g[-1], nn.BatchNorm1d) and not g[-1].affine
    small = make(shape=(1, 28, 28))
    assert sum(isinstance(m, nn.Conv2d) for m in small.discriminator.features) == 4  # 28 -> 14 -> 7 -> 3 -> 1


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_optimizers_and_where_the_noise_network_is(mode):
    model = make(mode=mode)
    opts = model.build_optimizers()
    ids = {k: {id(p) for g in o.param_groups for p in g["params"]} for k, o in opts.items()}
    main = [*model.encoder.parameters(), *model.decoder.parameters()]
    noise = {id(p) for p in model.noise.parameters()}
    assert noise  # g has weights to train
    if mode == "paper":
        assert ids["main"] == {id(p) for p in main} and not noise & (ids["main"] | ids["disc"])
    else:
        assert ids["main"] == {id(p) for p in main} | noise
    assert ids["disc"] == {id(p) for p in model.discriminator.parameters()}
    assert opts["main"].defaults["lr"] == 1e-4 and opts["main"].defaults["betas"] == (0.9, 0.999)
    assert opts["disc"].defaults["lr"] == 1e-3 and opts["disc"].defaults["betas"] == (0.5, 0.9)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_paper_never_changes_the_noise_weights_and_fixed_trains_them(mode):
    model = make(mode=mode)
    opts = model.build_optimizers()
    before = copy.deepcopy(model.noise.state_dict())
    for x in batches(2):
        model.train_batch(x, opts)
    after = model.noise.state_dict()
    weights = [k for k in before if "running" not in k and "num_batches" not in k]
    assert weights
    changed = {k for k in weights if not torch.equal(before[k], after[k])}
    assert changed == (set() if mode == "paper" else set(weights))
    assert not torch.equal(before["net.6.running_mean"], after["net.6.running_mean"])  # its BN moves in both


def sgd(model, lr=1.0):
    return {"main": torch.optim.SGD(model.main_parameters(), lr=lr),
            "disc": torch.optim.SGD(model.discriminator.parameters(), lr=lr)}


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_step_is_the_main_update_then_the_discriminator_on_the_pre_update_code(mode):
    model = make(mode=mode, beta=0.5)
    x = batches(1)[0]
    twin = copy.deepcopy(model).train()
    main = twin.main_parameters()
    torch.manual_seed(4)
    mu, logvar = twin.encoder(x)
    z = mu + torch.exp(0.5 * logvar) * twin.noise(torch.randn_like(mu))
    recon = half_sse_by_hand(x, twin.decoder(z))
    kl = kl_by_hand(twin.discriminator(x, z))
    grad_main = torch.autograd.grad(recon + 0.5 * kl, main)
    z_real = torch.randn_like(z)
    logp_fake = twin.discriminator(x, z.detach())  # vaetc: the posterior code first, then the prior code
    loss_disc = disc_by_hand(twin.discriminator(x, z_real), logp_fake)
    grad_disc = torch.autograd.grad(loss_disc, list(twin.discriminator.parameters()))

    before = copy.deepcopy(model)
    torch.manual_seed(4)
    out = model.train_batch(x, sgd(model))
    want = {"loss": recon.item() + 0.5 * kl.item(), "recon": recon.item(), "kl": kl.item(), "disc": loss_disc.item()}
    assert out == pytest.approx(want, rel=1e-5, abs=1e-6)
    for p0, p1, g in zip(before.main_parameters(), model.main_parameters(), grad_main, strict=True):
        torch.testing.assert_close(p0.detach() - p1.detach(), g, rtol=1e-4, atol=1e-6)
    for p0, p1, g in zip(before.discriminator.parameters(), model.discriminator.parameters(), grad_disc, strict=True):
        torch.testing.assert_close(p0.detach() - p1.detach(), g, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_the_evaluation_sample_is_gaussian_in_paper_and_the_trained_posterior_in_fixed(mode):
    model = make(mode=mode)
    model.train_batch(batches(1)[0], model.build_optimizers())
    model.eval()
    x = batches(2)[1]
    with torch.no_grad():
        mu, logvar = model.encoder(x)
        torch.manual_seed(6)
        eps = torch.randn_like(mu)
        shaped = model.noise(eps)  # eval mode: g with its running statistics
    assert not torch.allclose(shaped, eps, atol=1e-3)
    want = mu + torch.exp(0.5 * logvar) * (eps if mode == "paper" else shaped)
    torch.manual_seed(6)
    torch.testing.assert_close(model.encode(x, "sample"), want)
    torch.testing.assert_close(model.encode(x, "mean"), mu)
    torch.manual_seed(6)
    torch.testing.assert_close(model.reconstruct(x, "sample"), model.decode(want))


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_validation_runs_both_passes_with_the_shaped_noise_and_changes_nothing(mode):
    model = make(mode=mode, beta=2.0)
    model.train_batch(batches(1)[0], model.build_optimizers())
    x = batches(2)[1]
    twin = copy.deepcopy(model).eval()
    with torch.no_grad():
        torch.manual_seed(9)
        mu, logvar = twin.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * twin.noise(torch.randn_like(mu))
        recon, kl = half_sse_by_hand(x, twin.decoder(z)), kl_by_hand(twin.discriminator(x, z))
        z_real = torch.randn_like(z)
        loss_disc = disc_by_hand(twin.discriminator(x, z_real), twin.discriminator(x, z))
    state = copy.deepcopy(model.state_dict())
    torch.manual_seed(9)
    out = model.eval_batch(x)
    want = {"loss": float(recon + 2.0 * kl), "recon": float(recon), "kl": float(kl), "disc": float(loss_disc)}
    assert out == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert_same_state(state, model.state_dict())


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_resumed_run_ends_as_an_uninterrupted_one(mode):
    whole, _ = assert_resumes(partial(make, mode=mode), train_then_validate(batches(6), seed=30), 6, 3)
    assert "noise.net.0.weight" in whole.state_dict()  # g's weights (other ones in the resumed model) are saved


@pytest.mark.parametrize("mode", ["paper", "fixed"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_training_gives_finite_terms_and_the_model_samples_decodes_and_reconstructs(shape, mode):
    assert_trains_and_has_every_shape(make(shape=shape, z_dim=4, mode=mode), shape, {"loss", "recon", "kl", "disc"})


def test_modes_and_config():
    model = make()
    assert isinstance(model, AdversarialVariationalBayes) and model.mode_of(model.config) == "paper"
    assert AdversarialVariationalBayes.mode_of(resolve_config("avb", {"mode": "fixed"})) == "fixed"
    cfg = resolve_config("avb")
    assert (cfg.lr, cfg.lr_disc, cfg.beta, cfg.z_dim, cfg.batchnorm) == (1e-4, 1e-3, 1.0, 64, True)
    for bad in ({"mode": "textbook"}, {"lr_disc": 0.0}, {"beta": -1.0}, {"disc_betas": [0.5, 1.0]},
                {"betas": [0.9]}):
        with pytest.raises(BenchmarkError, match="avb"):
            resolve_config("avb", bad)
    assert not hasattr(model, "terms")  # two updates per batch: no single loss to step on


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_the_trainer_resumes_a_crashed_run_to_the_uninterrupted_state(tmp_path, make_trainer, crash_on_step, mode):
    assert_trainer_resumes(tmp_path, make_trainer, crash_on_step, "avb", mode=mode)
