"""Leaderboard aggregation from records: mean and spread over seeds, one row per configuration."""

import numpy as np
import pandas as pd
import pytest

from benchmark.leaderboard import aggregate
from benchmark.runner import hparams_label


def record(model, seed, value, hparams="-", metric="auroc"):
    return {
        "suite": "ood", "model": model, "prior": "normal", "mode": "-", "hparams": hparams, "dataset": "mnist",
        "eval_dataset": "mnist-test vs omniglot", "checkpoint": "last", "representation": "sample",
        "metric": metric, "metric_spec": "ood@openood-v1/scorer=prior_nll", "value": value, "seed": seed,
        "preset": "default", "wall_s": 10.0 + seed, "hardware_summary": "2-core cpu (cpu)",
        "versions": {"torch": "2.15.0", "scikit-learn": "1.9.1", "git": "abc"},
    }


def test_mean_and_sample_std_over_seeds_per_configuration():
    values = [0.7, 0.8, 0.9]
    rows = [record("vae", s, v) for s, v in enumerate(values)]
    rows += [record("vae", s, 0.5, hparams="beta=4.0") for s in range(2)]
    table = aggregate(pd.DataFrame(rows))
    plain = table[table.hparams == "-"].iloc[0]
    assert plain["mean"] == pytest.approx(np.mean(values))
    assert plain["std"] == pytest.approx(np.std(values, ddof=1))
    assert (plain["n_seeds"], plain["seeds"], plain["min"], plain["max"]) == (3, "0 1 2", 0.7, 0.9)
    swept = table[table.hparams == "beta=4.0"].iloc[0]
    assert (swept["mean"], swept["std"], swept["n_seeds"]) == (0.5, 0.0, 2)


def test_hparams_label_lists_only_what_differs_from_the_defaults():
    defaults = {"z_dim": 16, "beta": 1.0, "prior": {"name": "gaussian_mixture", "mode": "paper"}}
    assert hparams_label(defaults, defaults) == "-"
    changed = {"z_dim": 16, "beta": 8.0, "prior": {"name": "gaussian_mixture", "mode": "fixed"}}
    assert hparams_label(changed, defaults) == "beta=8.0 prior.mode=fixed"
