"""Training steps per second of every registered model at each suite preset's size, in fp32 and bf16.

    python scripts/bench_models.py [--presets smoke,default] [--steps 10] [--device cpu] [--set KEY=VALUE]
                                   [--precision fp32,bf16] [--channels-last] [--clock wall|cpu]

One model at a time, after a warm-up step, on random images of the preset's shape and batch
size, with the preset's latent size, each precision on the same model and batch (bf16: the step
under ``models.precision.autocast``, as the trainer runs it); prints a table (and ``--json`` for
machines). ``--set`` overrides a config field (as the CLI's) in the models that have it, e.g.
``critic_passes=fused``; ``--channels-last`` stores the model and batch channels-last (a layout
experiment: bf16 runs do it anyway). ``--clock cpu`` times the process's CPU seconds instead of the wall
clock: with one thread (``OMP_NUM_THREADS=1``) on a machine other jobs load, that is about the idle wall
time, where the wall clock counts the time-slices lost to them. ``benchmark/launch/step_costs.json`` takes the figures
(``seconds_per_step`` for fp32, ``seconds_per_step_bf16`` for bf16).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from benchmark.cli import parse_overrides
from benchmark.suites import SUITES
from models import MODELS, build_model, overrides_for, resolve_config
from models.precision import autocast


def steps_per_second(name: str, z_dim: int, shape: tuple[int, int, int], batch: int, steps: int,
                     device: torch.device, overrides: dict, precision: str = "fp32",
                     channels_last: bool = False, clock: str = "wall") -> float:
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, {"z_dim": z_dim, **overrides_for(name, overrides)}), shape)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device, memory_format=layout)
    opts = model.build_optimizers()
    x = torch.rand(batch, *shape, device=device).contiguous(memory_format=layout)

    def step() -> None:
        with autocast(device, precision):
            model.train_batch(x, opts)

    now = time.process_time if clock == "cpu" else time.perf_counter
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = now()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (now() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="ood")
    p.add_argument("--presets", default="smoke,default")
    p.add_argument("--models", default=",".join(MODELS.names()))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    overrides = parse_overrides(a.overrides)
    device = torch.device(a.device)
    suite = SUITES.get(a.suite)
    rows = []
    for preset_name in a.presets.split(","):
        preset = suite.presets[preset_name]
        for name in a.models.split(","):
            for precision in a.precision.split(","):
                rate = steps_per_second(name, preset.z_dim, preset.image_shape, preset.train.batch_size, a.steps,
                                        device, overrides, precision, a.channels_last, a.clock)
                rows.append({"suite": a.suite, "preset": preset_name, "model": name, "precision": precision,
                             "steps_per_s": round(rate, 2), "s_per_step": round(1 / rate, 4),
                             "image_shape": list(preset.image_shape), "batch": preset.train.batch_size,
                             "z_dim": preset.z_dim, "device": a.device, "threads": torch.get_num_threads(),
                             "channels_last": a.channels_last, "clock": a.clock, "overrides": a.overrides})
                print(f"{a.suite:<6} {preset_name:<8} {name:<14} {precision} {rate:8.2f} steps/s {1 / rate:8.4f} s "
                      f"(batch {preset.train.batch_size}, {preset.image_shape}, z {preset.z_dim}, {a.device}, "
                      f"{torch.get_num_threads()} threads, {a.clock} clock{', channels-last' * a.channels_last}"
                      f"{''.join('; ' + o for o in a.overrides)})", flush=True)
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
