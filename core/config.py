"""Typed configs that round-trip through plain dicts (and so JSON files).

``from_dict`` rejects unknown keys and wrong types with one clear line, which is what a
user needs when a sweep file or ``--set`` override has a typo.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from typing import Any, TypeVar

from core.errors import BenchmarkError

C = TypeVar("C")
INT_MAX = 2**31 - 1
FLOAT_MAX = 1e6  # no coefficient, rate or scale of any model is near this
#: Bounds of numeric config fields by name, checked before anything is written: (low, high, low is open).
#: Every float must be finite and within +-FLOAT_MAX, every int within 0..INT_MAX; these names are held tighter.
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "lr": (0, math.inf, True), "lr_critic": (0, math.inf, True),
    "beta": (0, math.inf, False), "drift": (0, math.inf, False),
    "z_dim": (1, 4096, False), "num_components": (1, 1000, False), "critic_steps": (0, 100, False),
    "batch_size": (2, 65536, False), "max_epochs": (1, 10**6, False), "patience": (1, 10**6, False),
    "steps_per_epoch": (1, 10**9, False),
}
NONNEGATIVE_PREFIXES = ("coef_", "lambda_")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type[C], data: dict[str, Any], where: str = "") -> C:
    """Build dataclass ``cls`` from ``data``, checking keys and value types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    label = where or cls.__name__
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BenchmarkError(f"{label}: unknown key(s) {', '.join(unknown)} (known: {', '.join(fields)})")
    values = {}
    for name, value in data.items():
        values[name] = _coerce(value, hints[name], f"{label}.{name}")
        check_number(name, values[name], f"{label}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise BenchmarkError(f"{label}: {exc}") from None


def check_number(name: str, value: Any, where: str) -> None:
    """Reject NaN, infinities and out-of-range numbers: they pass type checks, then crash mid-training."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise BenchmarkError(f"{where}: must be a finite number, got {value}")
    low, high, open_low = BOUNDS.get(name, (-FLOAT_MAX, FLOAT_MAX, False))
    if name.startswith(NONNEGATIVE_PREFIXES):
        low = max(low, 0)
    if isinstance(value, int):
        low, high = max(low, 0), min(high, INT_MAX)
    else:
        low, high = max(low, -FLOAT_MAX), min(high, FLOAT_MAX)
    if value < low or (open_low and value == low) or value > high:
        lower = f"> {low:g}" if open_low else f">= {low:g}"
        upper = "" if high == math.inf else f" and <= {high:g}"
        raise BenchmarkError(f"{where}: must be {lower}{upper}, got {value}")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except BenchmarkError:
                continue
        raise BenchmarkError(f"{where}: {value!r} is not a valid {hint}")
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise BenchmarkError(f"{where}: {value!r} is not one of {typing.get_args(hint)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise BenchmarkError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        items = [_coerce(v, item, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is Any:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise BenchmarkError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def config_hash(data: dict[str, Any], length: int = 12) -> str:
    """Content address of a resolved config: identical configs share a run folder."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: nested config sections (``prior``) are merged, not replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"prior": {"mode": [...]}}`` (TOML dotted keys) -> ``{"prior.mode": [...]}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"prior.mode": "fixed"}`` -> ``{"prior": {"mode": "fixed"}}`` (sweep grids and ``--set``)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def plain(value: Any) -> Any:
    """Tuples as lists, recursively: the JSON form of a config, equal to what it reads back as."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
