"""tools/compare_precision.py: fp32 and bf16 records of the same configurations side by side."""

import importlib.util
from pathlib import Path

from benchmark.records.io import write_records
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("compare_precision", ROOT / "tools" / "compare_precision.py")
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)


def _run(out: Path, model: str, seed: int, precision: str, auroc: float, wall: float, at_step: float) -> None:
    hparams = "-" if precision == "fp32" else f"precision={precision}"
    run = {"run_id": f"ood-{model}-seed{seed}-{precision}", "suite": "ood", "model": model, "prior": "normal",
           "mode": "-", "hparams": hparams, "precision": precision, "seed": seed, "dataset": "mnist", "wall_s": wall,
           "metric": "auroc", "metric_spec": "auroc", "representation": "sample",
           **dict(SUITES.get("ood").headline.where)}  # the scorer and OoD set of the headline
    write_records(out / run["run_id"], [{**run, "checkpoint": "last", "value": auroc}])
    write_records(out / run["run_id"], [{**run, "checkpoint": "step", "step": 4, "value": at_step}],
                  RunFolder.TRAJECTORY)


def test_the_report_pairs_seeds_ranks_both_precisions_and_says_whether_the_ranking_holds(tmp_path, capsys):
    for seed in (0, 1):
        _run(tmp_path / "a", "vae", seed, "fp32", 0.60, 100.0, 0.5)
        _run(tmp_path / "a", "dagmm", seed, "fp32", 0.70, 60.0, 0.6)
        _run(tmp_path / "b", "vae", seed, "bf16", 0.61, 50.0, 0.52)
        _run(tmp_path / "b", "dagmm", seed, "bf16", 0.69, 40.0, 0.58)
    assert compare.main(["--fp32", str(tmp_path / "a"), "--bf16", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "| vae normal | 0 | 0.6000 | 0.6100 | 1.67e-02 |" in out
    assert "| vae normal | 0.6000 | 0.6100 | 2 | 2 | 2.00x |" in out
    assert "| dagmm normal | 0.7000 | 0.6900 | 1 | 1 | 1.50x |" in out
    assert "Ranking by mean holds in bf16." in out and "| dagmm normal | 4 | 0.6000 | 0.5800 |" in out
    assert compare.main(["--fp32", str(tmp_path / "b"), "--bf16", str(tmp_path / "b")]) == 2
    assert "error:" in capsys.readouterr().err
