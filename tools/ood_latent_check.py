"""Is a falling OoD AUROC the scorer's doing or the codes'? A check along the training budget.

A thin wrapper over the ood suite's ``gmm`` scorer (``metrics.scorers``), for runs scored before the suite
recorded it (the suite now scores every scorer at every budget, sampled codes; see docs/suite-ood.md): for
each ood run of an output folder and each budget it kept (and its last checkpoint), this encodes MNIST-train
(a subset), MNIST-test and an OoD set (default: the inverted Omniglot, the only set then) with the mean code,
fits the suite's mixture to the training codes, and prints its AUROC beside the model's own (from
``trajectory.jsonl`` and ``records.jsonl``). If the mixture still separates the set where the model's scorer
no longer does, the codes keep the information and the scorer lost it.

    python tools/ood_latent_check.py RUNS_DIR [--models gwae-gmp] [--n-train 10000] [--components 10]
        [--set omniglot-inverted]
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import torch

from benchmark.data import load_dataset
from benchmark.records.io import run_records
from benchmark.run import budgets
from benchmark.run.folder import RunFolder
from benchmark.suites.base import batched_scores
from benchmark.suites.ood import OOD_SETS
from core.errors import BenchmarkError
from metrics.ood import ood_metrics
from metrics.scorers import SCORERS


def _model_auroc(folder: RunFolder) -> tuple[str, dict[int, float]]:
    """The run's label and the model's own AUROC (sampled z, the headline) per step: kept budgets and the last
    checkpoint."""
    out = {}
    rows = run_records(folder.records) + budgets.scored(folder.path)
    for r in rows:
        if r.get("metric") == "auroc" and r["representation"] == "sample" and r["checkpoint"] in ("step", "last"):
            out[r["step"]] = r["value"]
    label = rows[0]["model"] + ("" if rows[0]["mode"] == "-" else f" ({rows[0]['mode']})")
    return label, out


def _runs(root: Path, models: list[str]) -> list[RunFolder]:
    """The ood run folders of ``models`` under ``root`` that have records."""
    if not root.is_dir():
        raise BenchmarkError(f"runs folder {root} not found")
    found = []
    for path in sorted(root.glob(f"*/{RunFolder.CONFIG}")):
        config, folder = json.loads(path.read_text()), RunFolder(path.parent)
        if config.get("suite") == "ood" and config.get("model") in models and folder.records.exists():
            found.append(folder)
    if not found:
        raise BenchmarkError(f"no finished ood run of {', '.join(models)} under {root}")
    return found


@torch.no_grad()
def check(root: Path, models: list[str], n_train: int, components: int,
          ood_set: str = "omniglot-inverted") -> list[tuple[str, str, int, float, float]]:
    """(run id, label, step, own AUROC, latent-mixture AUROC) for every scored step of every matching run."""
    device = torch.device("cpu")
    runs = _runs(root, models)
    data = {"train": load_dataset("mnist", "train", n=n_train, seed=0),
            "id": load_dataset("mnist", "test"), "ood": load_dataset(OOD_SETS[ood_set].dataset, "test")}
    print("run, model, step, model's own AUROC (sample z), latent-GMM AUROC (mean z)")
    rows = []
    for folder in runs:
        label, own = _model_auroc(folder)
        for step in sorted(own):
            model = folder.model("last" if step == max(own) else step, device)
            encode = partial(model.encode, representation="mean")
            codes = {k: batched_scores(encode, v, 512, device).numpy() for k, v in data.items()}
            score = SCORERS.get("gmm").fit(codes["train"], 0, components=components)
            auroc = ood_metrics(score(codes["id"]), score(codes["ood"]))["auroc"]
            rows.append((folder.run_id, label, step, own[step], auroc))
            print(f"{folder.run_id}, {label}, {step}, {own[step]:.3f}, {auroc:.3f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--models", default="gwae-gmp", help="comma-separated model names")
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--components", type=int, default=10)
    ap.add_argument("--set", default="omniglot-inverted", choices=sorted(OOD_SETS), help="the OoD set")
    args = ap.parse_args(argv)
    try:
        if args.n_train < args.components:
            raise BenchmarkError("--n-train must be at least --components")
        check(args.runs, args.models.split(","), args.n_train, args.components, args.set)
    except (BenchmarkError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
