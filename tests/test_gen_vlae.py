"""VLAE (vaetc's vladderae): the latent split, the level-to-depth wiring, vaetc's layers at 64x64, the loss
against a direct evaluation and shapes at every suite image size."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from core.errors import BenchmarkError
from models import MODELS, build_model, prior_of, resolve_config
from models.base import standard_normal_nll
from models.generation import vlae as vl
from models.generation.vlae import VLAE, VLAEConfig, decoder_sizes, vlae_dims
from tests.model_checks import half_noise

SIZES = [(1, 28, 28), (3, 32, 32), (3, 64, 64)]

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(shape=(1, 28, 28), z_dim=8, seed=0):
    torch.manual_seed(seed)
    return VLAE(VLAEConfig(z_dim=z_dim), shape)


def test_latent_split_follows_vaetc():
    assert vlae_dims(64) == (16, 16, 16, 16)
    assert vlae_dims(8) == (2, 2, 2, 2)
    assert vlae_dims(10) == (2, 2, 2, 4)  # the remainder goes to the deepest level
    assert vlae_dims(4) == (1, 1, 1, 1)
    assert _model(z_dim=10).dims == (2, 2, 2, 4)


def test_decoder_sizes():
    assert decoder_sizes(64) == (8, 16, 32, 64)
    assert decoder_sizes(32) == (4, 8, 16, 32)
    assert decoder_sizes(28) == (4, 7, 14, 28)


def test_vaetc_layers_at_64():
    m = _model((3, 64, 64), z_dim=64)
    convs = [b[0] for b in m.encoder.blocks]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (3, 32, (4, 4), (2, 2)), (32, 32, (4, 4), (2, 2)), (32, 64, (4, 4), (2, 2)), (64, 64, (4, 4), (2, 2))]
    assert [f[2].in_features for f in m.encoder.features] == [512, 512, 1024, 1024]
    assert all(isinstance(f[0], nn.AdaptiveMaxPool2d) for f in m.encoder.features)
    assert m.decoder.top[0].in_features == 16 and m.decoder.top[0].out_features == 64 * 8 * 8
    assert [h[-1].output_size for h in m.decoder.headers] == [8, 16, 32]
    assert all(h[2].out_features == 64 * 8 * 8 for h in m.decoder.headers)
    ups = [u[0] for u in m.decoder.ups]
    assert [(u.in_channels, u.out_channels, u.kernel_size) for u in ups] == [(128, 32, (4, 4)), (96, 32, (4, 4)),
                                                                            (96, 3, (4, 4))]
    assert isinstance(m.decoder.ups[-1][1], nn.Sigmoid)
    assert all(isinstance(u[1], nn.LeakyReLU) and u[1].negative_slope == 0.2 for u in m.decoder.ups[:-1])
    assert not any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in m.modules())  # vaetc has no BN


@pytest.mark.parametrize("shape", SIZES)
def test_maps_along_the_ladder(shape):
    m = _model(shape)
    seen = []
    hooks = [mod.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:])))
             for mod in [*m.encoder.blocks, m.decoder.top, *m.decoder.headers, *m.decoder.ups]]
    with torch.no_grad():
        m.decode(m.encode(torch.rand(2, *shape)))
    for h in hooks:
        h.remove()
    side = shape[1]
    enc = [s[1] for s in seen[:4]]
    assert enc == {64: [32, 16, 8, 4], 32: [16, 8, 4, 2], 28: [14, 7, 3, 1]}[side]
    sizes = decoder_sizes(side)
    top, *rest = seen[4:]
    assert top == (64, sizes[0], sizes[0])
    # headers and ConvTs interleave: header(z_3) at sizes[0], ConvT to sizes[1], header(z_2) at sizes[1], ...
    assert [s[1] for s in rest] == [sizes[0], sizes[1], sizes[1], sizes[2], sizes[2], sizes[3]]
    assert rest[-1] == shape


def test_each_level_comes_from_its_depth_and_goes_to_its_depth():
    m = _model(z_dim=8).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        mu = m.encode(x)
        deeper = copy.deepcopy(m)
        for block in deeper.encoder.blocks[1:]:
            block[0].weight.add_(0.1)
        mu2 = deeper.encode(x)
    assert torch.equal(mu[:, :2], mu2[:, :2])  # z_1 reads the first conv only
    assert not torch.equal(mu[:, 2:], mu2[:, 2:])
    inputs = {}
    for name, mod in [("top", m.decoder.top), *[(f"h{j}", h) for j, h in enumerate(m.decoder.headers)]]:
        mod.register_forward_hook(lambda _m, inp, _o, name=name: inputs.__setitem__(name, inp[0]))
    z = torch.randn(3, 8)
    with torch.no_grad():
        m.decode(z)
    assert torch.equal(inputs["top"], z[:, 6:8])  # z_4, deepest, starts the decoder
    assert torch.equal(inputs["h0"], z[:, 4:6])  # z_3 at the smallest map
    assert torch.equal(inputs["h1"], z[:, 2:4])
    assert torch.equal(inputs["h2"], z[:, 0:2])  # z_1, shallowest, at the largest map


def test_loss_matches_a_direct_evaluation(monkeypatch):
    monkeypatch.setattr(vl, "gaussian_sample", half_noise)
    m = _model().double()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = m.terms(x)
    mu, logvar = m.encoder(x)
    x_hat = m.decoder(mu + 0.5 * torch.exp(0.5 * logvar))
    recon = sum(0.5 * sum((a - b) ** 2 for a, b in zip(x[i].flatten().tolist(), x_hat[i].flatten().tolist(),
                                                        strict=True)) for i in range(4)) / 4
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1).mean().item()
    assert got["recon"].item() == pytest.approx(recon, rel=1e-10)
    assert got["kl"].item() == pytest.approx(kl, rel=1e-10)
    assert got["loss"].item() == pytest.approx(recon + kl, rel=1e-10)


@pytest.mark.parametrize("shape", SIZES[:2])
def test_train_batch_returns_finite_terms(shape):
    m = _model(shape)
    opt = m.build_optimizers()
    before = copy.deepcopy(m.state_dict())
    for _ in range(2):
        terms = m.train_batch(torch.rand(4, *shape), opt)
        assert set(terms) == {"loss", "recon", "kl"} and all(math.isfinite(v) for v in terms.values()), terms
    assert all(not torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert math.isfinite(m.eval_batch(torch.rand(4, *shape))["loss"])


@pytest.mark.parametrize("shape", SIZES)
def test_shapes_at_every_suite_size(shape):
    z_dim = 64 if shape[1] == 64 else 8
    m = _model(shape, z_dim).eval()
    x = torch.rand(3, *shape)
    with torch.no_grad():
        assert torch.equal(m.encode(x, "mean"), m.encoder(x)[0])
        assert m.encode(x, "sample").shape == (3, z_dim)
        for rep in ("mean", "sample"):
            out = m.reconstruct(x, rep)
            assert out.shape == (3, *shape) and out.min() >= 0 and out.max() <= 1
        torch.manual_seed(4)
        z = m.sample_prior(2)
        torch.manual_seed(4)
        assert torch.equal(z, torch.randn(2, z_dim))  # vaetc's VAE prior, N(0, I)
        assert m.generate(2).shape == (2, *shape)
        torch.testing.assert_close(m.ood_score(x), standard_normal_nll(m.encode(x)))


def test_config_and_image_validation():
    for bad in ({"z_dim": 3}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            VLAEConfig(**bad)
        with pytest.raises(BenchmarkError):
            resolve_config("vlae", bad)
    with pytest.raises(ValueError, match="side >= 16"):
        VLAE(VLAEConfig(z_dim=8), (1, 8, 8))
    with pytest.raises(ValueError, match="square"):
        VLAE(VLAEConfig(z_dim=8), (1, 32, 28))


def test_registry_and_no_mode():
    assert MODELS.get("vlae").cls is VLAE
    cfg = resolve_config("vlae")
    assert (cfg.z_dim, cfg.lr) == (64, 1e-4)
    assert prior_of("vlae", cfg) == ("normal", "-")
    assert build_model("vlae", resolve_config("vlae", {"z_dim": 8}), (1, 28, 28)).prior_sampler == "normal"
