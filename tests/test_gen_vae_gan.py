"""VAE-GAN as vaetc's models/vaegan.py: the feature and GAN losses, the cancelled decoder adversarial gradient
(paper) against Larsen et al.'s per-network update (fixed), the discriminator's batches, resume."""

import copy
from functools import partial

import pytest
import torch
from torch import nn

from core.errors import BenchmarkError
from models import resolve_config
from models.generation.vae_gan import VAEGAN, feature_loss, gan_loss
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
make = maker("vae-gan", z_dim=3)


def gan_by_hand(lp_real, lp_rec, lp_prior):
    """-1/B sum_b [log D(x) + log(1 - D(x_hat)) + log(1 - D(x_p))], D = P(real) = exp of column 1."""
    d, dr, dp = lp_real[:, 1].exp(), lp_rec[:, 1].exp(), lp_prior[:, 1].exp()
    rows = [torch.log(d[b]) + torch.log(1 - dr[b]) + torch.log(1 - dp[b]) for b in range(len(d))]
    return -sum(rows) / len(rows)


def test_feature_loss_is_the_mean_over_layers_of_half_the_squared_error_summed_per_image():
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 2, 4, 4), (3, 5, 2, 2), (3, 1, 1, 1)]
    h = [torch.randn(s, generator=g) for s in shapes]
    h_hat = [torch.randn(s, generator=g) for s in shapes]
    total = 0.0
    for b in range(3):
        per_layer = []
        for a, c in zip(h, h_hat, strict=True):
            per_layer.append(0.5 * sum((float(u) - float(v)) ** 2 for u, v in zip(a[b].flatten(), c[b].flatten(),
                                                                                  strict=True)))
        total += sum(per_layer) / len(per_layer)
    assert float(feature_loss(h, h_hat)) == pytest.approx(total / 3, rel=1e-6)


def test_gan_loss_by_hand():
    lps = [log_probs(5, s) for s in (1, 2, 3)]
    torch.testing.assert_close(gan_loss(*lps), gan_by_hand(*lps))


@pytest.mark.parametrize(("shape", "blocks", "head"), [((3, 64, 64), 4, 1024), ((3, 32, 32), 4, 256),
                                                        ((1, 28, 28), 4, 64), ((1, 8, 8), 3, 64)])
def test_the_discriminator_is_vaetcs_and_fits_small_images(shape, blocks, head):
    model = make(shape=shape)
    d = model.discriminator
    assert len(d.blocks) == blocks
    for block, width in zip(d.blocks, (32, 64, 64, 64), strict=False):
        conv, act, bn = block
        assert isinstance(conv, nn.Conv2d) and conv.out_channels == width and conv.stride == (2, 2)
        assert isinstance(act, nn.SiLU) and isinstance(bn, nn.BatchNorm2d)  # SiLU, then BN
    assert [(m.in_features, m.out_features) for m in d.head if isinstance(m, nn.Linear)] == [(head, 256), (256, 2)]
    d.eval()
    feats, logp = d(torch.rand(2, *shape))
    assert len(feats) == blocks
    torch.testing.assert_close(logp.exp().sum(dim=1), torch.ones(2))


def test_three_optimizers_with_vaetcs_rates():
    model = make()
    opts = model.build_optimizers()
    ids = {k: {id(p) for g in o.param_groups for p in g["params"]} for k, o in opts.items()}
    assert ids == {"enc": {id(p) for p in model.encoder.parameters()},
                   "dec": {id(p) for p in model.decoder.parameters()},
                   "disc": {id(p) for p in model.discriminator.parameters()}}
    for k in ("enc", "dec"):
        assert opts[k].defaults["lr"] == 1e-4 and opts[k].defaults["betas"] == (0.9, 0.999)
    assert opts["disc"].defaults["lr"] == 1e-3 and opts["disc"].defaults["betas"] == (0.5, 0.9)


def terms_by_hand(net, x):
    """One forward of vaetc's VAEGAN.forward on ``net`` (noise in its order) and the terms, directly."""
    mu, logvar = net.encoder(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    x_hat = net.decoder(z)
    x_p = net.decoder(torch.randn_like(z))
    h, lp = net.discriminator(x)
    h_hat, lp_hat = net.discriminator(x_hat)
    _, lp_p = net.discriminator(x_p)
    pix = 0.5 * ((x - x_hat) ** 2).sum(dim=(1, 2, 3)).mean()
    kl = (0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(dim=1)).mean()
    feat = sum(0.5 * ((a - b) ** 2).flatten(1).sum(dim=1) for a, b in zip(h, h_hat, strict=True)).mean() / len(h)
    return {"pix": pix, "kl": kl, "feat": feat, "gan": gan_by_hand(lp, lp_hat, lp_p)}


def zero_lr(model):
    return {k: torch.optim.SGD(getattr(model, n).parameters(), lr=0.0)
            for k, n in (("enc", "encoder"), ("dec", "decoder"), ("disc", "discriminator"))}


def grads(loss, module):
    return torch.autograd.grad(loss, list(module.parameters()), retain_graph=True, allow_unused=True)


def assert_grads(module, want):
    """Each parameter's gradient as wanted, up to float noise on the scale of the module's largest gradient
    (biases just before a BatchNorm have a gradient of zero up to that noise)."""
    want = [torch.zeros_like(p) if g is None else g for p, g in zip(module.parameters(), want, strict=True)]
    atol = 1e-5 * max(float(g.abs().max()) for g in want)
    for (k, p), g in zip(module.named_parameters(), want, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=atol, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_terms_and_the_gradient_each_network_receives(mode):
    beta, gamma = 0.5, 1.5
    model = make(mode=mode, beta=beta, gamma=gamma)
    x = batches(1)[0]
    twin = copy.deepcopy(model).train()
    torch.manual_seed(3)
    t = terms_by_hand(twin, x)
    pix, kl, feat, gan = t["pix"], t["kl"], t["feat"], t["gan"]
    adversarial = grads(gan, twin.decoder)
    assert max(float(g.abs().max()) for g in adversarial) > 1e-3  # the decoder does receive a GAN signal to cancel
    if mode == "paper":  # vaetc's accumulation: enc gets L_enc + L_dec + L_disc, dec gets L_dec + L_disc
        enc_loss, dec_loss = pix + feat + beta * kl, gamma * (pix + feat) - gan
        want_enc = grads((1 + gamma) * (pix + feat) + beta * kl, twin.encoder)
        want_dec = grads(gamma * (pix + feat), twin.decoder)
    else:  # Larsen et al.: each network's own loss
        enc_loss, dec_loss = beta * kl + feat, gamma * feat - gan
        want_enc = grads(beta * kl + feat, twin.encoder)
        want_dec = grads(gamma * feat - gan, twin.decoder)
    want_disc = grads(gan, twin.discriminator)

    torch.manual_seed(3)
    out = model.train_batch(x, zero_lr(model))
    want = {"loss": pix + feat + kl + gan, "recon": pix, "feature": feat, "kl": kl, "gan": gan, "enc": enc_loss,
            "dec": dec_loss}
    assert out == pytest.approx({k: v.item() for k, v in want.items()}, rel=1e-5)
    assert_grads(model.encoder, want_enc)
    assert_grads(model.decoder, want_dec)
    assert_grads(model.discriminator, want_disc)


def test_paper_decoder_gradient_is_that_of_gamma_times_pixel_plus_feature_alone():
    """The brief's pin in its own words, at the default weights: the GAN term leaves the decoder untouched."""
    model = make()
    x = batches(1)[0]
    twin = copy.deepcopy(model).train()
    torch.manual_seed(7)
    t = terms_by_hand(twin, x)
    want = grads(t["pix"] + t["feat"], twin.decoder)
    torch.manual_seed(7)
    model.train_batch(x, zero_lr(model))
    assert_grads(model.decoder, want)


def bn_counts(module):
    return {int(m.num_batches_tracked) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def test_the_discriminator_sees_data_reconstructions_and_prior_samples_as_three_batches():
    model = make()
    model.train_batch(batches(1)[0], model.build_optimizers())
    assert bn_counts(model.discriminator) == {3}
    assert bn_counts(model.encoder) == {1} and bn_counts(model.decoder) <= {2}


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_steps_move_every_network_and_validation_changes_nothing(mode):
    model = make(mode=mode)
    opts = model.build_optimizers()
    before = copy.deepcopy(model)
    model.train_batch(batches(1)[0], opts)
    for name in ("encoder", "decoder", "discriminator"):
        moved = [not torch.equal(a, b) for a, b in zip(getattr(before, name).parameters(),
                                                        getattr(model, name).parameters(), strict=True)]
        assert all(moved), name
    x = batches(2)[1]
    twin = copy.deepcopy(model).eval()
    with torch.no_grad():
        torch.manual_seed(2)
        t = terms_by_hand(twin, x)
    state = copy.deepcopy(model.state_dict())
    torch.manual_seed(2)
    out = model.eval_batch(x)
    assert out["loss"] == pytest.approx(float(t["pix"] + t["feat"] + t["kl"] + t["gan"]), rel=1e-5)
    assert out["feature"] == pytest.approx(float(t["feat"]), rel=1e-5)
    assert_same_state(state, model.state_dict())


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_resumed_run_ends_as_an_uninterrupted_one(mode):
    assert_resumes(partial(make, mode=mode), train_then_validate(batches(6), seed=30), 6, 3)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_training_gives_finite_terms_and_the_model_samples_decodes_and_reconstructs(shape, mode):
    keys = {"loss", "recon", "feature", "kl", "gan", "enc", "dec"}
    assert_trains_and_has_every_shape(make(shape=shape, z_dim=4, mode=mode), shape, keys)


def test_modes_and_config():
    model = make()
    assert isinstance(model, VAEGAN) and VAEGAN.mode_of(model.config) == "paper"
    assert VAEGAN.mode_of(resolve_config("vae-gan", {"mode": "fixed"})) == "fixed"
    cfg = resolve_config("vae-gan")
    assert (cfg.lr, cfg.lr_disc, cfg.beta, cfg.gamma, cfg.z_dim, cfg.batchnorm) == (1e-4, 1e-3, 1.0, 1.0, 64, True)
    for bad in ({"mode": "textbook"}, {"lr_disc": 0.0}, {"gamma": -1.0}, {"beta": -0.5}, {"disc_betas": [1.0, 0.9]}):
        with pytest.raises(BenchmarkError, match="vae-gan"):
            resolve_config("vae-gan", bad)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_the_trainer_resumes_a_crashed_run_to_the_uninterrupted_state(tmp_path, make_trainer, crash_on_step, mode):
    assert_trainer_resumes(tmp_path, make_trainer, crash_on_step, "vae-gan", mode=mode)
