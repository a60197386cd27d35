"""The wheel ships the four packages with their data (shipped datasets, extractor weights) and nothing else.

A wheel installed outside the checkout has only what it ships: a dataset or weight file left out would
break every run there, and tests, scripts, tools or results shipped would bloat it.
(scripts/check_wheel.sh installs it into a fresh venv and runs the CLI from an empty folder.)
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "models", "metrics", "benchmark")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    # a copy, so the checkout's build/ (stale files) neither leaks in nor is written to
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "dist", "runs", "*.egg-info",
                                                             "__pycache__", ".venv", ".whl"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", str(src), "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist")], check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = (tmp / "dist").glob("gwae_bench-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


@pytest.mark.slow
def test_the_wheel_ships_the_packages_and_their_data(wheel_names):
    shipped = ROOT / "benchmark" / "data" / "shipped"
    data = {f"benchmark/data/shipped/{p.relative_to(shipped).as_posix()}" for p in shipped.rglob("*") if p.is_file()}
    weights = {f"metrics/weights/{p.name}" for p in (ROOT / "metrics" / "weights").iterdir() if p.is_file()}
    sources = {p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    need = data | weights | sources | {"benchmark/launch/step_costs.json"}
    assert {"benchmark/data/shipped/MANIFEST.sha256", "metrics/weights/mnist-cnn-v1.pt"} <= need
    assert need - wheel_names == set()
    assert any(n.endswith(".dist-info/entry_points.txt") for n in wheel_names)


@pytest.mark.slow
def test_the_wheel_ships_nothing_outside_the_packages(wheel_names):
    tops = {n.split("/")[0] for n in wheel_names} - set(PACKAGES)
    assert len(tops) == 1 and tops.pop().endswith(".dist-info")
    assert not [n for n in wheel_names if n.split("/")[0] in ("tests", "scripts", "tools", "results", "data")]
