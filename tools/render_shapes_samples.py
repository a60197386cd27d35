"""Sample sheet of the procedural 3D-Shapes-grid: one row per factor, varied over all its values.

    python tools/render_shapes_samples.py [--out results/disentanglement/procedural_shapes_samples.png]

The other factors stay at a fixed base point (cube, so orientation is visible); a visual check that
every factor changes the image as intended. Also prints the rendering throughput.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmark.data.shapes3d import FACTOR_NAMES, FACTOR_SIZES
from benchmark.data.shapes_render import render

ROOT = Path(__file__).resolve().parents[1]

BASE = (0, 5, 3, 4, 0, 2)  # floor red, wall cyan, object green-yellow, middle scale, cube, -21 degrees
GAP, LABEL_W = 2, 84


def sheet(zoom: int) -> Image.Image:
    cols, tile = max(FACTOR_SIZES), 64 * zoom + GAP
    img = Image.new("RGB", (LABEL_W + cols * tile, len(FACTOR_NAMES) * tile), "white")
    draw = ImageDraw.Draw(img)
    for row, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)):
        grid = np.tile(np.array(BASE), (size, 1))
        grid[:, row] = np.arange(size)
        images = render(np.ravel_multi_index(tuple(grid.T), FACTOR_SIZES))
        draw.text((4, row * tile + tile // 2 - 6), name, fill="black")
        for col, pixels in enumerate(images):
            tile_img = Image.fromarray(pixels).resize((64 * zoom, 64 * zoom), Image.Resampling.NEAREST)
            img.paste(tile_img, (LABEL_W + col * tile, row * tile))
    return img


def throughput(batch: int = 256, repeats: int = 5) -> float:
    """Images per second for random batches of ``batch`` indices (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    best = np.inf
    for _ in range(repeats):
        idx = rng.integers(0, int(np.prod(FACTOR_SIZES)), batch)
        start = time.perf_counter()
        render(idx)
        best = min(best, time.perf_counter() - start)
    return batch / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results/disentanglement/procedural_shapes_samples.png")
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet(args.zoom).save(args.out)
    print(f"wrote {args.out}")
    print(f"throughput: {throughput():.0f} images/s (batch 256, one thread of numpy)")


if __name__ == "__main__":
    main()
