"""ALI/BiGAN as vaetc's models/ali.py: joint discriminator, its two losses, vaetc's alternating update (paper)
against the authors' simultaneous one (fixed), resume."""

import copy
from functools import partial

import pytest
import torch
from torch import nn

from core.errors import BenchmarkError
from models import resolve_config
from models.generation.ali import ALI, discriminator_loss, generator_loss
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
make = maker("ali", z_dim=3)


def d_loss_by_hand(lq, lp):
    """-1/B sum_b [log rho_q + log(1 - rho_p)], rho = P(encoder pair) = exp of column 1."""
    rows = [torch.log(lq[b, 1].exp()) + torch.log(1 - lp[b, 1].exp()) for b in range(len(lq))]
    return -sum(rows) / len(rows)


def g_loss_by_hand(lq, lp):
    """-1/B sum_b [log(1 - rho_q) + log rho_p]: the labels swapped."""
    rows = [torch.log(1 - lq[b, 1].exp()) + torch.log(lp[b, 1].exp()) for b in range(len(lq))]
    return -sum(rows) / len(rows)


def pairs_by_hand(net, x):
    """One forward of vaetc's ALI.forward on ``net`` (train or eval as set), noise in its order."""
    mu, logvar = net.encoder(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    z_p = torch.randn(len(x), z.shape[1])
    x_p = net.decoder(z_p)
    return net.discriminator(x, z), net.discriminator(x_p, z_p)


def test_losses_match_the_cross_entropies_by_hand():
    lq, lp = log_probs(5, 1), log_probs(5, 2)
    torch.testing.assert_close(discriminator_loss(lq, lp), d_loss_by_hand(lq, lp))
    torch.testing.assert_close(generator_loss(lq, lp), g_loss_by_hand(lq, lp))


@pytest.mark.parametrize(("shape", "widths"), [((3, 64, 64), (16, 32, 64, 128, 256, 512)),
                                               ((1, 28, 28), (64, 128, 256, 512)),
                                               ((3, 32, 32), (32, 64, 128, 256, 512))])
def test_the_discriminator_is_vaetcs_and_keeps_the_widest_convs_on_small_images(shape, widths):
    model = make(shape=shape, z_dim=64)
    d = model.discriminator
    convs = [m for m in d.image if isinstance(m, nn.Conv2d)]
    assert tuple(c.out_channels for c in convs) == widths and convs[0].in_channels == shape[0]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.image) == len(widths) - 1
    assert [m.p for m in d.image if isinstance(m, nn.Dropout2d)] == [0.2] + [0.5] * (len(widths) - 2)
    assert sum(isinstance(m, nn.SiLU) for m in d.image) == len(widths)
    linears = [(m.in_features, m.out_features) for m in [*d.code, *d.joint] if isinstance(m, nn.Linear)]
    assert linears == [(64, 512), (512, 512), (1024, 1024), (1024, 1024), (1024, 2)]
    assert [m.p for m in [*d.code, *d.joint] if isinstance(m, nn.Dropout)] == [0.2, 0.5, 0.5, 0.5]
    d.eval()
    out = d(torch.rand(3, *shape), torch.randn(3, 64))
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(3))  # log-probabilities of two classes


def test_optimizers_split_encoder_and_generator_from_the_discriminator():
    model = make()
    opts = model.build_optimizers()
    ids = {k: {id(p) for g in o.param_groups for p in g["params"]} for k, o in opts.items()}
    assert ids["main"] == {id(p) for p in [*model.encoder.parameters(), *model.decoder.parameters()]}
    assert ids["disc"] == {id(p) for p in model.discriminator.parameters()}
    for o in opts.values():
        assert o.defaults["lr"] == 1e-4 and o.defaults["betas"] == (0.5, 0.999)


def sgd(model, lr=1.0):
    main = [*model.encoder.parameters(), *model.decoder.parameters()]
    return {"main": torch.optim.SGD(main, lr=lr), "disc": torch.optim.SGD(model.discriminator.parameters(), lr=lr)}


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_step_updates_d_and_then_e_and_g_as_each_mode_says(mode):
    """paper: D steps, then E and G against the updated D on fresh noise; fixed: both from one forward."""
    model = make(mode=mode)
    x = batches(1)[0]
    twin = copy.deepcopy(model).train()
    d_params = list(twin.discriminator.parameters())
    g_params = [*twin.encoder.parameters(), *twin.decoder.parameters()]
    torch.manual_seed(5)
    pairs = pairs_by_hand(twin, x)
    loss_d = d_loss_by_hand(*pairs)
    grad_d = torch.autograd.grad(loss_d, d_params, retain_graph=True)
    if mode == "paper":
        with torch.no_grad():
            for p, g in zip(d_params, grad_d, strict=True):
                p -= g
        pairs = pairs_by_hand(twin, x)  # the updated D, the next noise in the stream
    loss_g = g_loss_by_hand(*pairs)
    grad_g = torch.autograd.grad(loss_g, g_params)

    before = copy.deepcopy(model)
    torch.manual_seed(5)
    out = model.train_batch(x, sgd(model))
    assert out["disc"] == pytest.approx(loss_d.item(), rel=1e-5)
    assert out["gen"] == pytest.approx(loss_g.item(), rel=1e-5)
    assert out["loss"] == pytest.approx(loss_d.item() + loss_g.item(), rel=1e-5)
    after_d = dict(model.discriminator.named_parameters())
    for (k, p), g in zip(before.discriminator.named_parameters(), grad_d, strict=True):
        torch.testing.assert_close(p.detach() - after_d[k].detach(), g, rtol=1e-4, atol=1e-6)
    after_g = [*model.encoder.parameters(), *model.decoder.parameters()]
    before_g = [*before.encoder.parameters(), *before.decoder.parameters()]
    for p0, p1, g in zip(before_g, after_g, grad_g, strict=True):
        torch.testing.assert_close(p0.detach() - p1.detach(), g, rtol=1e-4, atol=1e-6)
    # the generator loss reached E and G: the step moved them
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(before_g, after_g, strict=True))


def bn_counts(module):
    return [int(m.num_batches_tracked) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize(("mode", "passes"), [("paper", 2), ("fixed", 1)])
def test_batchnorm_sees_real_and_fake_pairs_as_separate_batches_in_each_pass(mode, passes):
    model = make(mode=mode)
    model.train_batch(batches(1)[0], model.build_optimizers())
    assert set(bn_counts(model.discriminator)) == {2 * passes}  # two calls a pass
    assert set(bn_counts(model.encoder)) == {passes} and set(bn_counts(model.decoder)) <= {passes}
    model.eval_batch(batches(1)[0])
    assert set(bn_counts(model.discriminator)) == {2 * passes}


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_validation_reports_both_losses_in_eval_mode_and_changes_nothing(mode):
    model = make(mode=mode)
    opts = model.build_optimizers()
    model.train_batch(batches(1)[0], opts)
    x = batches(2)[1]
    twin = copy.deepcopy(model).eval()
    with torch.no_grad():
        torch.manual_seed(8)
        pairs = pairs_by_hand(twin, x)
        loss_d = d_loss_by_hand(*pairs)
        loss_g = g_loss_by_hand(*(pairs_by_hand(twin, x) if mode == "paper" else pairs))
    state = copy.deepcopy(model.state_dict())
    torch.manual_seed(8)
    out = model.eval_batch(x)
    assert out == pytest.approx({"loss": float(loss_d + loss_g), "disc": float(loss_d), "gen": float(loss_g)},
                                rel=1e-5)
    assert_same_state(state, model.state_dict())


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_resumed_run_ends_as_an_uninterrupted_one(mode):
    assert_resumes(partial(make, mode=mode), train_then_validate(batches(6), seed=30), 6, 3)


@pytest.mark.parametrize("mode", ["paper", "fixed"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_training_gives_finite_terms_and_the_model_samples_decodes_and_reconstructs(shape, mode):
    assert_trains_and_has_every_shape(make(shape=shape, z_dim=4, mode=mode), shape, {"loss", "disc", "gen"})


def test_modes_and_config():
    model = make()
    assert isinstance(model, ALI) and ALI.mode_of(model.config) == "paper"
    assert ALI.mode_of(resolve_config("ali", {"mode": "fixed"})) == "fixed"
    cfg = resolve_config("ali")
    assert (cfg.lr, cfg.betas, cfg.z_dim, cfg.batchnorm) == (1e-4, (0.5, 0.999), 64, True)
    for bad in ({"betas": [0.5, 1.0]}, {"betas": [0.5]}, {"mode": "textbook"}):
        with pytest.raises(BenchmarkError, match="ali"):
            resolve_config("ali", bad)
    assert not hasattr(model, "terms")  # two updates per batch: no single loss to step on


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_the_trainer_resumes_a_crashed_run_to_the_uninterrupted_state(tmp_path, make_trainer, crash_on_step, mode):
    assert_trainer_resumes(tmp_path, make_trainer, crash_on_step, "ali", mode=mode)
