"""tools/ood_latent_check.py: clean errors, and the latent-mixture AUROC of a real (smoke) run's budgets."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from benchmark.cli import main as bench
from benchmark.data import load_dataset
from benchmark.records.io import run_records
from benchmark.run.folder import RunFolder
from models import build_model, resolve_config

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("ood_latent_check", ROOT / "tools" / "ood_latent_check.py")
latent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(latent)


def test_a_folder_without_matching_runs_is_one_clear_error(tmp_path, capsys):
    assert latent.main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"error: runs folder {tmp_path / 'missing'} not found"
    assert latent.main([str(tmp_path), "--models", "vae"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no finished ood run of vae") and "\n" not in err


@pytest.mark.slow
def test_every_scored_step_of_a_smoke_run_against_an_independent_computation(tmp_path):
    runs = tmp_path / "runs"
    assert bench(["run", "--suite", "ood", "--preset", "smoke", "--models", "vae", "--out", str(runs),
                  "--no-progress", "--score-at", "4"]) == 0
    rows = latent.check(runs, ["vae"], n_train=300, components=2)
    (run_dir,) = [p for p in runs.iterdir() if p.name.startswith("ood-vae")]
    own = {r["step"]: r["value"] for r in run_records(run_dir / "records.jsonl") + run_records(
        run_dir / "trajectory.jsonl") if r["metric"] == "auroc" and r["representation"] == "sample"
        and r["checkpoint"] in ("step", "last")}
    assert [(r[2], r[3]) for r in rows] == sorted(own.items()) and len(rows) == 2

    # the last step by hand: sklearn's AUROC of the mixture's NLL, OoD as the positive class
    config = json.loads((run_dir / "config.json").read_text())
    model = build_model("vae", resolve_config("vae", config["model_config"]), tuple(config["data"]["image_shape"]))
    RunFolder(run_dir).load(model, "last", torch.device("cpu"))

    def codes(ds):
        with torch.no_grad():
            return torch.cat([model.encode(x, "mean") for x in ds.batches(256)]).double().numpy()

    train = codes(load_dataset("mnist", "train", n=300, seed=0))
    inside, outside = codes(load_dataset("mnist", "test")), codes(load_dataset("omniglot", "test"))
    gmm = GaussianMixture(2, covariance_type="full", random_state=0).fit(train)
    labels = [0] * len(inside) + [1] * len(outside)
    expected = roc_auc_score(labels, -gmm.score_samples(np.concatenate([inside, outside])))
    assert abs(rows[-1][4] - expected) < 1e-9
