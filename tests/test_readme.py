"""Every shell command the README shows is run: by this test (the cheap ones) or by CI (`.ci/run`).

A README command that nothing runs can rot unseen, so a new one must be added here or to `.ci/run`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Commands this file runs itself, in a scratch folder against this checkout (PYTHONPATH).
CHEAP = ("python -m benchmark list", "python -m benchmark plan --suite ood")
FIRST_RUN = "python -m benchmark run --suite ood --preset smoke"


def _strip(line: str) -> str:
    """A shell line without its trailing comment and surrounding blanks, spaces collapsed."""
    return " ".join(line.split("  #", 1)[0].split()).strip()


def readme_commands(text: str) -> list[str]:
    """The commands of the README's shell code blocks (```bash / ```sh / ```shell / ```console)."""
    blocks = re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, flags=re.M | re.S)
    return [c for block in blocks for c in map(_strip, block.splitlines()) if c and not c.startswith("#")]


def ci_commands() -> set[str]:
    return {_strip(line) for line in (ROOT / ".ci" / "run").read_text().splitlines()}


def test_readme_commands_are_found() -> None:
    cmds = readme_commands((ROOT / "README.md").read_text())
    assert FIRST_RUN in cmds and "python -m pytest" in cmds, cmds


def test_every_readme_command_is_run_here_or_in_ci() -> None:
    ours, ci = {*CHEAP, FIRST_RUN}, ci_commands()
    missing = [c for c in readme_commands((ROOT / "README.md").read_text()) if c not in ours and c not in ci]
    assert not missing, f"README commands run by neither tests/test_readme.py nor .ci/run: {missing}"


def test_extraction_of_a_block() -> None:
    text = "x\n```bash\npip install -e .  # comment\n\n# a note\nls   -l\n```\n```python\nprint()\n```\n"
    assert readme_commands(text) == ["pip install -e .", "ls -l"]


def _run(cmd: str, cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(cmd)
    assert argv[0] == "python"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, not an installed copy's
    return subprocess.run([sys.executable, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("cmd", CHEAP)
def test_cheap_readme_command_runs(cmd: str, tmp_path: Path) -> None:
    proc = _run(cmd, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert not any(tmp_path.iterdir()), "list and plan must write nothing"


@pytest.mark.slow
def test_first_run_of_the_readme(tmp_path: Path) -> None:
    proc = _run(FIRST_RUN, tmp_path, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "ood" / "leaderboard.csv").is_file()
    assert (tmp_path / "runs" / "index.html").is_file()
