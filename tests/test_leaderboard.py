"""Leaderboard aggregation from records: mean and spread over seeds, one row per configuration."""

import numpy as np
import pandas as pd
import pytest

from benchmark.config.run_config import hparams_label
from benchmark.records.io import RECORDS
from benchmark.results.leaderboard import aggregate, copy_best_artifacts
from benchmark.suites import SUITES


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


def test_leaderboard_copies_the_best_seeds_traversal_grid(tmp_path):
    """The artifact of the seed with the best headline metric (not the first, not the last) is copied."""
    metric, checkpoint, representation = SUITES.get("disentanglement").headline
    name = f"traversal_{checkpoint}_{representation}"
    rows = []
    for seed, value in enumerate([0.3, 0.9, 0.5]):
        run = tmp_path / "runs" / f"disentanglement-vae-seed{seed}-abc"
        run.mkdir(parents=True)
        (run / RECORDS).write_text("{}\n")
        (run / f"{name}.png").write_bytes(f"seed {seed}".encode())
        row = {**record("vae", seed, value, metric=metric), "suite": "disentanglement", "run_id": run.name,
               "checkpoint": checkpoint, "representation": representation, "artifacts": {name: f"{name}.png"}}
        rows.append(row)
    written = copy_best_artifacts(pd.DataFrame(rows), tmp_path / "runs", tmp_path / "board")
    assert [p.name for p in written] == [f"vae_normal_{name}.png"]
    assert written[0].read_bytes() == b"seed 1"


def test_bootstrap_interval_of_two_seeds_spans_them_and_one_seed_is_a_point():
    """With seeds {a, b} the resampled means are a, (a+b)/2, b with mass 1/4, 1/2, 1/4: the 95% interval is [a, b]."""
    from benchmark.results.stats import bootstrap_ci

    assert bootstrap_ci(np.array([0.2, 0.6])) == pytest.approx((0.2, 0.6))
    assert bootstrap_ci(np.array([0.4])) == (0.4, 0.4)
    values = np.random.default_rng(1).normal(size=30)
    low, high = bootstrap_ci(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))  # the normal-theory interval, for a sanity check
    assert low < values.mean() < high and abs((high - low) - 2 * half) < 0.25 * 2 * half


def test_ranks_follow_the_direction_of_each_metric():
    rows = [record("vae", 0, 0.7), record("dagmm", 0, 0.9), record("gwae-gmp", 0, 0.8)]
    rows += [record("vae", 0, 0.2, metric="fpr95"), record("dagmm", 0, 0.5, metric="fpr95"),
             record("gwae-gmp", 0, 0.2, metric="fpr95")]
    table = aggregate(pd.DataFrame(rows)).set_index(["metric", "model"])
    assert table.loc["auroc", "rank"].to_dict() == {"dagmm": 1, "gwae-gmp": 2, "vae": 3}
    assert table.loc["fpr95", "rank"].to_dict() == {"vae": 1, "gwae-gmp": 1, "dagmm": 3}  # ties share the better
    assert set(table.loc["fpr95", "better"]) == {"lower"} and set(table.loc["auroc", "better"]) == {"higher"}


def test_means_equal_at_the_csv_decimals_share_a_rank_and_a_visible_difference_does_not():
    rows = [record("vae", 0, 0.99998), record("dagmm", 0, 1.0), record("gwae-gmp", 0, 0.9998)]
    rows += [record(m, 0, v, metric="fpr95") for m, v in [("vae", 0.10004), ("dagmm", 0.1), ("gwae-gmp", 0.1002)]]
    table = aggregate(pd.DataFrame(rows)).set_index(["metric", "model"])
    assert table.loc["auroc", "rank"].to_dict() == {"dagmm": 1, "vae": 1, "gwae-gmp": 3}
    assert table.loc["fpr95", "rank"].to_dict() == {"dagmm": 1, "vae": 1, "gwae-gmp": 3}


def test_small_samples_get_a_student_t_interval_named_in_the_table():
    from scipy import stats

    from benchmark.results.stats import BOOTSTRAP_MIN_N, bootstrap_ci, mean_ci

    values = np.array([0.7, 0.8, 0.9])
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    low, high, method = mean_ci(values)
    assert method == "student-t" and (low, high) == pytest.approx((0.8 - half, 0.8 + half))
    boot = bootstrap_ci(values)
    assert boot == pytest.approx((values.min(), values.max()))  # at n = 3 the bootstrap is the min-max range
    assert high - low > 2 * (boot[1] - boot[0])
    many = np.random.default_rng(0).normal(size=BOOTSTRAP_MIN_N)
    assert mean_ci(many)[2] == "bootstrap" and mean_ci(many)[:2] == bootstrap_ci(many)
    assert mean_ci(np.array([0.4])) == (0.4, 0.4, "single seed")
    rows = [record("vae", s, v) for s, v in enumerate(values)] + [record("dagmm", 0, 0.5)]
    table = aggregate(pd.DataFrame(rows)).set_index("model")
    assert table.loc["vae", "ci_method"] == "student-t" and table.loc["dagmm", "ci_method"] == "single seed"
    assert table.loc["vae", "ci95_low"] == pytest.approx(0.8 - half) and set(table["n_ranked"]) == {2}


def test_summary_orders_by_suites_scored_so_one_suite_never_ties_the_top():
    from benchmark.results.leaderboard import summary

    heads = {name: SUITES.get(name).headline for name in ("ood", "generation")}
    rows = []
    for suite, lead in heads.items():
        metric, checkpoint, rep = lead
        better_vae = 0.9 if metric not in ("fid_samples",) else 10.0
        worse = 0.5 if metric not in ("fid_samples",) else 50.0
        rows += [{**record("vae", 0, better_vae if suite == "generation" else worse, metric=metric), "suite": suite,
                  "checkpoint": checkpoint, "representation": rep, **dict(lead.where)},
                 {**record("wae", 0, worse if suite == "generation" else better_vae, metric=metric), "suite": suite,
                  "checkpoint": checkpoint, "representation": rep, **dict(lead.where)}]
    ood = heads["ood"]
    rows.append({**record("dagmm", 0, 0.99, metric=ood.metric), "checkpoint": ood.checkpoint,
                 "representation": ood.representation, **dict(ood.where)})  # best in ood, scored nowhere else
    table = summary(pd.DataFrame(rows))
    assert table.iloc[0]["model"] != "dagmm" and table[table.model == "dagmm"].iloc[0]["n_suites"] == 1
    assert set(table[table.model != "dagmm"]["n_suites"]) == {2}
    assert table.set_index(["suite", "model"]).loc[("ood", "dagmm"), "n_ranked"] == 3
