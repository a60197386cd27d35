"""tools/calibrate_fast_dci.py: clean errors, and a report from a real (smoke) disentanglement run."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main as bench

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("calibrate_fast_dci", ROOT / "tools" / "calibrate_fast_dci.py")
calibrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibrate)


def test_a_folder_without_disentanglement_runs_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "ood-vae-seed0-x").mkdir()
    (tmp_path / "ood-vae-seed0-x" / "config.json").write_text('{"suite": "ood"}')
    assert calibrate.main(["--runs", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no disentanglement run folder" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_report_of_a_smoke_run_compares_dlib_and_fast_per_representation(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "report"
    assert bench(["run", "--suite", "disentanglement", "--preset", "smoke", "--models", "vae", "--out", str(runs),
                  "--no-progress"]) == 0
    assert calibrate.main(["--runs", str(runs), "--out", str(out), "--n-train", "300", "--n-test", "150"]) == 0
    table = pd.read_csv(out / "fast_calibration.csv")
    assert list(table.representation) == ["mean", "sample"] and set(table.model) == {"vae"}
    assert (table.n_train == 300).all() and (table.dlib_spec == "dci@dlib-v1").all()
    for s in ("D", "C", "I"):
        assert ((table[f"dlib_{s}"] >= 0) & (table[f"dlib_{s}"] <= 1)).all()
        assert (table[f"absdiff_{s}"] - (table[f"fast_{s}"] - table[f"dlib_{s}"]).abs()).abs().max() < 1e-3
    md = (out / "fast_calibration.md").read_text()
    assert "max abs diff" in md and "| vae | 0 | sample |" in md
    # the suite scored both specs on the same codes: the report from its records equals the recomputation
    assert calibrate.main(["--runs", str(runs), "--out", str(tmp_path / "rec"), "--from-records"]) == 0
    stored = pd.read_csv(tmp_path / "rec" / "fast_calibration.csv")
    scores = [f"{spec}_{s}" for spec in ("dlib", "fast") for s in ("D", "C", "I")]
    pd.testing.assert_frame_equal(stored[["representation", "dlib_spec", *scores]],
                                  table[["representation", "dlib_spec", *scores]])
