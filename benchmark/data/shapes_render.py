"""Procedural 3D-Shapes-grid: a small re-implementation of the 3D Shapes factor grid, rendered on demand.

NOT DeepMind's 3D Shapes images: a numpy ray caster (fixed pinhole camera, Lambert shading, a soft
blob shadow) of a floor, a back wall and one object, on the EXACT grid of the real data
(``FACTOR_SIZES`` 10 x 10 x 10 x 8 x 4 x 15, index = row-major position), so disentanglement
code runs on machines without ``3dshapes.h5`` and 480,000 images need no storage.

Determinism: per-pixel work is only + - * / sqrt (IEEE exact) and each image is computed
independently of its batch; the few trigonometric values are small tables rounded to 12 decimals.
So an index gives byte-identical pixels across calls, batch compositions and processes.
Orientation rotates the object about the vertical axis: invisible for the sphere (as in the real
data); cylinder and capsule carry a dark vertical stripe so their rotation shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.imageset import loader
from benchmark.data.shapes3d import FACTOR_SIZES, FACTOR_VALUES, IMAGE_HWC, SPLITS, GridImageSet, split_indices

F = np.float32
H, W, _ = IMAGE_HWC
_EYE = np.array([0.0, 1.45, 3.4])
_TARGET = np.array([0.0, 0.5, 0.0])
_HALF_FOV_TAN = 0.36  # tan of half the field of view (about 20 degrees)
_WALL_Z = -1.7
_LIGHT = np.array([-0.5, 0.75, 0.6])
_AMBIENT = 0.35
_STRIPE_COS = 0.96  # stripe: side normal within ~16 degrees of the object's local +z
_STRIPE_DARK = 0.45


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt((v * v).sum(axis=-1, keepdims=True))


def hsv_to_rgb(hue: np.ndarray) -> np.ndarray:
    """(n,) hues in [0, 1) -> (n, 3) RGB in [0, 1] at full saturation and value (arithmetic only)."""
    h6 = np.asarray(hue, np.float64) * 6.0
    sector = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    one, zero, up, down = np.ones_like(f), np.zeros_like(f), f, 1.0 - f
    table = np.stack(
        [
            np.stack([one, up, zero], -1),
            np.stack([down, one, zero], -1),
            np.stack([zero, one, up], -1),
            np.stack([zero, down, one], -1),
            np.stack([up, zero, one], -1),
            np.stack([one, zero, down], -1),
        ]
    )
    return table[sector, np.arange(len(f))]


Vec = tuple[Any, Any, Any]


class _Hit:
    """Nearest hit so far per ray: distance ``t``, local normal, and whether it is on the stripe."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.t = np.full(shape, np.inf, F)
        self.n = [np.zeros(shape, F) for _ in range(3)]
        self.stripe = np.zeros(shape, bool)

    def take(self, t: np.ndarray, n: Vec, stripe: np.ndarray | bool = False) -> None:
        better = t < self.t
        self.t = np.where(better, t, self.t)
        self.n = [np.where(better, new, old) for new, old in zip(n, self.n, strict=True)]
        self.stripe = np.where(better, stripe, self.stripe)


def _sphere(hit: _Hit, o: Vec, d: Vec, cy: float, r: float) -> None:
    ox, oy, oz = o[0], o[1] - F(cy), o[2]
    b = ox * d[0] + oy * d[1] + oz * d[2]
    disc = b * b - (ox * ox + oy * oy + oz * oz - F(r * r))
    t = -b - np.sqrt(np.maximum(disc, 0))
    t = np.where((disc >= 0) & (t > 0), t, np.inf)
    hit.take(t, ((ox + t * d[0]) / F(r), (oy + t * d[1]) / F(r), (oz + t * d[2]) / F(r)))


def _cylinder(hit: _Hit, o: Vec, d: Vec, r: float, y0: float, y1: float, cap: bool) -> None:
    a = d[0] * d[0] + d[2] * d[2]
    b = o[0] * d[0] + o[2] * d[2]
    disc = b * b - a * (o[0] * o[0] + o[2] * o[2] - F(r * r))
    t = (-b - np.sqrt(np.maximum(disc, 0))) / np.maximum(a, F(1e-12))
    y = o[1] + t * d[1]
    t = np.where((disc >= 0) & (t > 0) & (y >= F(y0)) & (y <= F(y1)), t, np.inf)
    nx, nz = (o[0] + t * d[0]) / F(r), (o[2] + t * d[2]) / F(r)
    hit.take(t, (nx, np.zeros_like(nx), nz), nz > F(_STRIPE_COS) * np.sqrt(nx * nx + nz * nz))
    if cap:  # flat top, seen from above
        t = (F(y1) - o[1]) / d[1]
        x, z = o[0] + t * d[0], o[2] + t * d[2]
        t = np.where((t > 0) & (x * x + z * z <= F(r * r)), t, np.inf)
        hit.take(t, (np.zeros_like(t), np.ones_like(t), np.zeros_like(t)))


def _box(hit: _Hit, o: Vec, d: Vec, a: float) -> None:
    lo, hi = (-a, 0.0, -a), (a, 2 * a, a)
    near, far = None, None
    normal: list[Any] = [0, 0, 0]
    for k in range(3):
        dk = np.where(np.abs(d[k]) < F(1e-7), F(1e-7), d[k])
        t0, t1 = (F(lo[k]) - o[k]) / dk, (F(hi[k]) - o[k]) / dk
        tmin, tmax = np.minimum(t0, t1), np.maximum(t0, t1)
        if near is None:
            near, far = tmin, tmax
            normal = [np.where(dk < 0, F(1), F(-1)) if j == k else F(0) for j in range(3)]
        else:
            enter = tmin > near
            near, far = np.where(enter, tmin, near), np.minimum(far, tmax)
            sign = np.where(dk < 0, F(1), F(-1))
            normal = [np.where(enter, sign if j == k else F(0), normal[j]) for j in range(3)]
    t = np.where((near <= far) & (far > 0), near, np.inf)
    hit.take(t, tuple(np.broadcast_to(n, t.shape) for n in normal))


def _object(shape: int, o: Vec, d: Vec, n_rays: tuple[int, int]) -> _Hit:
    hit = _Hit(n_rays)
    if shape == 0:  # cube
        _box(hit, o, d, 0.42)
    elif shape == 1:  # cylinder
        _cylinder(hit, o, d, 0.42, 0.0, 0.84, cap=True)
    elif shape == 2:  # sphere
        _sphere(hit, o, d, 0.48, 0.48)
    else:  # capsule: a cylinder between two half-spheres
        r, top = 0.34, 1.1
        _cylinder(hit, o, d, r, r, top - r, cap=False)
        _sphere(hit, o, d, top - r, r)
        _sphere(hit, o, d, r, r)
    return hit


def _camera(cull: bool = True) -> dict[str, np.ndarray]:
    """Per-pixel ray directions and the object-independent background (computed once, float32).

    ``cull`` keeps only rays that can reach an object (fewer to cast; ``False`` for a test).
    """
    fwd = _unit(_TARGET - _EYE)
    right = _unit(np.cross(fwd, np.array([0.0, 1.0, 0.0])))
    up = np.cross(right, fwd)
    u = ((np.arange(W) + 0.5) / W * 2 - 1) * _HALF_FOV_TAN
    v = -((np.arange(H) + 0.5) / H * 2 - 1) * _HALF_FOV_TAN
    d = _unit(fwd + u[None, :, None] * right + v[:, None, None] * up).reshape(-1, 3)
    t_floor = np.where(d[:, 1] < 0, -_EYE[1] / np.minimum(d[:, 1], -1e-9), np.inf)
    fx, fz = _EYE[0] + t_floor * d[:, 0], _EYE[2] + t_floor * d[:, 2]
    floor = np.isfinite(t_floor) & (fz > _WALL_Z)
    t_wall = (_WALL_Z - _EYE[2]) / d[:, 2]
    wy, wx = _EYE[1] + t_wall * d[:, 1], _EYE[0] + t_wall * d[:, 0]
    z_near = fz[floor].max()
    floor_shade = 0.55 + 0.45 * np.clip((fz - _WALL_Z) / (z_near - _WALL_Z), 0, 1)
    wall_shade = (0.7 + 0.25 * np.clip(wy / wy.max(), 0, 1)) * (1 - 0.08 * (wx / np.abs(wx).max()) ** 2)
    # rays that can reach an object: those meeting a cylinder around the largest one (fewer rays to cast)
    bound = _Hit((len(d),))
    _cylinder(bound, tuple(_EYE.astype(F)), tuple(d.T.astype(F)), 0.8, 0.0, 1.45, cap=True)
    near = np.isfinite(bound.t) | (not cull)
    return {
        "d": d[near].astype(F),
        "object_rays": np.flatnonzero(near),
        "floor": floor,
        "fx": fx[floor].astype(F),
        "fz": fz[floor].astype(F),
        "floor_shade": floor_shade[floor].astype(F),
        "wall_shade": wall_shade[~floor].astype(F),
    }


_CAM = _camera()
_HUE_RGB = hsv_to_rgb(FACTOR_VALUES[0]).astype(F)
_SCALE = FACTOR_VALUES[3].astype(F)
_RAD = np.deg2rad(FACTOR_VALUES[5])
_COS, _SIN = np.round(np.cos(_RAD), 12).astype(F), np.round(np.sin(_RAD), 12).astype(F)
_L = _unit(_LIGHT).astype(F)
_EYE_F = _EYE.astype(F)


def render(indices: np.ndarray | list[int]) -> np.ndarray:
    """Grid indices -> (n, 64, 64, 3) uint8 images of the procedural 3D-Shapes grid."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    fh, wh, oh, sc, sh, ori = np.unravel_index(idx, FACTOR_SIZES)
    n, p = len(idx), H * W
    floor, s = _CAM["floor"], _SCALE[sc][:, None]
    out = np.empty((n, p, 3), F)
    # soft blob shadow on the floor, offset away from the light
    dx, dz = _CAM["fx"][None] - F(0.3) * s, _CAM["fz"][None] + F(0.25) * s
    k = np.clip(F(1) - (dx * dx + dz * dz) / (F(0.75) * s) ** 2, 0, 1)
    out[:, floor] = _HUE_RGB[fh][:, None, :] * (_CAM["floor_shade"] * (F(1) - F(0.45) * k * k))[..., None]
    out[:, ~floor] = _HUE_RGB[wh][:, None, :] * _CAM["wall_shade"][None, :, None]
    dw, rays = _CAM["d"], _CAM["object_rays"]
    for shape in range(4):
        sel = np.flatnonzero(sh == shape)
        if len(sel) == 0:
            continue
        c, sn = _COS[ori[sel]][:, None], _SIN[ori[sel]][:, None]
        if shape == 2:  # a sphere looks the same at every orientation: render it identically
            c, sn = np.ones_like(c), np.zeros_like(sn)
        ss = s[sel]
        # world = R(theta) * scale * local, so local = R(theta)^T world / scale
        o = ((c * _EYE_F[0] - sn * _EYE_F[2]) / ss, _EYE_F[1] / ss, (sn * _EYE_F[0] + c * _EYE_F[2]) / ss)
        d = (c * dw[None, :, 0] - sn * dw[None, :, 2], dw[None, :, 1], sn * dw[None, :, 0] + c * dw[None, :, 2])
        light = (c * _L[0] - sn * _L[2], _L[1], sn * _L[0] + c * _L[2])
        hit = _object(shape, o, d, (len(sel), len(rays)))
        lambert = np.maximum(hit.n[0] * light[0] + hit.n[1] * light[1] + hit.n[2] * light[2], 0)
        shade = (F(_AMBIENT) + F(1 - _AMBIENT) * lambert) * np.where(hit.stripe, F(_STRIPE_DARK), F(1))
        rows, cols = np.nonzero(np.isfinite(hit.t))
        out[sel[rows], rays[cols]] = _HUE_RGB[oh[sel[rows]]] * shade[rows, cols][:, None]
    out *= F(255)
    out += F(0.5)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8).reshape(n, H, W, 3)  # truncation of v + 0.5 >= 0: round half up


class ProceduralShapes(GridImageSet):
    """Procedural 3D-Shapes-grid images (N, 3, 64, 64), rendered in ``__getitems__``; no storage."""

    def _source(self, idx: np.ndarray) -> np.ndarray:
        return render(idx)


@loader(*SPLITS)
def load(split: str, data_root: Path | None = None) -> ProceduralShapes:
    """Embedded and the same with or without a data root (it needs no files)."""
    n = int(np.prod(FACTOR_SIZES))
    return ProceduralShapes(split_indices(n, split), name="shapes3d-procedural", split=split, source="procedural")
