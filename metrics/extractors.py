"""Feature extractors for FID/KID, in one registry: image batches in [0, 1] -> float64 feature rows.

* ``inception-v3-fid``: the FID Inception-v3 of TTUR / pytorch-fid / torch-fidelity (the
  ``pt_inception-2015-12-05`` graph: FID variants of the InceptionA/C/E blocks, 2048-d pool3
  features), built on torchvision's Inception3 layers with our own FID blocks. Inputs are tiled to
  3 channels, resized to 299x299 bilinearly (``F.interpolate``, ``align_corners=False``, as
  pytorch-fid) and scaled to [-1, 1]. The weights cannot be downloaded here: the user gives the file
  (``$GWAE_BENCH_INCEPTION_WEIGHTS``); with the official file the numbers are comparable with
  pytorch-fid (torch-fidelity's TF-exact resize differs slightly).
* ``mnist-cnn-v1`` / ``fashion-cnn-v1``: small CNN classifiers trained in this project
  (``tools/train_domain_extractor.py``), checkpoints committed under ``metrics/weights/`` and
  verified by sha256 at load. FID on MNIST with ImageNet features is close to meaningless (TTUR#24,
  pytorch-fid#12), so the domain features are the default there; they are a *different* FID, and
  every record names its extractor.

Metrics never import models: these networks are part of the metric definition, not benchmark models.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.errors import BenchmarkError
from core.registry import Registry

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
INCEPTION_WEIGHTS_ENV = "GWAE_BENCH_INCEPTION_WEIGHTS"
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
#: torch hub names files ``<name>-<first 8 hex digits of their sha256>``: the official FID weights.
INCEPTION_SHA256_PREFIX = "6726825d"
INCEPTION_SIZE = 299


@dataclass(frozen=True)
class DomainCheckpoint:
    file: str
    sha256: str
    dataset: str


#: Committed domain-classifier checkpoints (see ``metrics/weights/*.json`` for their test accuracy).
DOMAIN_CHECKPOINTS = {
    "mnist-cnn-v1": DomainCheckpoint(
        "mnist-cnn-v1.pt", "83cc22dfb9c4e9d8bca1e6971b990e3439cfb4d4609e3afa4b03b751572c393a", "mnist"),
    "fashion-cnn-v1": DomainCheckpoint(
        "fashion-cnn-v1.pt", "a85f65ee1d522a60376d1ea729a45806f8dcd018645321311cc39f64e5ce1b1b", "fashion-mnist"),
}


class FeatureExtractor:
    """A network plus the preprocessing that defines its features; ``spec`` names both in records."""

    def __init__(self, name: str, spec: str, net: nn.Module, dim: int, weights_sha256: str,
                 prepare: Callable[[Tensor], Tensor], size: int, resize: str, channels: str, batch_size: int) -> None:
        self.name, self.spec, self.net, self.dim = name, spec, net.eval(), dim
        self.weights_sha256, self.prepare, self.batch_size = weights_sha256, prepare, batch_size
        self.size, self.resize, self.channels = size, resize, channels

    @torch.no_grad()
    def features(self, images: Tensor) -> np.ndarray:
        """(N, C, H, W) float images in [0, 1] -> (N, dim) float64 features, in chunks of ``batch_size``."""
        device = next(self.net.parameters()).device
        out = [self.net(self.prepare(images[i : i + self.batch_size].to(device, torch.float32))).double().cpu()
               for i in range(0, len(images), self.batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.dim))

    def features_of(self, batches: Iterable[Tensor]) -> np.ndarray:
        return np.concatenate([self.features(b) for b in batches])

    def to(self, device: torch.device | str) -> FeatureExtractor:
        self.net.to(device)
        return self

    def resize_for(self, shape: tuple[int, int, int]) -> str:
        """How images of ``shape`` (C, H, W) reach the network, e.g. ``bilinear-299,gray-to-rgb``."""
        size = "none" if tuple(shape[-2:]) == (self.size, self.size) else f"{self.resize}-{self.size}"
        return f"{size},{self.channels[shape[0] != 1]}"

    def describe(self) -> dict[str, object]:
        """What a record stores about the extractor."""
        return {"extractor": self.spec, "extractor_weights_sha256": self.weights_sha256, "feature_dim": self.dim}


EXTRACTORS: Registry[Callable[[Path | None], FeatureExtractor]] = Registry("feature extractor")


# -- domain classifiers ------------------------------------------------------------------------
class DomainCNN(nn.Module):
    """28x28 gray classifier: two conv(3x3)+ReLU+maxpool stages (16, 32), Linear 1568 -> 128, ReLU, 10 classes.

    ``forward`` gives the 128-d penultimate activations (the FID features); ``logits`` the classes.
    """

    FEATURES = 128

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, self.FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(self.FEATURES, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    def logits(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def to_gray28(x: Tensor) -> Tensor:
    """Any (N, C, H, W) batch in [0, 1] -> (N, 1, 28, 28): channel mean, then the antialiased
    bilinear resize that ``ImageSet`` uses, so real and generated images take the same path."""
    if x.shape[1] != 1:
        x = x.mean(dim=1, keepdim=True)
    if x.shape[-2:] != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return x


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_domain_cnn(name: str, path: Path | None = None) -> FeatureExtractor:
    """The committed checkpoint (or ``path``), refused unless its sha256 is the pinned one."""
    ckpt = DOMAIN_CHECKPOINTS[name]
    path = WEIGHTS_DIR / ckpt.file if path is None else Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: file not found (the {name} checkpoint ships with the repository; "
                             "tools/train_domain_extractor.py rebuilds it)")
    got = file_sha256(path)
    if got != ckpt.sha256:
        raise BenchmarkError(f"{path}: sha256 mismatch (expected {ckpt.sha256}, got {got}); "
                             f"the {name} checkpoint is corrupt or not the pinned version")
    net = DomainCNN()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return FeatureExtractor(name, name, net, DomainCNN.FEATURES, got, to_gray28, 28, "bilinear-antialias",
                            ("gray", "rgb-mean-to-gray"), batch_size=1000)


for _name, _ckpt in DOMAIN_CHECKPOINTS.items():
    EXTRACTORS.add(_name, functools.partial(load_domain_cnn, _name),
                   f"small CNN classifier trained on {_ckpt.dataset} in this project, 128-d features "
                   f"(metrics/weights/{_ckpt.file}, sha256-pinned)")




def inception_input(x: Tensor) -> Tensor:
    """[0, 1] images of any size -> 3 x 299 x 299 in [-1, 1] (pytorch-fid's resize and scaling)."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
        x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
    return 2.0 * x - 1.0


def inception_weights_path(path: Path | str | None = None) -> Path | None:
    """The explicit path, else ``$GWAE_BENCH_INCEPTION_WEIGHTS``, else None (no Inception FID)."""
    given = path if path not in (None, "") else os.environ.get(INCEPTION_WEIGHTS_ENV) or None
    return None if given is None else Path(given).expanduser()


@functools.lru_cache(maxsize=2)
def _inception_state(path: str, size: int, mtime_ns: int) -> tuple[dict[str, Tensor], str]:
    """Read and shape-check a weights file once per process (keyed by path, size and mtime)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise BenchmarkError(f"{path}: not a readable torch weights file ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise BenchmarkError(f"{path}: expected a state_dict, got {type(state).__name__}")
    from metrics.fid_inception import FIDInceptionV3

    expected = {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or extra or wrong:
        parts = [f"{len(v)} {what} (e.g. {v[0]})" for what, v in
                 (("missing keys", missing), ("unexpected keys", extra), ("keys of the wrong shape", wrong)) if v]
        raise BenchmarkError(f"{path}: not the FID Inception-v3 weights ({INCEPTION_FILE}): " + "; ".join(parts))
    return state, file_sha256(Path(path))


def load_inception(path: Path | str | None = None) -> FeatureExtractor:
    """The FID Inception from a user-supplied weights file; one clear error line if it is missing or wrong."""
    resolved = inception_weights_path(path)
    if resolved is None:
        raise BenchmarkError(f"FID Inception weights not given: set ${INCEPTION_WEIGHTS_ENV} to the path of "
                             f"{INCEPTION_FILE} (they cannot be downloaded here)")
    if not resolved.is_file():
        raise BenchmarkError(f"{resolved}: file not found (${INCEPTION_WEIGHTS_ENV} must name {INCEPTION_FILE})")
    stat = resolved.stat()
    state, sha = _inception_state(str(resolved.resolve()), stat.st_size, stat.st_mtime_ns)
    from metrics.fid_inception import FIDInceptionV3

    net = FIDInceptionV3()
    net.load_state_dict(state)
    official = sha.startswith(INCEPTION_SHA256_PREFIX)
    spec = "inception-v3-fid/pt_inception-2015-12-05" if official else f"inception-v3-fid/unofficial-{sha[:12]}"
    return FeatureExtractor("inception-v3-fid", spec, net, FIDInceptionV3.FEATURES, sha, inception_input,
                            INCEPTION_SIZE, "bilinear", ("gray-tiled-to-rgb", "rgb"), batch_size=50)


EXTRACTORS.add("inception-v3-fid", load_inception,
               f"FID Inception-v3 (pt_inception-2015-12-05 graph), 2048-d pool3; weights from ${INCEPTION_WEIGHTS_ENV}")


def build_extractor(name: str, weights: Path | str | None = None) -> FeatureExtractor:
    """The registered extractor ``name``; ``weights`` overrides its weights file (sha256 rules still apply)."""
    return EXTRACTORS.get(name)(weights)


def __getattr__(name: str):
    """``FIDInceptionV3`` from ``metrics.fid_inception``, imported on first use: torchvision's import
    pulls in torch._dynamo, about half of ``python -m benchmark list``'s start-up."""
    if name == "FIDInceptionV3":
        from metrics.fid_inception import FIDInceptionV3

        return FIDInceptionV3
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
