"""The package layers: ``core`` at the bottom, ``models`` and ``metrics`` on it, ``benchmark`` on top.

Read from the source (every ``import``, also inside functions), so a lazy import cannot hide a loop.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package -> the project packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "metrics": {"core"},
    "models": {"core"},
    "benchmark": {"core", "models", "metrics"},
}
PROJECT = set(ALLOWED)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_upward(package):
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        upward = imports(path) - ALLOWED[package] - {package}
        if upward:
            bad[str(path.relative_to(ROOT))] = sorted(upward)
    assert not bad, f"imports from a higher layer: {bad}"


def test_data_never_imports_models():
    bad = [str(p.relative_to(ROOT)) for p in (ROOT / "benchmark" / "data").rglob("*.py") if "models" in imports(p)]
    assert not bad


def test_a_metric_registered_without_a_direction_fails_at_registration():
    from core.registry import Registry
    from metrics.registry import METRICS, Metric, _check

    reg = Registry("metric", check=_check)
    with pytest.raises(ValueError, match="declares no record names"):
        reg.add("x", Metric(len, "x-v1", {}))
    with pytest.raises(ValueError, match="needs a direction"):
        reg.add("y", Metric(len, "y-v1", {"y": "up"}))
    assert METRICS.get("ood").yields["fpr95"] == "lower"


def test_every_committed_record_metric_has_a_declared_direction():
    from benchmark.records.io import read_records
    from metrics import better

    names = {r["metric"] for r in read_records(ROOT / "results" / "records", warn=False)}
    assert names and all(better(n) in ("higher", "lower") for n in names)
