"""Training steps per second of every registered model at each suite preset's size.

    python scripts/bench_models.py [--presets smoke,default] [--steps 10] [--device cpu] [--set KEY=VALUE]

One model at a time, after a warm-up step, on random images of the preset's shape and batch
size, with the preset's latent size; prints a table (and ``--json`` for machines). ``--set``
overrides a config field (as the CLI's) in the models that have it, e.g. ``critic_passes=fused``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from benchmark.cli import parse_overrides
from benchmark.suites import SUITES
from models import MODELS, build_model, overrides_for, resolve_config


def steps_per_second(name: str, z_dim: int, shape: tuple[int, int, int], batch: int, steps: int,
                     device: torch.device, overrides: dict) -> float:
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, {"z_dim": z_dim, **overrides_for(name, overrides)}), shape)
    model.to(device)
    opts = model.build_optimizers()
    x = torch.rand(batch, *shape, device=device)
    model.train_batch(x, opts)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        model.train_batch(x, opts)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="ood")
    p.add_argument("--presets", default="smoke,default")
    p.add_argument("--models", default=",".join(MODELS.names()))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    overrides = parse_overrides(a.overrides)
    device = torch.device(a.device)
    suite = SUITES.get(a.suite)
    rows = []
    for preset_name in a.presets.split(","):
        preset = suite.presets[preset_name]
        for name in a.models.split(","):
            rate = steps_per_second(name, preset.z_dim, preset.image_shape, preset.train.batch_size, a.steps, device,
                                    overrides)
            rows.append({"suite": a.suite, "preset": preset_name, "model": name, "steps_per_s": round(rate, 2),
                         "image_shape": list(preset.image_shape), "batch": preset.train.batch_size,
                         "z_dim": preset.z_dim, "device": a.device, "threads": torch.get_num_threads(),
                         "overrides": a.overrides})
            print(f"{a.suite:<6} {preset_name:<8} {name:<12} {rate:8.2f} steps/s  "
                  f"(batch {preset.train.batch_size}, {preset.image_shape}, z {preset.z_dim}, {a.device}, "
                  f"{torch.get_num_threads()} threads{''.join('; ' + o for o in a.overrides)})", flush=True)
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
