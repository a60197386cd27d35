"""The real CLI end to end on the shipped data: smoke run, rerun, leaderboard, list, bad input."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.records.io import read_records
from benchmark.records.schema import REFERENCE_MODEL
from benchmark.suites import SUITES
from benchmark.suites.ood import OOD_SETS
from models import MODELS

ROOT = Path(__file__).resolve().parents[1]
RECORD_FIELDS = {
    "run_id", "suite", "model", "prior", "mode", "dataset", "seed", "checkpoint", "representation", "metric",
    "metric_spec", "value", "versions", "hardware", "wall_s", "peak_rss_mb", "model_config", "eval_seed",
}
OOD_FIELDS = {"n_id", "n_ood", "scorer", "scorer_spec", "ood_set", "ood_kind", "ood_set_sha256"}
#: The OoD sets a smoke run scores here: every one, Fashion-MNIST where its Debian package is installed.
N_SETS = sum(s.available is None or s.available() for s in OOD_SETS.values())
#: disentanglement_lib's metric set, every one scored by the disentanglement suite
DISENTANGLEMENT_METRICS = {
    "dci_dlib_disentanglement", "mig", "sap", "modularity", "explicitness", "irs", "beta_vae_score",
    "factor_vae_score", "gaussian_total_correlation", "gaussian_wasserstein_correlation", "mutual_info_score",
}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = cli("run", "--suite", "ood", "--preset", "smoke", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
def test_smoke_run_writes_runs_records_and_leaderboard(smoke_out):
    runs = sorted(p for p in smoke_out.iterdir() if p.name.startswith("ood-"))
    assert [p.name.split("-seed")[0] for p in runs] == ["ood-dagmm", "ood-dagmm-zong", "ood-gwae-gmp", "ood-vae"]
    for run in runs:
        assert {"config.json", "train.json", "records.jsonl", "checkpoint_best.pt", "checkpoint_last.pt",
                "curves_steps.csv", "curves_epochs.csv"} <= {p.name for p in run.iterdir()}
        assert not (run / "heartbeat.json").exists()  # cleared once the records are written
        records = read_records(run)
        # checkpoints x representations x (4 scorers x sets x 7 OoD metrics + 2 GW diagnostics), and in the headline
        # pass 3 reference scorers x sets x 7
        assert len(records) == 2 * 2 * (4 * N_SETS * 7 + 2) + 3 * N_SETS * 7
        assert {r["metric"] for r in records} == {"auroc", "ap_in", "ap_out", "fpr95", "aupr_in_openood",
                                                  "aupr_out_openood", "fpr95_openood", "gw_distortion",
                                                  "gw_identity_distortion"}
        if "dagmm" in run.name:  # vaetc's pinv route in paper mode, counted either way
            assert all(r["model_diagnostics"]["training_batches"] == 8 for r in records if r["model"] != "reference")
        assert all(set(r) >= RECORD_FIELDS for r in records)
        assert all(set(r) >= OOD_FIELDS for r in records if not r["metric"].startswith("gw_"))
        assert all(r["n_eval"] == 128 for r in records if r["metric"].startswith("gw_"))
        assert {r["checkpoint"] for r in records} == {"best", "last", "none"}
        assert {r["representation"] for r in records} == {"mean", "sample", "pixels"}
        assert {r["model"] for r in records if r["checkpoint"] == "none"} == {"reference"}
        assert json.loads((run / "config.json").read_text())["run_id"] == run.name
    table = pd.read_csv(smoke_out / "ood" / "leaderboard.csv")
    assert set(table.model) == {"vae", "dagmm", "dagmm-zong", "gwae-gmp", "reference"}
    assert {"mean", "std", "n_seeds", "hardware"} <= set(table.columns)
    assert (smoke_out / "ood" / "roc_last_sample.png").stat().st_size > 1000
    # the paper's headline: one row per model, its own scorer on Omniglot as the official code feeds it
    lead = table[(table.metric == "auroc") & (table.checkpoint == "last") & (table.representation == "sample")
                 & (table.scorer == "own") & (table.eval_dataset == "mnist-test vs omniglot-official")]
    assert sorted(lead.model) == ["dagmm", "dagmm-zong", "gwae-gmp", "vae"]


@pytest.mark.slow
def test_the_cross_table_has_every_model_scorer_and_set(smoke_out):
    cross = pd.read_csv(smoke_out / "ood" / "cross.csv")
    sets = {n for n, s in OOD_SETS.items() if s.available is None or s.available()}
    models = {"dagmm", "dagmm-zong", "gwae-gmp", "vae"}
    for metric in ("auroc", "fpr95"):
        rows = cross[cross.metric == metric]
        got = set(zip(rows.model, rows.scorer, rows.ood_set, strict=True))
        assert got == {(m, s, o) for m in models for s in ("own", "gmm", "knn", "recon") for o in sets} | {
            ("reference", s, o) for s in ("intensity", "intensity_low", "knn") for o in sets}
        assert (rows.n_seeds == 1).all()  # one seed; the reference rows of four runs kept once
    assert (smoke_out / "ood" / "cross.png").stat().st_size > 1000
    page = (smoke_out / "index.html").read_text()
    assert 'id="table-ood-cross"' in page and "The headline uses mnist-test vs omniglot-official" in page
    assert all(f"{name} (" in page for name in sets)


@pytest.mark.slow
def test_rerun_skips_finished_runs(smoke_out):
    ckpts = {p: p.stat().st_mtime_ns for p in smoke_out.rglob("checkpoint_last.pt")}
    proc = cli("run", "--suite", "ood", "--preset", "smoke", "--out", str(smoke_out), "--models", "vae",
               "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert {p: p.stat().st_mtime_ns for p in ckpts} == ckpts


@pytest.mark.slow
def test_leaderboard_is_rebuilt_from_records_alone(smoke_out, tmp_path):
    copy = tmp_path / "records_only"
    for rec in smoke_out.rglob("records.jsonl"):  # no checkpoints, no configs: records alone
        (copy / rec.parent.name).mkdir(parents=True)
        shutil.copy(rec, copy / rec.parent.name / rec.name)
    proc = cli("leaderboard", "--out", str(copy), "--to", str(tmp_path / "board"))
    assert proc.returncode == 0, proc.stderr
    rebuilt = (tmp_path / "board" / "ood" / "leaderboard.csv").read_text()
    assert rebuilt == (smoke_out / "ood" / "leaderboard.csv").read_text()
    assert (tmp_path / "board" / "ood" / "auroc.png").exists()
    assert 'data-suite="ood"' in (tmp_path / "board" / "index.html").read_text()


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("ood", "vae", "dagmm", "gwae-gmp", "gaussian_mixture", "mnist", "omniglot", "suites:", "metrics:"):
        assert name in out


BAD = [
    (["run", "--suite", "nope"], "unknown suite"),
    (["run", "--suite", "ood", "--models", "vae,nope"], "unknown model"),
    (["run", "--suite", "ood", "--preset", "huge"], "unknown preset"),
    (["run", "--suite", "ood", "--set", "z_dim=abc"], "expected int"),
    (["run", "--suite", "ood", "--set", "nope=1"], "match no config field"),
    (["run", "--suite", "ood", "--device", "tpu"], "unknown device"),
    (["run", "--suite", "ood", "--data-root", "/nonexistent/dir"], "not found"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_line_and_writes_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not out.exists()


def test_bad_seeds_are_rejected_by_the_parser(tmp_path):
    proc = cli("run", "--suite", "ood", "--seeds", "1,x", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "seeds must be" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_shipped_data_is_rejected_before_anything_is_written(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "benchmark" / "data" / "shipped", data)
    target = data / "omniglot" / "all_runs.zip"
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    target.chmod(0o644)
    target.write_bytes(bytes(blob))
    out = tmp_path / "out"
    proc = cli("run", "--suite", "ood", "--preset", "smoke", "--out", str(out),
               env={"GWAE_BENCH_SHIPPED_DATA": str(data)})
    assert proc.returncode == 2, proc.stderr
    assert "sha256" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_data_in_a_data_root_is_a_clear_error(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    proc = cli("run", "--suite", "ood", "--preset", "smoke", "--data-root", str(root), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "MNIST" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_leaderboard_of_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["leaderboard", "--out", str(tmp_path)]) == 2
    assert "no result records" in capsys.readouterr().err


#: The generation baselines (models/generation/) are scored in the generation suite (one CLI run below), the
#: other models in every suite, which keeps the slow tier's cost in check.
GENERATION_BASELINES = [n for n in MODELS.names() if MODELS.get(n).cls.__module__.startswith("models.generation.")]


@pytest.mark.slow
def test_the_generation_baselines_train_and_score_in_the_generation_suite_through_the_cli(tmp_path, capsys):
    out = tmp_path / "generation"
    code = main(["run", "--suite", "generation", "--preset", "smoke", "--models", ",".join(GENERATION_BASELINES),
                 "--out", str(out), "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert len(GENERATION_BASELINES) >= 11
    records = read_records(out)
    assert {r["model"] for r in records} == set(GENERATION_BASELINES)
    assert all(math.isfinite(r["value"]) for r in records)
    for model in GENERATION_BASELINES:  # FID of samples and of reconstructions and PSNR, at both checkpoints
        mine = {(r["metric"], r["checkpoint"]) for r in records if r["model"] == model}
        assert {("fid_samples", c) for c in ("best", "last")} <= mine and ("psnr", "last") in mine, model


@pytest.mark.slow
@pytest.mark.parametrize("model", [n for n in MODELS.names() if n not in GENERATION_BASELINES])
def test_every_model_trains_and_scores_on_every_suite_through_the_cli(model, tmp_path, capsys):
    for suite in SUITES.names():
        out = tmp_path / suite
        code = main(["run", "--suite", suite, "--preset", "smoke", "--models", model, "--out", str(out),
                     "--no-progress"])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        rows = [line.split() for line in printed.out.splitlines()[1:]]
        assert [row[0] for row in rows] == [model], printed.out  # the headline table has the model's row
        records = read_records(out)
        assert records and all(math.isfinite(r["value"]) for r in records)
        references = {REFERENCE_MODEL} if suite == "ood" else set()  # ood scores model-free rows beside each run
        assert {r["model"] for r in records} == {model} | references
        for r in records:  # artifacts (e.g. the disentanglement suite's traversal grids) exist in the run folder
            for filename in (r.get("artifacts") or {}).values():
                assert (out / r["run_id"] / filename).stat().st_size > 1000
        if suite == "disentanglement":
            assert {p.name for p in out.glob("*/traversal_*.png")} == {"traversal_last_mean.png",
                                                                      "traversal_last_sample.png"}
            assert {r["metric"] for r in records} >= DISENTANGLEMENT_METRICS


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES.names())
def test_two_seeds_pool_into_one_leaderboard_row_per_protocol(suite, tmp_path, capsys):
    """Metric specs name the protocol, not the run's seed, so every row aggregates both seeds."""
    out = tmp_path / suite
    code = main(["run", "--suite", suite, "--preset", "smoke", "--models", "vae", "--seeds", "0,1",
                 "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    records = read_records(out)
    assert {r["eval_seed"] for r in records} == {0, 1}
    table = pd.read_csv(out / suite / "leaderboard.csv")
    assert (table.n_seeds == 2).all(), table.loc[table.n_seeds != 2, ["metric", "metric_spec"]].to_string()
