"""Shared fixtures."""

import pytest


@pytest.fixture
def crash_on_step(monkeypatch):
    """``arm(model_cls, n)``: its ``train_batch`` raises KeyboardInterrupt on the n-th call (a kill in
    mid-epoch); returns a function that restores the real one, as a fresh process would have it."""

    def arm(model_cls: type, n: int):
        original, calls = model_cls.train_batch, {"n": 0}

        def dies(self, x, optimizers):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return original(self, x, optimizers)

        monkeypatch.setattr(model_cls, "train_batch", dies)
        return lambda: monkeypatch.setattr(model_cls, "train_batch", original)

    return arm
