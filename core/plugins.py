"""Registry entries from other installed distributions, through entry points (``gwae_bench.models``, ...).

A plugin is code the benchmark does not control, so its failures never break the benchmark: one that fails to
import or to register is named in one warning line on stderr (entry point and distribution) and skipped, and a
name that is already registered (a built-in, or an earlier plugin) is refused the same way, before its code is
imported, so a plugin can never replace a built-in entry that committed results were produced with.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeVar

from core.registry import Registry

T = TypeVar("T")

MODELS_GROUP = "gwae_bench.models"
METRICS_GROUP = "gwae_bench.metrics"
DATASETS_GROUP = "gwae_bench.datasets"


def distribution(ep: metadata.EntryPoint) -> str:
    """``name version`` of the distribution that declares ``ep`` (what records and ``list`` name)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution"
    return f"{dist.metadata['Name'] or dist.name} {dist.version}"


def warn(ep: metadata.EntryPoint, why: str) -> None:
    reason = " ".join(why.split())  # one line, whatever the exception's message holds
    print(f"warning: plugin {ep.name!r} ({ep.value}, {distribution(ep)}, group {ep.group}) skipped: {reason}",
          file=sys.stderr)


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """The group's entry points, in name order (a stable registry whatever the install order)."""
    return sorted(metadata.entry_points(group=group), key=lambda ep: (ep.name, ep.value))


def load_into(group: str, registry: Registry[T], adapt: Callable[[Any, str], tuple[T, str]]) -> list[str]:
    """Add each entry point of ``group`` to ``registry`` under its name: ``adapt(loaded, "dist version")`` gives
    the entry and its summary, and raises (``TypeError``) on an object of the wrong kind. Returns the names added."""
    added = []
    for ep in entry_points(group):
        if ep.name in registry:
            warn(ep, f"the name clashes with a registered {registry.kind}")
            continue
        try:
            entry, summary = adapt(ep.load(), distribution(ep))
            registry.add(ep.name, entry, summary)
        except Exception as exc:  # a plugin's bug of any kind: named, skipped, never fatal
            warn(ep, f"{type(exc).__name__}: {exc}")
            continue
        added.append(ep.name)
    return added


def import_modules(group: str) -> list[str]:
    """Import each entry point of ``group`` for its side effects (``@metric`` registrations); a failure is one
    warning line. Returns the entry points imported."""
    done = []
    for ep in entry_points(group):
        try:
            ep.load()
        except Exception as exc:
            warn(ep, f"{type(exc).__name__}: {exc}")
            continue
        done.append(ep.name)
    return done
