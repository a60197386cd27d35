"""U-VITAE: the z split, the warp against a brute-force bilinear sampler, both modes' losses, resume."""

import math
from functools import partial

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from models import build_model, resolve_config
from models.generation.vitae import VITAE, VITAEConfig, identity_grid, split_dims, vaetc_identity_grid
from tests.model_checks import assert_resumes, assert_trains_and_has_every_shape, bilinear, follow_plan

SHAPE = (1, 8, 8)  # tiny images for the checks; the suites' sizes in test_train_batch_and_shapes


def _model(mode="paper", shape=SHAPE, seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("z_dim", 4)
    kw.setdefault("zp_dim", 3)
    return VITAE(VITAEConfig(mode=mode, **kw), shape)


def _x(b=4, shape=SHAPE, seed=1):
    return torch.rand(b, *shape, generator=torch.Generator().manual_seed(seed))


class _Fixed(torch.nn.Module):
    """An appearance decoder that returns a given image, whatever z_a."""

    def __init__(self, img):
        super().__init__()
        self.img = img

    def forward(self, za):
        return self.img


def _zero_field(model, bias=None):
    """Make the perspective net output a constant field: zero weights, ``bias`` (pre-tanh) or zero."""
    last = model.perspective[2]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.zeros_like(last.bias) if bias is None else bias)


# ----------------------------------------------------------------------------- the z split


def test_shipped_settings_leave_a_two_dimensional_appearance_code():
    cfg = resolve_config("u-vitae")
    assert (cfg.z_dim, cfg.zp_dim, cfg.num_samples, cfg.mode) == (64, 62, 4, "paper")
    model = build_model("u-vitae", cfg, (3, 64, 64))
    assert (model.zp_dim, model.za_dim) == (62, 2)
    assert model.appearance.fc[0].in_features == 2 and model.perspective[0].in_features == 62
    assert model.diagnostics() == {"zp_dim": 62, "za_dim": 2}


def test_small_z_caps_the_perspective_code_and_impossible_splits_are_clear_errors():
    assert split_dims(64, 62) == (62, 2)
    assert split_dims(16, 62) == (15, 1) and split_dims(8, 62) == (7, 1) and split_dims(2, 62) == (1, 1)
    assert split_dims(16, 10) == (10, 6)  # a feasible zp_dim is used as given
    model = build_model("u-vitae", resolve_config("u-vitae", {"z_dim": 8}), (1, 28, 28))
    assert (model.zp_dim, model.za_dim) == (7, 1)
    with pytest.raises(ValueError, match="z_dim must be >= 2"):
        VITAEConfig(z_dim=1)
    for bad in ({"zp_dim": 0}, {"mode": "vaetc"}, {"num_samples": 0}, {"displacement_grid": 1}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            VITAEConfig(**bad)
    with pytest.raises(ValueError):
        split_dims(1, 1)


# ----------------------------------------------------------------------------- the warp


def test_identity_grids_by_hand():
    g = vaetc_identity_grid(4).numpy()
    pos = np.linspace(-1, 1, 4)
    for i in range(4):
        for j in range(4):
            assert np.allclose(g[i, j], [pos[i], pos[j]])  # channel 0 (x) follows the row: vaetc's transpose
            centre = identity_grid(4)[i, j].numpy()
            assert np.allclose(centre, [(2 * j + 1) / 4 - 1, (2 * i + 1) / 4 - 1])


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_zero_displacement_samples_the_appearance_on_the_modes_grid(mode):
    size = 8
    model = _model(mode, shape=(1, size, size)).eval()
    _zero_field(model)
    img = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(3))
    model.appearance = _Fixed(img)
    with torch.no_grad():
        out = model.decode(torch.randn(2, 4))[:, 0].numpy()
    a = img[:, 0].numpy()
    if mode == "fixed":
        np.testing.assert_allclose(out, a, atol=1e-6)  # the exact identity
        return
    pos = np.linspace(-1, 1, size)
    for b in range(2):
        for i in range(size):
            for j in range(size):  # output (i, j) reads x = pos_i (a column), y = pos_j (a row)
                assert out[b, i, j] == pytest.approx(bilinear(a[b], pos[i], pos[j]), abs=1e-6)


def test_paper_grid_transposes_a_smooth_image():
    size = 32
    model = _model("paper", shape=(1, size, size)).eval()
    _zero_field(model)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    img = (xx * 0.8 + 0.1 * yy)[None, None]  # a ramp along x
    model.appearance = _Fixed(img)
    with torch.no_grad():
        out = model.decode(torch.randn(1, 4))[0, 0]
    assert (out - img[0, 0].T).abs().max() < 0.03 < (out - img[0, 0]).abs().max()


def test_displacement_moves_x_by_channel_zero_and_upsamples_with_aligned_corners():
    size, g = 8, 5
    model = _model("fixed", shape=(1, size, size)).eval()
    bias = torch.zeros(2 * g * g)
    bias[: g * g] = math.atanh(0.25)  # channel 0 (x): +0.25 everywhere; channel 1 (y): 0
    _zero_field(model, bias)
    img = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(4))
    model.appearance = _Fixed(img)
    with torch.no_grad():
        out = model.decode(torch.randn(1, 4))[0, 0].numpy()
    for i in range(size):
        for j in range(size):
            x, y = (2 * j + 1) / size - 1 + 0.25, (2 * i + 1) / size - 1
            assert out[i, j] == pytest.approx(bilinear(img[0, 0].numpy(), x, y), abs=1e-6)
    # a non-constant field: upsampled as UpsamplingBilinear2d (align_corners=True), by hand
    field = torch.randn(1, 2, g, g, generator=torch.Generator().manual_seed(5)).clamp(-2, 2)
    with torch.no_grad():
        model.perspective[2].bias.copy_(field.flatten())
        got = model.displacement(torch.zeros(1, 3))[0].numpy()  # (H, W, 2)
    coarse = np.tanh(field[0].numpy())
    for i in range(size):
        for j in range(size):
            v, u = i * (g - 1) / (size - 1), j * (g - 1) / (size - 1)
            v0, u0 = min(int(v), g - 2), min(int(u), g - 2)
            a, b = u - u0, v - v0
            want = ((1 - a) * (1 - b) * coarse[:, v0, u0] + a * (1 - b) * coarse[:, v0, u0 + 1]
                    + (1 - a) * b * coarse[:, v0 + 1, u0] + a * b * coarse[:, v0 + 1, u0 + 1])
            np.testing.assert_allclose(got[i, j], want, atol=1e-6)


# ----------------------------------------------------------------------------- loss


def _by_hand(model, x, seed):
    """(per-image per-sample 1/2 SSE (B, S), KL) with vaetc's RNG order: sample, decode, sample, decode..."""
    torch.manual_seed(seed)
    mu, logvar = model.encoder(x)
    rows = []
    for _ in range(model.config.num_samples):
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_hat = model.decode(z)
        rows.append([0.5 * float(((x[b] - x_hat[b]) ** 2).sum()) for b in range(len(x))])
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1).mean()
    return np.array(rows).T, kl


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_loss_terms_against_a_direct_evaluation(mode):
    model = _model(mode).eval()  # eval: BatchNorm by running statistics, so per-image decodes are comparable
    x = _x()
    torch.manual_seed(7)
    with torch.no_grad():
        terms = model.terms(x)
        per, kl = _by_hand(model, x, 7)
    # paper: vaetc sums the 4 samples' errors (vitae.py:93-96); fixed: their mean, the ELBO's estimate
    recon = per.sum(1).mean() if mode == "paper" else per.mean(1).mean()
    assert terms["recon"].item() == pytest.approx(recon, rel=1e-5)
    assert terms["kl"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(recon + kl.item(), rel=1e-5)
    assert terms["recon_per_sample"].item() == pytest.approx(per.mean(), rel=1e-5)


def test_paper_reconstruction_is_vaetcs_tile_view_sum():
    """vaetc tiles x over the samples, views (B, S, D), then its loss flattens each image's S rows into one."""
    model = _model("paper").eval()
    x = _x()
    torch.manual_seed(2)
    with torch.no_grad():
        recon = model.terms(x)["recon"]
        torch.manual_seed(2)
        mu, logvar = model.encoder(x)
        x2s = torch.stack([model.decode(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)) for _ in range(4)], 1)
    b = len(x)
    xs = x[:, None].tile(1, 4, 1, 1).view(b, 4, -1)
    vaetc = (0.5 * ((xs.reshape(b, -1) - x2s.reshape(b, -1)) ** 2).sum(-1)).mean()
    torch.testing.assert_close(recon, vaetc)


def test_each_sample_is_its_own_decoder_pass():
    model = _model(shape=(1, 16, 16)).train()
    bn = next(m for m in model.appearance.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = int(bn.num_batches_tracked)
    model.train_batch(_x(shape=(1, 16, 16)), model.build_optimizers())
    assert int(bn.num_batches_tracked) - before == 4


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_train_batch_and_shapes(shape, mode):
    model = _model(mode, shape=shape)
    assert_trains_and_has_every_shape(model, shape, {"loss", "recon", "kl", "recon_per_sample"})
    x = _x(shape=shape)
    with torch.no_grad():
        assert torch.equal(model.encode(x, "mean"), model.encoder(x)[0])
    assert VITAE.mode_of(model.config) == mode
    assert "base_grid" not in model.state_dict()  # a constant of the mode, rebuilt with the model


def test_registry_builds_at_z_dim_4_on_a_cifar_shape():
    model = build_model("u-vitae", resolve_config("u-vitae", {"z_dim": 4}), (3, 32, 32))
    assert (model.zp_dim, model.za_dim) == (3, 1)
    with torch.no_grad():
        assert model.eval().generate(2).shape == (2, 3, 32, 32)


def test_a_resumed_run_ends_as_an_uninterrupted_one():
    run = follow_plan([_x(seed=step) for step in range(4)], "tttt", seed=500)
    assert_resumes(partial(_model, "fixed"), run, 4, 2, seed=9)
