"""Plugins (``core.plugins``): a broken or clashing one is one warning line and is skipped, a good one joins its
registry with its distribution named; the example plugin trains and ranks through the real CLI (slow)."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark.data import DATASETS, plugin_loader
from benchmark.data.imageset import loader
from benchmark.records.schema import REFERENCE_MODEL
from core import plugins
from core.registry import Registry
from models import MODELS, ModelSpec, plugin_spec
from models.vae import VAE

ROOT = Path(__file__).resolve().parents[1]


class FakeDist:
    name = "fake-dist"
    version = "1.2"
    metadata = {"Name": "fake-dist"}


class FakeEntryPoint:
    """What ``core.plugins`` reads of an entry point: name, value, group, dist, load()."""

    def __init__(self, name, group, load):
        self.name, self.group, self.value, self.dist, self._load = name, group, f"fake_mod:{name}", FakeDist(), load

    def load(self):
        return self._load()


def fake_entry_points(monkeypatch, *eps):
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [ep for ep in eps if ep.group == group])


def model_registry():
    reg: Registry[ModelSpec] = Registry("model")
    reg.add("vae", MODELS.get("vae"), "built-in")
    return reg


def warnings(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line]


def test_a_plugin_that_fails_to_import_is_one_warning_line(monkeypatch, capsys):
    def broken():
        raise ImportError("No module named 'fake_mod'\n(a second line the warning folds)")

    fake_entry_points(monkeypatch, FakeEntryPoint("broken-ae", plugins.MODELS_GROUP, broken))
    reg = model_registry()
    assert plugins.load_into(plugins.MODELS_GROUP, reg, plugin_spec) == []
    (line,) = warnings(capsys)
    assert line.startswith("warning: plugin 'broken-ae' (fake_mod:broken-ae, fake-dist 1.2, group gwae_bench.models)")
    assert "ImportError: No module named 'fake_mod' (a second line" in line
    assert reg.names() == ["vae"]


def test_a_name_that_clashes_with_a_built_in_is_refused_before_its_code_runs(monkeypatch, capsys):
    loaded = []
    fake_entry_points(monkeypatch, FakeEntryPoint("vae", plugins.MODELS_GROUP, lambda: loaded.append(1) or VAE))
    reg = model_registry()
    assert plugins.load_into(plugins.MODELS_GROUP, reg, plugin_spec) == []
    (line,) = warnings(capsys)
    assert "'vae'" in line and "fake-dist 1.2" in line and "clashes with a registered model" in line
    assert not loaded and reg.get("vae").source == ""


def test_an_object_of_the_wrong_kind_is_one_warning_line(monkeypatch, capsys):
    fake_entry_points(monkeypatch, FakeEntryPoint("odd", plugins.MODELS_GROUP, lambda: 42),
                      FakeEntryPoint("bad-defaults", plugins.MODELS_GROUP, lambda: ModelSpec(VAE, {"bogus": 1})))
    reg = model_registry()
    assert plugins.load_into(plugins.MODELS_GROUP, reg, plugin_spec) == []
    lines = warnings(capsys)
    assert len(lines) == 2
    assert "'bad-defaults'" in lines[0] and "unknown key(s) bogus" in lines[0]
    assert "'odd'" in lines[1] and "neither a models.ModelSpec nor" in lines[1]


def test_a_good_model_plugin_joins_with_its_distribution(monkeypatch, capsys):
    fake_entry_points(monkeypatch, FakeEntryPoint("my-vae", plugins.MODELS_GROUP, lambda: VAE),
                      FakeEntryPoint("my-bvae", plugins.MODELS_GROUP, lambda: ModelSpec(VAE, {"beta": 2.0}, "mine")))
    reg = model_registry()
    assert plugins.load_into(plugins.MODELS_GROUP, reg, plugin_spec) == ["my-bvae", "my-vae"]
    assert not warnings(capsys)
    assert reg.get("my-vae").source == "fake-dist 1.2" and reg.get("my-bvae").defaults == {"beta": 2.0}
    assert reg.entry("my-bvae").summary == "mine [plugin: fake-dist 1.2]"
    assert reg.entry("my-vae").summary.startswith("VAE")


def test_dataset_plugins_and_metric_modules(monkeypatch, capsys):
    @loader("test")
    def tiny(split, data_root):
        """A tiny dataset."""

    fake_entry_points(monkeypatch, FakeEntryPoint("tiny", plugins.DATASETS_GROUP, lambda: tiny),
                      FakeEntryPoint("mnist", plugins.DATASETS_GROUP, lambda: tiny),
                      FakeEntryPoint("nosplits", plugins.DATASETS_GROUP, lambda: print),
                      FakeEntryPoint("metrics-ok", plugins.METRICS_GROUP, lambda: None),
                      FakeEntryPoint("metrics-bad", plugins.METRICS_GROUP, lambda: 1 / 0))
    reg = Registry("dataset")
    reg.add("mnist", DATASETS.get("mnist"))
    assert plugins.load_into(plugins.DATASETS_GROUP, reg, plugin_loader) == ["tiny"]
    assert reg.entry("tiny").summary == "A tiny dataset. [plugin: fake-dist 1.2]"
    assert plugins.import_modules(plugins.METRICS_GROUP) == ["metrics-ok"]
    lines = warnings(capsys)
    assert len(lines) == 3
    assert "'mnist'" in lines[0] and "clashes with a registered dataset" in lines[0]
    assert "'nosplits'" in lines[1] and "not a dataset loader" in lines[1]
    assert "'metrics-bad'" in lines[2] and "ZeroDivisionError" in lines[2]


def _env(*paths: Path) -> dict[str, str]:
    """A child that imports this checkout (not the editable install's) and sees the plugins under ``paths``."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, paths), str(ROOT)])}


@pytest.mark.slow
def test_a_broken_installed_plugin_never_breaks_the_cli(tmp_path):
    """A real distribution (a dist-info folder on the path) whose entry point names a module that is not there."""
    info = tmp_path / "broken_plugin-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[gwae_bench.models]\nbroken = no_such_module_xyz:SPEC\n"
                                           "vae = no_such_module_xyz:OTHER\n")
    done = subprocess.run([sys.executable, "-m", "benchmark", "list"], capture_output=True, text=True,
                          env=_env(tmp_path), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2, lines
    assert "'broken'" in lines[0] and "broken-plugin 0.3" in lines[0] and "ModuleNotFoundError" in lines[0]
    assert "'vae'" in lines[1] and "broken-plugin 0.3" in lines[1] and "clashes" in lines[1]
    assert "  vae " in done.stdout


@pytest.mark.slow
def test_the_example_plugin_trains_and_ranks_like_a_built_in(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(ROOT / "examples" / "plugin")], check=True, capture_output=True, timeout=300)
    env = _env(site)
    listed = subprocess.run([sys.executable, "-m", "benchmark", "list"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert "[plugin: gwae-bench-plain-ae 0.1.0]" in listed.stdout and not listed.stderr
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "benchmark", "run", "--suite", "ood", "--preset", "smoke",
                           "--models", "plain-ae", "--out", str(out)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    board = pd.read_csv(out / "ood" / "leaderboard.csv")
    assert set(board["model"]) == {"plain-ae", REFERENCE_MODEL} and (board["rank"] == 1).all()
    records = [json.loads(line) for path in out.glob("ood-plain-ae-*/records.jsonl")
               for line in path.read_text().splitlines()]
    records = [r for r in records if r.get("model") == "plain-ae"]  # not the completion marker, nor references
    assert records and {r["model_source"] for r in records} == {"gwae-bench-plain-ae 0.1.0"}
