"""The shared trainer: exact resume after a crash, NaN guard, early stopping, checkpoints."""

import math

import pytest
import torch

from benchmark.config.run_config import TrainConfig
from benchmark.run.folder import RunFolder
from benchmark.run.trainer import Trainer
from core.errors import BenchmarkError, NonFiniteLossError
from models import build_model, resolve_config


def test_resume_after_a_crash_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, make_trainer, crash_on_step):
    reference = make_trainer(tmp_path / "a", critic_steps=1)
    reference.fit()

    crashing = make_trainer(tmp_path / "b", critic_steps=1)
    restore = crash_on_step(type(crashing.model), 5)  # epoch 2, step 2: epoch 1 was checkpointed
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    restore()

    resumed = make_trainer(tmp_path / "b", critic_steps=1)  # a fresh process would build it anew
    result = resumed.fit()
    assert result.epochs == 3 and result.finished
    assert len(result.history) == len(reference.result.history)
    for got, want in zip(result.history, reference.result.history, strict=True):  # pytest 9.2: approx is flat
        assert got == pytest.approx(want)
    for a, b in zip(reference.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_non_finite_loss_is_a_clear_error(tmp_path, make_trainer, monkeypatch):
    trainer = make_trainer(tmp_path, name="vae")
    monkeypatch.setattr(type(trainer.model), "train_batch", lambda self, x, o: {"loss": math.nan, "kl": 1.0})
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        trainer.fit()


def test_early_stopping_keeps_the_best_checkpoint(tmp_path, make_trainer, monkeypatch):
    cfg = TrainConfig(batch_size=8, max_epochs=20, patience=2, steps_per_epoch=1)
    trainer = make_trainer(tmp_path, name="vae", cfg=cfg)
    losses = iter([5.0, 3.0, 4.0, 6.0, 7.0, 8.0])
    monkeypatch.setattr(trainer, "validate_terms", lambda: {"loss": next(losses)})
    result = trainer.fit()
    assert (result.epochs, result.best_epoch, result.stopped_early) == (4, 2, True)
    assert (tmp_path / RunFolder.BEST).exists() and (tmp_path / RunFolder.LAST).exists()
    assert torch.load(tmp_path / RunFolder.BEST, weights_only=True)["epoch"] == 2
    RunFolder(tmp_path).load(trainer.model, "best", torch.device("cpu"))


def test_a_finished_run_is_not_trained_again(tmp_path, make_trainer):
    first = make_trainer(tmp_path, name="vae")
    first.fit()
    again = make_trainer(tmp_path, name="vae")
    assert again.fit().steps == first.result.steps


def test_training_set_smaller_than_a_batch_is_rejected(tmp_path, tiny_set):
    model = build_model("vae", resolve_config("vae", {"z_dim": 2}), (1, 8, 8))
    trainer = Trainer(model, tiny_set(4, 0), tiny_set(16, 1), TrainConfig(batch_size=8), tmp_path,
                      torch.device("cpu"), seed=0, progress=False)
    with pytest.raises(BenchmarkError, match="smaller than one batch"):
        trainer.fit()
