"""Checkpoints that open safely: ``torch.load(..., weights_only=True)`` only, RNG states as tensors.

Researchers share and download run folders, so loading one must never run code. A file that
holds other objects is refused (one line naming it) and never loaded; a truncated or garbled
file is reported as unreadable, so an interrupted run can fall back to another checkpoint.
"""

from __future__ import annotations

import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.serialization import get_unsafe_globals_in_checkpoint

from core.errors import CheckpointError, UnsafeCheckpointError

#: 2: weights_only-safe (RNG states as tensors), and the best checkpoint holds the full training state.
CHECKPOINT_FORMAT = 2


def pack_rng() -> dict[str, Any]:
    """Torch, CUDA, numpy and Python RNG states as tensors and numbers."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def unpack_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    n = rng["numpy"]
    keys = n["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = rng["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))


def load_state(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; ``UnsafeCheckpointError`` (naming the file) for one
    that holds other objects, ``CheckpointError`` (the reason) for an unreadable one."""
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols: one line is ours to print
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        unsafe = _unsafe_globals(path)
        if any(g.startswith("numpy") for g in unsafe):
            raise UnsafeCheckpointError(
                f"{path} is a checkpoint of an older gwae-bench format (pickled numpy objects), refused because "
                "loading it could run code; delete it to retrain this run") from None
        if unsafe:
            raise UnsafeCheckpointError(
                f"{path} is refused: it holds objects other than tensors, numbers and strings "
                f"({', '.join(unsafe[:3])}), and loading it could run code") from None
        raise CheckpointError("not a torch checkpoint") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = (str(exc).splitlines() or [""])[0].split(". ")[0][:120] or type(exc).__name__
        raise CheckpointError(f"truncated or corrupt: {first}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError("not a gwae-bench checkpoint (no model weights)")
    return state


def _unsafe_globals(path: Path) -> list[str]:
    """The globals a checkpoint's pickle names, read without unpickling (``[]`` if it is not a zip checkpoint)."""
    try:
        return list(get_unsafe_globals_in_checkpoint(path))
    except (RuntimeError, ValueError, OSError, pickle.UnpicklingError):
        return []
