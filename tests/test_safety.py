"""Opening a results folder never runs code; a corrupt checkpoint costs a warning, not the run; bad values
are one line; files honour the umask; artifacts stay inside their run folder (issue 13)."""

import math
import os
import pickle
import random

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.cli import main
from benchmark.results import leaderboard
from benchmark.run.checkpoints import pack_rng, unpack_rng
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES
from core.errors import BenchmarkError, UnsafeCheckpointError
from core.storage import write_text_atomic
from models import MODELS, resolve_config


class Evil:
    """Unpickling this runs ``open(marker, "w")``: the file appearing proves code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_zip(path, marker):
    torch.save({"model": {}, "x": Evil(marker)}, path)


def _evil_legacy(path, marker):
    path.write_bytes(pickle.dumps({"model": {}, "x": Evil(marker)}))


def _old_format(path, marker):  # what the previous version wrote: numpy and Python RNG states pickled
    torch.save({"model": {}, "rng": {"numpy": np.random.get_state(), "python": random.getstate()}}, path)


MALICIOUS = {"evil-zip": (_evil_zip, "refused"), "old-format": (_old_format, "older gwae-bench format"),
             "evil-legacy-pickle": (_evil_legacy, None)}


@pytest.mark.parametrize("kind", MALICIOUS)
def test_a_malicious_or_old_last_checkpoint_is_never_executed(kind, tmp_path, make_trainer, capsys):
    make, message = MALICIOUS[kind]
    marker, run_dir = tmp_path / "PWNED", tmp_path / "run"
    run_dir.mkdir()
    make(run_dir / RunFolder.LAST, marker)
    before = (run_dir / RunFolder.LAST).read_bytes()
    trainer = make_trainer(run_dir, name="vae")
    if message:  # refused, one line naming the file, the file kept as it was
        with pytest.raises(UnsafeCheckpointError, match=message) as info:
            trainer.fit()
        assert str(run_dir / RunFolder.LAST) in str(info.value) and "\n" not in str(info.value)
        assert (run_dir / RunFolder.LAST).read_bytes() == before
    else:  # not a torch checkpoint at all: unreadable, so the run restarts from scratch
        assert trainer.fit().finished
        assert "restarting the run from scratch" in capsys.readouterr().err
    assert not marker.exists()


def test_a_malicious_best_checkpoint_is_refused_when_scoring(tmp_path, make_trainer):
    trainer = make_trainer(tmp_path, name="vae")
    trainer.fit()
    _evil_zip(tmp_path / RunFolder.BEST, tmp_path / "PWNED")
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        RunFolder(tmp_path).load(trainer.model, "best", torch.device("cpu"))
    assert not (tmp_path / "PWNED").exists()


CORRUPTIONS = {
    "truncated": lambda b: b[:1000],
    "empty": lambda b: b"",
    "garbage": lambda b: b"not a checkpoint",
}


@pytest.mark.parametrize("best_too", [False, True], ids=["best-ok", "best-corrupt"])
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_last_checkpoint_falls_back_to_best_or_scratch_and_ends_as_uninterrupted(
        how, best_too, tmp_path, make_trainer, crash_on_step, capsys):
    reference = make_trainer(tmp_path / "ref", name="vae")
    reference.fit()
    run_dir = tmp_path / "run"
    crashing = make_trainer(run_dir, name="vae")
    restore = crash_on_step(type(crashing.model), 8)  # epoch 3, step 2: epochs 1-2 checkpointed
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    restore()
    best_epoch = torch.load(run_dir / RunFolder.BEST, weights_only=True)["epoch"]
    for name in (RunFolder.LAST, RunFolder.BEST) if best_too else (RunFolder.LAST,):
        (run_dir / name).write_bytes(CORRUPTIONS[how]((run_dir / name).read_bytes()))
    capsys.readouterr()
    result = make_trainer(run_dir, name="vae").fit()
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"warning: {run_dir / RunFolder.LAST} is unreadable")
    if best_too:
        assert line.endswith("restarting the run from scratch") and result.resumed_at == []
    else:
        assert line.endswith(f"resuming from {RunFolder.BEST} (epoch {best_epoch})")
        assert result.resumed_at == [best_epoch]
    for got, want in zip(result.history, reference.result.history, strict=True):
        assert got == pytest.approx(want)


def test_rng_states_round_trip_as_tensors(tmp_path):
    torch.manual_seed(3), np.random.seed(4), random.seed(5)
    torch.save({"rng": pack_rng()}, tmp_path / "s.pt")
    want = (torch.rand(2), np.random.rand(2), random.random())
    unpack_rng(torch.load(tmp_path / "s.pt", weights_only=True)["rng"])
    got = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]


BAD_VALUES = [
    (["--set", "lr=-1"], "vae.lr: must be > 0 and <= 1e+06, got -1.0"),
    (["--set", "lr=NaN"], "vae.lr: must be a finite number, got nan"),
    (["--set", "lr=Infinity"], "vae.lr: must be a finite number, got inf"),
    (["--set", "lr=0"], "vae.lr: must be > 0"),
    (["--seeds", "99999999999999999999"], "seeds must be distinct integers in 0..4294967295"),
    (["--seeds", "-1"], "seeds must be"),
    (["--set", "z_dim=100000"], "vae.z_dim: must be >= 1 and <= 4096"),
    (["--set", "beta=-0.5"], "vae.beta: must be >= 0 and <= 1e+06, got -0.5"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_VALUES, ids=[" ".join(f) for f, _ in BAD_VALUES])
def test_a_bad_value_is_one_line_status_2_and_nothing_written(flags, message, tmp_path, capsys):
    out = tmp_path / "out"
    try:
        code = main(["run", "--suite", "ood", "--preset", "smoke", "--models", "vae", *flags, "--out", str(out)])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_bad_sweep_train_value_is_one_line(tmp_path, capsys):
    sweep = tmp_path / "s.toml"
    sweep.write_text('suite = "ood"\npreset = "smoke"\nmodels = ["vae"]\nseeds = [4294967296]\n')
    assert main(["run", "--sweep", str(sweep), "--out", str(tmp_path / "o")]) == 2
    assert "seeds must be" in capsys.readouterr().err and not (tmp_path / "o").exists()


NUMERIC = [(e.name, f) for e in MODELS for f, v in vars(e.obj.cls.config_cls()).items()
           if isinstance(v, int | float) and not isinstance(v, bool)]


@pytest.mark.parametrize(("model", "field"), NUMERIC, ids=[f"{m}.{f}" for m, f in NUMERIC])
def test_every_numeric_model_field_rejects_non_finite_and_out_of_range_values(model, field):
    for bad in (math.nan, math.inf, -math.inf, 10**12, -(10**12)):
        with pytest.raises(BenchmarkError, match=f"{model}.{field}"):
            resolve_config(model, {field: bad})


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "f.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary file left


@pytest.mark.parametrize("artifact", ["../secret.png", "/etc/hostname", "sub/../../secret.png"])
def test_artifacts_outside_their_run_folder_are_not_copied(artifact, tmp_path, capsys):
    run = tmp_path / "out" / "ood-vae-seed0-x"
    run.mkdir(parents=True)
    (run / "records.jsonl").touch()
    (tmp_path / "out" / "secret.png").write_bytes(b"secret")
    (run / "ok.png").write_bytes(b"png")
    records = pd.DataFrame([{"suite": "ood", "run_id": run.name, "model": "vae", "prior": "normal", "mode": "-",
                             "hparams": "-", "metric": "auroc", "checkpoint": "last", "representation": "sample",
                             "value": 0.5, "seed": 0, "artifacts": {"bad": artifact, "good": "ok.png"},
                             **dict(SUITES.get("ood").headline.where)}])  # the headline's scorer and OoD set
    written = leaderboard.copy_best_artifacts(records, tmp_path / "out", tmp_path / "dest")
    assert [p.name for p in written] == ["vae_normal_good.png"]
    assert "outside its run folder" in capsys.readouterr().err


@pytest.mark.parametrize("text", ['{"x":', "[]", '{"sweep_id": "s"}'], ids=["cut", "not-an-object", "no-fields"])
def test_damaged_sweep_metadata_is_one_line(text, tmp_path, capsys):
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "s.json").write_text(text)
    assert main(["status", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'sweeps' / 's.json'}: not valid sweep metadata") and err.count("\n") == 1
