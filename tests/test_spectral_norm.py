"""The critic's spectral norm in ``official`` mode against a numpy power iteration and torch's old hook."""

import numpy as np
import pytest
import torch
from torch import nn

from models.gwae.critic import OfficialSpectralNorm, spectral_norm
from models.gwae.model import GWAE, GWAEConfig
from models.gwae.priors import PriorConfig


def np_power_iteration(w: np.ndarray, u: np.ndarray, v: np.ndarray, calls: int) -> tuple[float, np.ndarray]:
    """From the definition: per call v <- W^T u / |W^T u|, u <- W v / |W v|; sigma = u^T W v."""
    mat = w.reshape(len(w), -1)
    for _ in range(calls):
        v = mat.T @ u
        v = v / np.linalg.norm(v)
        u = mat @ v
        u = u / np.linalg.norm(u)
    sigma = float(u @ mat @ v)
    return sigma, w / sigma


def _fixed_vectors(module: nn.Module, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    h, w = module.weight.flatten(1).shape
    u, v = torch.randn(h, generator=gen), torch.randn(w, generator=gen)
    return u / u.norm(), v / v.norm()


@pytest.mark.parametrize("layer", [lambda: nn.Linear(7, 5), lambda: nn.Conv2d(3, 4, 4, 2, 1)], ids=["linear", "conv"])
@pytest.mark.parametrize("calls", [1, 2, 5])
def test_official_spectral_norm_equals_numpy_power_iteration(layer, calls):
    torch.manual_seed(0)
    module = layer()
    w0 = module.weight.detach().double().numpy().copy()
    u0, v0 = _fixed_vectors(module, seed=3)
    spectral_norm(module, "official")
    sn = module.parametrizations.weight[0]
    sn._u.copy_(u0)
    sn._v.copy_(v0)
    for _ in range(calls):
        weight = module.weight  # each access in training mode is one call
    sigma, expected = np_power_iteration(w0, u0.double().numpy(), v0.double().numpy(), calls)
    np.testing.assert_allclose(weight.detach().double().numpy(), expected, rtol=1e-5, atol=1e-6)
    mat = module.parametrizations.weight.original.detach().flatten(1)
    assert float(sn._u @ mat @ sn._v) == pytest.approx(sigma, rel=1e-5)


@pytest.mark.parametrize("calls", [1, 2, 5])
def test_official_spectral_norm_equals_torch_nn_utils_spectral_norm(calls):
    old_sn = getattr(nn.utils, "spectral_norm", None)
    if old_sn is None:
        pytest.skip("torch.nn.utils.spectral_norm is not importable in this torch")
    torch.manual_seed(0)
    ours, old = nn.Conv2d(2, 3, 4, 2, 1), nn.Conv2d(2, 3, 4, 2, 1)
    old.load_state_dict(ours.state_dict())
    torch.manual_seed(5)
    spectral_norm(ours, "official")
    torch.manual_seed(5)
    old_sn(old)
    sn = ours.parametrizations.weight[0]
    # same draws in the same order (u, then v) and no power iteration at construction
    torch.testing.assert_close(sn._u, old.weight_u)
    torch.testing.assert_close(sn._v, old.weight_v)
    x = torch.randn(4, 2, 8, 8)
    for _ in range(calls):
        y_ours, y_old = ours(x), old(x)
    torch.testing.assert_close(y_ours, y_old, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sn._u, old.weight_u, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sn._v, old.weight_v, rtol=1e-5, atol=1e-6)
    ours.eval()
    old.eval()
    torch.testing.assert_close(ours(x), old(x), rtol=1e-5, atol=1e-6)  # eval: no update
    torch.testing.assert_close(sn._u, old.weight_u, rtol=1e-5, atol=1e-6)


def test_official_spectral_norm_runs_no_iteration_in_eval_mode_and_no_gradient_through_u_v():
    torch.manual_seed(0)
    module = spectral_norm(nn.Linear(6, 4), "official")
    sn: OfficialSpectralNorm = module.parametrizations.weight[0]
    module.eval()
    u = sn._u.clone()
    module.weight.sum().backward()
    assert torch.equal(sn._u, u) and not sn._u.requires_grad
    assert module.parametrizations.weight.original.grad is not None


def test_modern_and_official_differ_after_one_call_from_the_same_initialisation():
    """The issue's symptom: the modern parametrization has already iterated at construction."""
    torch.manual_seed(0)
    a = spectral_norm(nn.Linear(64, 32), "official")
    torch.manual_seed(0)
    b = spectral_norm(nn.Linear(64, 32), "modern")
    assert not torch.allclose(a.weight, b.weight, rtol=1e-3)


def test_gwae_config_selects_the_spectral_norm_and_rejects_unknown_ones():
    torch.manual_seed(0)
    cfg = GWAEConfig(z_dim=4, prior=PriorConfig(name="gaussian_mixture"), critic_steps=1)
    official = GWAE(cfg, (1, 8, 8))
    modern = GWAE(GWAEConfig(**{**cfg.__dict__, "spectral_norm": "modern"}), (1, 8, 8))
    kinds = {type(m).__name__ for m in official.critic.modules()}
    assert "OfficialSpectralNorm" in kinds
    assert "OfficialSpectralNorm" not in {type(m).__name__ for m in modern.critic.modules()}
    with pytest.raises(ValueError, match="spectral_norm"):
        GWAEConfig(spectral_norm="newest")


@pytest.mark.parametrize("kind", ["official", "modern"])
def test_main_step_calls_the_critic_on_the_real_pair_first(kind):
    torch.manual_seed(0)
    model = GWAE(GWAEConfig(z_dim=4, critic_steps=0, spectral_norm=kind), (1, 8, 8))
    x = torch.rand(6, 1, 8, 8)
    seen = []
    model.critic.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    model.train_batch(x, model.build_optimizers())
    assert torch.equal(seen[0], x) and not torch.equal(seen[1], x)
