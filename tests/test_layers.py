"""The package layers: ``core`` at the bottom, ``models`` and ``metrics`` on it, ``benchmark`` on top; inside
``benchmark``, subpackages that follow a run's life, each importing only those below it; no import cycle.

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
#: benchmark's layers, top to bottom: layer -> the benchmark layers it may import (core, models, metrics aside).
#: ``plots`` draws figures for suites (artifacts) and results (pages); ``data`` never sees a model.
BENCHMARK_LAYERS = {
    "cli": {"launch", "results", "run", "suites", "config", "records", "data", "plots"},
    "launch": {"results", "run", "suites", "config", "records", "data"},
    "results": {"run", "suites", "config", "records", "plots"},
    "run": {"suites", "config", "records", "data"},
    "suites": {"config", "records", "data", "plots"},
    "config": set(),
    "records": set(),
    "data": set(),
    "plots": set(),
}


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


def _modules() -> dict[str, Path]:
    found = {}
    for package in PROJECT:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _edges(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports: ``from a.b import c`` imports ``a.b`` and, if it is one, ``a.b.c``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules}
    return out - {name}


def test_benchmark_layers_import_only_downward():
    modules = _modules()
    bad = {}
    for name, path in modules.items():
        parts = name.split(".")
        if parts[0] != "benchmark" or len(parts) < 2 or parts[1] in ("__main__",):
            continue
        layer = parts[1]
        assert layer in BENCHMARK_LAYERS, f"{name}: a module outside the named layers"
        for target in _edges(name, path, modules):
            other = target.split(".")
            if other[0] == "benchmark" and len(other) > 1 and other[1] != layer \
                    and other[1] not in BENCHMARK_LAYERS[layer]:
                bad.setdefault(name, []).append(target)
    assert not bad, f"imports from a higher or sideways benchmark layer: {bad}"


def test_benchmark_top_holds_cli_and_at_most_four_other_modules():
    top = sorted(p.name for p in (ROOT / "benchmark").glob("*.py"))
    assert "cli.py" in top and len(top) - 1 <= 4, top


def test_no_import_cycle_anywhere():
    modules = _modules()
    graph = {name: _edges(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, f"import cycles: {cycles}"


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
