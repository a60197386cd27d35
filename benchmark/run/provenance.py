"""What produced a number: library versions, code revision and hardware, attached to every record."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import benchmark
from benchmark.run import threads
from models import MODELS

LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "pot")


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "gwae-bench": benchmark.__version__}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "absent"
    out["git"] = _git_revision()
    return out


def model_source(name: str) -> str:
    """Where model ``name``'s code comes from: its plugin's ``dist version``, else this package's version."""
    return MODELS.get(name).source or f"gwae-bench {benchmark.__version__}"


def _git_revision() -> str:
    """The checkout's revision; "unknown" for an installed wheel, even one in a venv inside another repository."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():  # a file in a git worktree, a folder in a clone
        return "unknown"
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("-dirty" if dirty else "")) if sha else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: CPU flags of bf16 arithmetic units (x86 AVX-512 BF16 and AMX, Arm's BF16 extension).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def has_bf16_units(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively; where not, bf16 autocast is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(_cpu_flags() & BF16_CPU_FLAGS)


def hardware(device: torch.device) -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, Any] = {
        "device": device.type,
        "cpu": _cpu_model(),
        "cpu_cores": cores,
        "torch_threads": torch.get_num_threads(),
        "thread_policy": threads.applied(),
        "host": platform.node(),
        "platform": sys.platform,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def describe(hw: dict[str, Any]) -> str:
    """One line for leaderboards: 'NVIDIA H100 (cuda)' or '2-core Intel ... (cpu)'."""
    if hw.get("gpu"):
        return f"{hw['gpu']} (cuda)"
    return f"{hw.get('cpu_cores', '?')}-core {hw.get('cpu', 'cpu')} (cpu)"
