"""Guided-VAE: the z split, the deformable-PCA branch against a brute-force warp, every loss term, resume."""

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from models import build_model, resolve_config
from models.generation.guided_vae import GuidedVAE, GuidedVAEConfig, basis_orthogonality, split_dims
from tests.model_checks import assert_resumes, assert_trains_and_has_every_shape, bilinear, follow_plan

SHAPE = (1, 8, 8)  # tiny images for the checks; the suites' sizes in test_train_batch_and_shapes


def _model(shape=SHAPE, seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("z_dim", 4)
    kw.setdefault("z_def_dim", 2)
    return GuidedVAE(GuidedVAEConfig(**kw), shape)


def _x(b=4, shape=SHAPE, seed=1):
    return torch.rand(b, *shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- the z split


def test_shipped_split_and_the_small_z_fallback():
    cfg = resolve_config("guided-vae")
    assert (cfg.z_dim, cfg.z_def_dim, cfg.lr, cfg.batchnorm) == (64, 32, 1e-4, True)
    model = build_model("guided-vae", cfg, (3, 64, 64))
    assert (model.z_def_dim, model.z_cont_dim) == (32, 32)
    assert model.dpca.bases.shape == (33, 3 * 64 * 64)  # 32 bases and the bias row
    assert split_dims(64, 10) == (10, 54)  # a feasible z_def_dim is used as given
    assert split_dims(16, 32) == (8, 8) and split_dims(8, 32) == (4, 4) and split_dims(2, 32) == (1, 1)
    assert split_dims(5, 5) == (2, 3)
    with pytest.raises(ValueError, match="z_dim must be >= 2"):
        GuidedVAEConfig(z_dim=1)
    for bad in ({"z_def_dim": 0}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            GuidedVAEConfig(**bad)
    with pytest.raises(ValueError):
        split_dims(1, 1)
    assert GuidedVAE.mode_of(cfg) == "-"  # no modes: vaetc follows the published objective


# ----------------------------------------------------------------------------- loss terms


def test_basis_orthogonality_by_a_loop():
    b = torch.randn(5, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    want = sum(float(b[i] @ b[j]) ** 2 for i in range(5) for j in range(5) if i != j)
    assert basis_orthogonality(b).item() == pytest.approx(want, rel=1e-12)
    q, _ = torch.linalg.qr(torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert basis_orthogonality(q.T).item() == pytest.approx(0.0, abs=1e-12)  # (sum - trace: rounding ~1e-16)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 6, 6)])
def test_deformable_pca_is_the_affine_warp_of_the_linear_appearance(shape):
    c, h, w = shape
    model = _model(shape=shape)
    theta = torch.tensor([[0.8, -0.3, 0.1], [0.2, 0.9, -0.25]])
    with torch.no_grad():  # the deformation MLP then outputs theta whatever z_def
        model.dpca.deform[4].weight.zero_()
        model.dpca.deform[4].bias.copy_(theta.flatten())
    g = torch.Generator().manual_seed(2)
    z_def, z_cont = torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g)
    with torch.no_grad():
        out = model.dpca(z_def, z_cont).numpy()
    bases = model.dpca.bases.detach().numpy()
    for b in range(2):
        appearance = (z_cont[b, 0].item() * bases[0] + z_cont[b, 1].item() * bases[1] + bases[2]).reshape(c, h, w)
        for i in range(h):
            for j in range(w):
                x, y = (2 * j + 1) / w - 1, (2 * i + 1) / h - 1
                sx, sy = theta.numpy() @ np.array([x, y, 1.0])
                for ch in range(c):
                    assert out[b, ch, i, j] == pytest.approx(bilinear(appearance[ch], sx, sy), abs=1e-5)


def test_every_loss_term_against_a_direct_evaluation():
    model = _model().eval()
    x = _x()
    torch.manual_seed(3)
    with torch.no_grad():
        terms = model.terms(x)
        torch.manual_seed(3)
        mu, logvar = model.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_hat = model.decoder(z)
        x_sub = model.dpca(z[:, :2], z[:, 2:])  # z_def first, z_cont after (guidedvae.py:72-73)
    recon = np.mean([0.5 * float(((x[b] - x_hat[b]) ** 2).sum()) for b in range(4)])
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1).mean().item()
    dpca = np.mean([float(((x[b] - x_sub[b]) ** 2).sum()) for b in range(4)])  # no 1/2 (guidedvae.py:75)
    bases = model.dpca.bases.detach().double()
    orth = sum(float(bases[i] @ bases[j]) ** 2 for i in range(3) for j in range(3) if i != j)
    assert terms["recon"].item() == pytest.approx(recon, rel=1e-5)
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-5)
    assert terms["dpca"].item() == pytest.approx(dpca, rel=1e-5)
    assert terms["orthogonality"].item() == pytest.approx(orth, rel=1e-4)
    assert terms["loss"].item() == pytest.approx(recon + kl + dpca + orth, rel=1e-5)  # all weights 1


def test_the_guidance_reaches_the_encoder_and_generation_uses_the_main_decoder():
    model = _model().train()
    x = _x()
    dpca = model.terms(x)["dpca"]
    grads = torch.autograd.grad(dpca, [model.encoder.mu.weight, model.dpca.bases, *model.decoder.parameters()],
                                allow_unused=True)
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0
    assert all(g is None for g in grads[2:])  # the branch never touches the main decoder
    model.eval()
    z = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(model.decode(z), model.decoder(z))
        assert torch.equal(model.encode(x, "mean"), model.encoder(x)[0])
    opt_params = {id(p) for p in model.build_optimizers()["main"].param_groups[0]["params"]}
    assert {id(p) for p in model.dpca.parameters()} <= opt_params


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_train_batch_and_shapes(shape):
    model = _model(shape=shape)
    assert_trains_and_has_every_shape(model, shape, {"loss", "recon", "kl", "dpca", "orthogonality"})
    assert model.diagnostics() == {"z_def_dim": 2, "z_cont_dim": 2}


def test_a_resumed_run_ends_as_an_uninterrupted_one():
    assert_resumes(_model, follow_plan([_x(seed=step) for step in range(4)], "tttt", seed=300), 4, 2, seed=9)
