"""Mixed precision: a run's forward passes under bf16 autocast, and the fp32 islands models keep inside them.

``fp32`` (the default, what the paper ran) changes nothing. ``bf16`` runs the forward passes of training,
validation and scoring under ``torch.autocast(dtype=torch.bfloat16)`` on CPU and CUDA: matrix products and
convolutions in bf16, parameters, gradients and optimizer state in fp32 (autocast casts copies), images and
convolution weights channels-last (``memory_format``). What must not
lose precision leaves autocast with ``fp32()``: spectral-norm power iterations, gradient penalties, GW distances,
DAGMM's mixture statistics (already float64). Scoring reads the model through ``MixedPrecision``, whose outputs
are fp32, so every metric is computed in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

PRECISIONS = ("fp32", "bf16")
#: The model methods scoring calls: run under autocast, their tensors handed back in fp32.
INFERENCE = ("encode", "decode", "reconstruct", "generate", "sample_prior", "ood_score")


def check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """The run's forward-pass context: bf16 autocast on ``device``'s type, or nothing for fp32."""
    if check(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def memory_format(precision: str) -> torch.memory_format:
    """bf16 stores images and convolution weights channels-last, where oneDNN's (and cuDNN's) bf16 convolution
    kernels are fastest (docs/speed.md); fp32 keeps the layout its numbers were measured in."""
    return torch.channels_last if check(precision) == "bf16" else torch.contiguous_format


def batch(x: Tensor, precision: str) -> Tensor:
    """An image batch in the precision's layout (values unchanged)."""
    return x.contiguous(memory_format=memory_format(precision)) if x.dim() == 4 else x


@contextlib.contextmanager
def fp32(*tensors: Tensor) -> Iterator[tuple[Tensor, ...]]:
    """An fp32 island: autocast off for the block, ``tensors`` handed in as fp32 (float64 ones stay).

    ``with fp32(a, b) as (a, b): ...``; outside autocast it only upcasts bf16 inputs.
    """
    types = {t.device.type for t in tensors} or {"cpu"}
    with contextlib.ExitStack() as stack:
        for kind in types:
            stack.enter_context(torch.autocast(kind, enabled=False))
        yield tuple(t.float() if t.dtype in (torch.bfloat16, torch.float16) else t for t in tensors)


def as_fp32(value: Any) -> Any:
    """Floating tensors (also inside tuples, lists and dicts) in fp32; anything else as it is."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, tuple | list):
        return type(value)(as_fp32(v) for v in value)
    if isinstance(value, dict):
        return {k: as_fp32(v) for k, v in value.items()}
    return value


class MixedPrecision:
    """A model as scoring sees it: ``INFERENCE`` methods under the run's autocast, image inputs in its layout
    (the model is moved to it), outputs in fp32.

    Everything else (attributes, ``eval()``, the model's other methods) is the model's own. ``isinstance``
    checks read ``model``.
    """

    def __init__(self, model: Any, precision: str) -> None:
        self.model, self.precision = model.to(memory_format=memory_format(precision)), check(precision)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.model, name)
        if name not in INFERENCE or self.precision == "fp32":
            return attr
        return self._wrapped(attr)

    def _wrapped(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.model.device, self.precision):
                out = method(*(batch(a, self.precision) if isinstance(a, Tensor) else a for a in args), **kwargs)
            return as_fp32(out)

        return call


def of(model: Any, precision: str) -> Any:
    """``model`` itself for fp32 (scoring exactly as before), else its ``MixedPrecision`` view."""
    return model if check(precision) == "fp32" else MixedPrecision(model, precision)
