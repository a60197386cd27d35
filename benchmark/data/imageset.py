"""``ImageSet``: native uint8 images plus the shape a model wants to see.

Images stay uint8 at their native size (MNIST 60k x 28x28 is 47 MB, as float at 64x64x3 it
would be 2.9 GB); conversion to float32 in [0, 1], channel repeat and resize happen per
batch, so one loaded dataset serves every model whatever its input shape.

``__getitems__`` transforms a whole batch in one call. It returns a stacked tensor, which
torch's ``default_collate`` cannot take (it wants a list), so build loaders with
``DataLoader(ds, batch_size=B, collate_fn=identity_collate)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from core.errors import BenchmarkError

Shape = tuple[int, int, int]


class ImageSet(Dataset[Tensor]):
    """A dataset split: ``images`` (N, C, H, W) uint8, optional int64 ``labels``, target shape.

    Treat it as immutable: ``subset`` and ``with_shape`` return new sets that may share tensors.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        name: str,
        split: str = "",
        source: str = "embedded",
        image_shape: Sequence[int] | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"{name}: images must be (N, C, H, W) uint8, got {images.dtype} {tuple(images.shape)}"
            )
        if labels is not None and (labels.ndim != 1 or len(labels) != len(images)):
            raise ValueError(f"{name}: labels must be ({len(images)},), got {tuple(labels.shape)}")
        self.images = images
        self.labels = None if labels is None else labels.to(torch.int64)
        self.name = name
        self.split = split
        self.source = source
        self.image_shape: Shape = (
            self.native_shape if image_shape is None else _check_shape(self, image_shape)
        )

    @property
    def native_shape(self) -> Shape:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        return self._transform(self.images[i].unsqueeze(0))[0]

    def __getitems__(self, indices: list[int]) -> Tensor:
        """A whole batch at once (torch's DataLoader calls this); see ``identity_collate``."""
        return self._transform(self.images[torch.as_tensor(indices, dtype=torch.long)])

    def batches(self, batch_size: int) -> Iterator[Tensor]:
        """Sequential, unshuffled batches: evaluation sees every image once, in a fixed order."""
        if batch_size < 1:
            raise BenchmarkError(f"batch size must be >= 1, got {batch_size}")
        for start in range(0, len(self), batch_size):
            yield self._transform(self.images[start : start + batch_size])

    def subset(self, n: int | None, seed: int) -> ImageSet:
        """The first ``n`` images of a ``seed``-ed permutation; ``None`` or ``n >= len`` keeps all."""
        if n is None or n >= len(self):
            return self._replace(self.images, self.labels)
        if n < 1:
            raise BenchmarkError(f"{self.name}: subset size must be >= 1, got {n}")
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return self._replace(self.images[idx], None if self.labels is None else self.labels[idx])

    def sha256(self) -> str:
        """Checksum of the native uint8 images (shape and bytes): what a record says it scored."""
        digest = hashlib.sha256(str(tuple(self.images.shape)).encode())
        digest.update(self.images.contiguous().numpy().tobytes())
        return digest.hexdigest()

    def with_shape(self, image_shape: Sequence[int]) -> ImageSet:
        return self._replace(self.images, self.labels, image_shape)

    def _replace(self, images: Tensor, labels: Tensor | None, shape: Sequence[int] | None = None) -> ImageSet:
        return ImageSet(
            images,
            labels,
            name=self.name,
            split=self.split,
            source=self.source,
            image_shape=self.image_shape if shape is None else shape,
        )

    def _transform(self, batch: Tensor) -> Tensor:
        c, h, w = self.image_shape
        x = batch.to(torch.float32).div_(255.0)
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
            x = x.clamp_(0.0, 1.0)
        if x.shape[1] != c:
            x = x.repeat(1, c, 1, 1)
        return x

    def __repr__(self) -> str:
        return (
            f"ImageSet({self.name}/{self.split}, n={len(self)}, native={self.native_shape}, "
            f"shape={self.image_shape}, source={self.source})"
        )


def identity_collate(batch: Tensor | Sequence[Tensor]) -> Tensor:
    """``collate_fn`` for ``ImageSet`` loaders: a batch from ``__getitems__`` is already stacked.

    Lists of per-item tensors (datasets without ``__getitems__``, e.g. ``ConcatDataset``) are stacked.
    """
    return batch if isinstance(batch, Tensor) else torch.stack(list(batch))


def _check_shape(images: ImageSet, shape: Sequence[int]) -> Shape:
    if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise BenchmarkError(f"image shape must be three positive ints (C, H, W), got {tuple(shape)}")
    c, h, w = shape
    native_c = images.native_shape[0]
    if c != native_c and not (native_c == 1 and c == 3):
        raise BenchmarkError(f"{images.name}: cannot turn {native_c}-channel images into {c} channels")
    return (c, h, w)


class Loader(Protocol):
    """What ``DATASETS`` holds: ``load(split, data_root)`` plus the splits it accepts."""

    splits: tuple[str, ...]

    def __call__(self, split: str, data_root: Path | None) -> ImageSet: ...


def loader(*splits: str) -> Callable[[Callable[[str, Path | None], ImageSet]], Loader]:
    """Decorator declaring a loader's splits, so ``load_dataset`` can validate them generically."""

    def deco(fn: Callable[[str, Path | None], ImageSet]) -> Loader:
        fn.splits = splits  # type: ignore[attr-defined]
        return cast(Loader, fn)

    return deco
