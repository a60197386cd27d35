#!/usr/bin/env bash
# The wheel runs anywhere: build it from a clean copy of the checkout, check what it ships, install it into a
# fresh venv and run `gwae-bench list` and the ood smoke suite from an empty folder outside the checkout.
#
# The venv sees the system site-packages (torch is not downloaded again) and the wheel goes in with --no-deps.
# The checkout's own editable install is visible there too, so every package must be shown to import from the
# venv: PYTHONPATH is cleared, the commands run from an empty folder (no checkout on sys.path[0]), the venv's
# site-packages precedes the system's on sys.path, and the check below fails if any package resolves elsewhere.
# Usage: bash scripts/check_wheel.sh   (leaves the wheel in dist/; needs setuptools>=68, or PyPI to fetch it)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
unset PYTHONPATH PYTHONHOME
export PYTHONNOUSERSITE=1

# A copy of the tracked and untracked-but-not-ignored files: a stale build/ of the checkout never leaks in.
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/empty"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"

isolation=()
"$PY" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' 2>/dev/null \
  && isolation=(--no-build-isolation)
"$PY" -m pip wheel -q "$WORK/src" --no-deps "${isolation[@]}" -w "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/gwae_bench-*.whl)"
mkdir -p "$ROOT/dist" && cp "$WHEEL" "$ROOT/dist/"
echo "wheel: dist/$(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"

# Contents: the four packages and their data, nothing else (no tests, scripts, tools, results).
"$PY" - "$WHEEL" "$ROOT/benchmark/data/shipped/MANIFEST.sha256" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
shipped = [line.split()[1] for line in open(sys.argv[2]) if line.strip() and not line.startswith("#")]
need = {f"{p}/__init__.py" for p in ("core", "models", "metrics", "benchmark")} | {
    "benchmark/__main__.py", "benchmark/launch/step_costs.json", "benchmark/data/shipped/MANIFEST.sha256",
    "metrics/weights/mnist-cnn-v1.pt", "metrics/weights/fashion-cnn-v1.pt",
    *(f"benchmark/data/shipped/{name}" for name in shipped)}
stray = sorted(n for n in names if n.split("/")[0] not in ("core", "models", "metrics", "benchmark")
               and not n.startswith("gwae_bench-"))
missing = sorted(need - names)
print(f"{len(names)} files; missing: {missing or 'none'}; outside the packages: {stray or 'none'}")
sys.exit(1 if missing or stray else 0)
EOF

"$PY" -m venv --system-site-packages "$WORK/env"
"$WORK/env/bin/python" -m pip install -q --no-deps "$WHEEL"
cd "$WORK/empty"
"$WORK/env/bin/python" - "$WORK/env" <<'EOF'
import importlib, sys
from pathlib import Path
env = Path(sys.argv[1]).resolve()
from benchmark.data import shipped_data_dir
for name in ("core", "models", "metrics", "benchmark"):
    where = Path(importlib.import_module(name).__file__).resolve()
    print(f"{name}: {where}")
    assert where.is_relative_to(env), f"{name} imports from {where}, not from the venv {env}"
assert shipped_data_dir().is_relative_to(env), shipped_data_dir()
EOF
"$WORK/env/bin/gwae-bench" list > list.txt
grep -q '^  ood ' list.txt || { cat list.txt; echo "gwae-bench list: no ood suite" >&2; exit 1; }
"$WORK/env/bin/gwae-bench" run --suite ood --preset smoke --no-progress
test -s runs/ood/leaderboard.csv || { echo "no runs/ood/leaderboard.csv" >&2; exit 1; }
echo "wheel check passed: gwae-bench list and the ood smoke suite ran from $WORK/empty"
