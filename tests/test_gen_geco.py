"""GECO as vaetc's models/geco.py: constraint, moving average, straight-through term, lambda schedule, modes."""

import copy
import math
from functools import partial

import pytest
import torch

from core.errors import BenchmarkError
from models import resolve_config
from models.generation.geco import CELEBA_STEPS, GECO, ema_constraint, geco_constraint, lambda_step
from tests.model_checks import (
    assert_resumes,
    assert_trainer_resumes,
    assert_trains_and_has_every_shape,
    batches,
    follow_plan,
    maker,
)

make = maker("geco", z_dim=3)


def forward_by_hand(model, x, seed):
    """The model's encode-sample-decode of one training step, on a copy, with the step's noise."""
    twin = copy.deepcopy(model).train()
    with torch.no_grad():
        torch.manual_seed(seed)
        mu, logvar = twin.encoder(x)
        x_hat = twin.decoder(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    return mu, logvar, x_hat


def test_constraint_is_each_images_squared_error_sum_minus_tolerance_squared():
    x, x_hat = torch.rand(3, 2, 4, 4), torch.rand(3, 2, 4, 4)
    want = []
    for i in range(3):
        sse = 0.0
        for c in range(2):
            for h in range(4):
                for w in range(4):
                    sse += (float(x[i, c, h, w]) - float(x_hat[i, c, h, w])) ** 2
        want.append(sse - 2.5**2)
    torch.testing.assert_close(geco_constraint(x, x_hat, 2.5), torch.tensor(want))


def test_moving_average_and_lambda_step_by_hand():
    r, v = torch.tensor(4.0), torch.tensor(-2.0)
    assert float(ema_constraint(r, v, 0.99, first=True)) == -2.0
    assert float(ema_constraint(r, v, 0.99, first=False)) == pytest.approx(0.99 * 4 - 0.01 * 2)
    assert float(lambda_step(torch.tensor(50.0), 0.9, 1.05)) == pytest.approx(math.log(1.05))
    assert float(lambda_step(torch.tensor(-50.0), 0.9, 1.05)) == pytest.approx(math.log(0.9))
    assert float(lambda_step(torch.tensor(0.02), 0.9, 1.05)) == pytest.approx(0.02)


def test_training_steps_follow_the_moving_average_and_report_lambda_times_it_plus_kl():
    model = make(tolerance=1.5, momentum=0.7, lbd_start=1.0)  # lambda never moves here
    opts = model.build_optimizers()
    running = None
    for i, x in enumerate(batches(4)):
        mu, logvar, x_hat = forward_by_hand(model, x, seed=10 + i)
        mean_c = float(((x - x_hat) ** 2).sum(dim=(1, 2, 3)).mean()) - 1.5**2
        running = mean_c if running is None else 0.7 * running + 0.3 * mean_c
        kl = float((0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=1)).mean())
        torch.manual_seed(10 + i)
        out = model.train_batch(x, opts)
        assert out["constraint"] == pytest.approx(running, rel=1e-5, abs=1e-5)
        assert float(model.running_constraint) == pytest.approx(running, rel=1e-5, abs=1e-5)
        assert out["kl"] == pytest.approx(kl, rel=1e-5, abs=1e-5)
        assert out["loss"] == pytest.approx(running + kl, rel=1e-5, abs=1e-5)  # lambda = 1
        assert out["equivalent_beta"] == 1.0
    assert int(model.running_batches) == 4 and int(model.steps_done) == 4


def test_the_gradient_is_that_of_lambda_times_the_batch_constraint_plus_kl():
    """Straight-through: the moving average sets the value, the batch constraint the gradient."""
    model = make(lbd_start=1.0)
    model.running_constraint.fill_(123.0)
    model.running_batches.fill_(5)
    model.log_lambda.fill_(math.log(2.0))
    x = batches(1)[0]
    twin = copy.deepcopy(model).train()
    torch.manual_seed(3)
    mu, logvar = twin.encoder(x)
    x_hat = twin.decoder(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=1)).mean()
    (2.0 * (((x - x_hat) ** 2).sum(dim=(1, 2, 3)) - 100.0).mean() + kl).backward()

    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    torch.manual_seed(3)
    model.train_batch(x, {"main": torch.optim.SGD(model.parameters(), lr=1.0)})
    for k, p in model.named_parameters():
        torch.testing.assert_close(before[k] - p.detach(), dict(twin.named_parameters())[k].grad,
                                   rtol=1e-4, atol=1e-6)


def test_lambda_moves_only_at_multiples_of_lbd_step_after_the_start_by_the_clipped_factor():
    # tolerance 0: the constraint (an SSE) is large and positive, so every step is x1.05
    model = make(tolerance=0.0, lbd_step=3, lbd_start=0.35, total_steps=11)
    opts = model.build_optimizers()
    moved = []
    for x in batches(10):
        n, before = int(model.running_batches), float(model.log_lambda)
        model.train_batch(x, opts)
        if float(model.log_lambda) != before:
            moved.append(n)
            assert float(model.log_lambda) - before == pytest.approx(math.log(1.05))
    # progress of step n is n / 10 > 0.35 from n = 4; multiples of 3 from there
    assert moved == [6, 9]
    # on 8x8 images the SSE stays below tolerance^2 = 100: the constraint is met, every step is x0.9
    model = make(lbd_step=2, lbd_start=0.0, total_steps=5)
    opts = model.build_optimizers()
    lambdas = []
    for x in batches(5):
        model.train_batch(x, opts)
        lambdas.append(float(model.log_lambda.exp()))
    assert lambdas == pytest.approx([1.0, 1.0, 0.9, 0.9, 0.81])  # n = 0 has progress 0, not > 0


def test_the_default_start_is_vaetcs_200_batches_at_its_celeba_budget():
    model = make()
    assert model.config.total_steps == CELEBA_STEPS == 381_600
    model.steps_done.fill_(200)
    assert not model.progress > model.config.lbd_start
    model.steps_done.fill_(201)
    assert model.progress > model.config.lbd_start
    model.steps_done.fill_(10**7)
    assert model.progress == 1.0


def test_paper_validation_moves_the_average_and_the_count_and_fixed_validation_does_not():
    x_train, x_val = batches(2)
    for mode in ("paper", "fixed"):
        model = make(mode=mode, momentum=0.5)
        opts = model.build_optimizers()
        model.train_batch(x_train, opts)
        running, lam = float(model.running_constraint), float(model.log_lambda)
        twin = copy.deepcopy(model).eval()
        with torch.no_grad():
            torch.manual_seed(4)
            mu, logvar = twin.encoder(x_val)
            x_hat = twin.decoder(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
        mean_c = float(((x_val - x_hat) ** 2).sum(dim=(1, 2, 3)).mean()) - 100.0
        kl = float((0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=1)).mean())
        torch.manual_seed(4)
        out = model.eval_batch(x_val)
        assert float(model.log_lambda) == lam and int(model.steps_done) == 1
        if mode == "paper":
            want = 0.5 * running + 0.5 * mean_c
            assert float(model.running_constraint) == pytest.approx(want, rel=1e-5)
            assert int(model.running_batches) == 2
            assert out["loss"] == pytest.approx(want + kl, rel=1e-5)
        else:
            assert float(model.running_constraint) == running and int(model.running_batches) == 1
            assert out["loss"] == pytest.approx(mean_c + kl, rel=1e-5)


def test_paper_validation_batches_shift_the_lambda_schedule():
    xs = batches(6)
    moved = {}
    for mode in ("paper", "fixed"):
        model = make(mode=mode, lbd_step=3, lbd_start=0.0, total_steps=100)
        opts = model.build_optimizers()
        moved[mode] = []
        for i, kind in enumerate("ttettt"):
            if kind == "e":
                model.eval_batch(xs[i])
                continue
            before = float(model.log_lambda)
            model.train_batch(xs[i], opts)
            if float(model.log_lambda) != before:
                moved[mode].append(i)
    # paper counts the validation batch: counts 0 1 [2] 3 4 5, so the training batch with count 3 (i = 3) moves
    # lambda; fixed counts training only: 0 1 . 2 3 4, so the batch with count 3 is i = 4
    assert moved == {"paper": [3], "fixed": [4]}


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_a_resumed_run_ends_as_an_uninterrupted_one(mode):
    kw = {"mode": mode, "lbd_step": 2, "lbd_start": 0.1, "total_steps": 8, "tolerance": 0.0}
    whole, _ = assert_resumes(partial(make, **kw), follow_plan(batches(10), "ttettettet", seed=50), 10, 5)
    assert float(whole.log_lambda) != 0.0  # lambda moved, so the schedule state was exercised


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_training_gives_finite_terms_and_the_model_samples_decodes_and_reconstructs(shape):
    keys = {"loss", "constraint", "kl", "equivalent_beta"}
    assert_trains_and_has_every_shape(make(shape=shape, z_dim=4), shape, keys)


def test_modes_configs_and_buffers():
    model = make()
    assert isinstance(model, GECO) and GECO.mode_of(model.config) == "paper"
    assert GECO.mode_of(resolve_config("geco", {"mode": "fixed"})) == "fixed"
    assert {"log_lambda", "running_constraint", "running_batches", "steps_done"} <= set(model.state_dict())
    assert not any(p is model.log_lambda for p in model.parameters())
    assert model.diagnostics() == {"lambda": 1.0, "running_batches": 0, "training_steps": 0}
    for bad in ({"mode": "textbook"}, {"momentum": 1.0}, {"lbd_step": 0}, {"lbd_start": 1.5},
                {"lbd_factor_min": 1.2}, {"total_steps": 0}, {"tolerance": -1.0}):
        with pytest.raises(BenchmarkError, match="geco"):
            resolve_config("geco", bad)
    assert not hasattr(model, "terms")  # its state moves per batch: no single loss to step on


@pytest.mark.parametrize("mode", ["paper", "fixed"])
def test_the_trainer_resumes_a_crashed_run_to_the_uninterrupted_state(tmp_path, make_trainer, crash_on_step, mode):
    kw = {"mode": mode, "lbd_step": 2, "lbd_start": 0.0, "total_steps": 9, "tolerance": 0.0}
    want = assert_trainer_resumes(tmp_path, make_trainer, crash_on_step, "geco", **kw)
    assert float(want["log_lambda"]) != 0.0 and int(want["steps_done"]) == 9
    assert int(want["running_batches"]) == (9 + 3 * 2 if mode == "paper" else 9)  # 2 validation batches an epoch
