"""Prior samplers: parameter counts, batch standardisation, factorisation, the GMP modes."""

import pytest
import torch

from models.gwae.priors import PRIORS, GaussianMixturePrior, PriorConfig, build_prior


def test_parameter_counts_match_the_official_architectures():
    count = lambda p: sum(q.numel() for q in p.parameters())  # noqa: E731
    assert count(build_prior(64, PriorConfig("neural"))) == 164_672
    assert count(build_prior(64, PriorConfig("factorized_neural"))) == 53 * 64


@pytest.mark.parametrize("name", ["neural", "factorized_neural", "gaussian_mixture"])
def test_learned_priors_are_batch_standardized_in_training_mode(name):
    torch.manual_seed(0)
    prior = build_prior(6, PriorConfig(name)).train()
    seen = []
    prior.bn.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].detach().clone()) and None)
    z = prior(256)
    h = seen[0]
    expected = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + prior.bn.eps)
    torch.testing.assert_close(z, expected, atol=1e-4, rtol=1e-4)
    assert prior.bn.affine is False and prior.bn.momentum == 0.5


def test_factorized_prior_has_diagonal_jacobian_and_neural_prior_does_not():
    torch.manual_seed(1)
    eps = torch.randn(5)
    for name, diagonal in (("factorized_neural", True), ("neural", False)):
        prior = build_prior(5, PriorConfig(name)).eval()
        jac = torch.autograd.functional.jacobian(lambda e, p=prior: p.transform(e[None])[0], eps)
        off = jac - torch.diag(torch.diagonal(jac))
        assert (off.abs().max().item() == 0) is diagonal


def test_gmp_paper_mode_transform_is_elementwise_and_logits_get_no_gradient():
    torch.manual_seed(2)
    prior = GaussianMixturePrior(3, PriorConfig("gaussian_mixture", num_components=2, mode="paper"))
    with torch.no_grad():
        prior.means.zero_()
    eps = torch.randn(4, 3)
    S = prior.sqrt_precision[0]
    official = (eps[:, None, :] * S).sum(dim=1)
    torch.testing.assert_close(official, eps * S.sum(dim=0))  # diagonal: eps_j * sum_i S[i, j]
    prior.transform(eps).pow(2).sum().backward()
    assert prior.logits.grad is None


def test_gmp_fixed_mode_uses_full_matrix_and_trains_the_logits():
    torch.manual_seed(3)
    prior = GaussianMixturePrior(3, PriorConfig("gaussian_mixture", num_components=1 + 1, mode="fixed")).eval()
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([50.0, -50.0]))  # component 0 always wins
        prior.bn.running_mean.zero_()
        prior.bn.running_var.fill_(1.0)
    eps = torch.randn(4, 3)
    expected = prior.means[0] + eps @ prior.sqrt_precision[0].T
    torch.testing.assert_close(prior.transform(eps), expected, atol=1e-4, rtol=1e-4)
    prior.train()
    prior.logits.data.copy_(torch.zeros(2))
    (prior.transform(torch.randn(64, 3)) * torch.arange(3.0)).sum().backward()
    assert prior.logits.grad is not None and prior.logits.grad.abs().sum() > 0


def test_registry_lists_every_prior():
    assert {"neural", "factorized_neural", "gaussian_mixture", "normal", "uniform", "spherical"} == set(PRIORS.names())


def test_bad_prior_config_is_rejected():
    with pytest.raises(ValueError):
        PriorConfig("gaussian_mixture", num_components=1)
