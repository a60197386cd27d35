"""Time and peak memory of one GWAE training step: our GW term against the official formulation.

    python scripts/bench_gwae_step.py [--batch 64] [--steps 3] [--device cpu] [--smoke-suite]

Each variant runs in its own subprocess so that peak resident memory (VmHWM minus the RSS
before the first step) is not polluted by the other; on CUDA the peak allocated memory is used.
``--smoke-suite`` also times ``python -m benchmark run --suite ood --preset smoke`` end to end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(variant: str, batch: int, steps: int, device: str, term_only: bool) -> dict:
    import torch

    import models.gwae.model as gwae_module
    from models.gwae.losses import gw_loss, gw_loss_official
    from models.gwae.priors import PriorConfig

    if variant == "official":
        gwae_module.gw_loss = gw_loss_official
    torch.manual_seed(0)
    dev = torch.device(device)
    shape = (3, 64, 64)
    x = torch.rand(batch, *shape, device=dev)
    if term_only:
        fn = gw_loss if variant == "ours" else gw_loss_official
        z = torch.randn(batch, 64, device=dev, requires_grad=True)
        xt = x.clone().requires_grad_(True)
        log_c = torch.zeros((), device=dev, requires_grad=True)

        def step() -> None:
            fn(z, xt, log_c).backward()
    else:
        model = gwae_module.GWAE(gwae_module.GWAEConfig(z_dim=64, prior=PriorConfig("neural")), shape).to(dev)
        opts = model.build_optimizers()

        def step() -> None:
            model.train_batch(x, opts)

    base = rss_mb("VmRSS")
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    step()  # warm-up (allocator, kernels); counted in the peak
    times = []
    for _ in range(steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    out = {"variant": variant, "what": "GW term fwd+bwd" if term_only else "full GWAE step (main + 5 critic)",
           "batch": batch, "D": 3 * 64 * 64, "seconds_per_step": min(times), "threads": torch.get_num_threads()}
    out["peak_mb"] = (
        (torch.cuda.max_memory_allocated() - base_cuda) / 2**20 if dev.type == "cuda" else rss_mb("VmHWM") - base
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--smoke-suite", action="store_true")
    p.add_argument("--worker", nargs=2, metavar=("VARIANT", "KIND"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.batch, a.steps, a.device, a.worker[1] == "term")))
        return
    rows = []
    for kind in ("term", "step"):
        for variant in ("official", "ours"):
            cmd = [sys.executable, __file__, "--worker", variant, kind, "--batch", str(a.batch),
                   "--steps", str(a.steps), "--device", a.device]
            rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout))
    for r in rows:
        print(f"{r['what']:<36} {r['variant']:<9} B={r['batch']} D={r['D']}: "
              f"{r['seconds_per_step'] * 1000:9.1f} ms/step, peak +{r['peak_mb']:8.1f} MB ({a.device}, "
              f"{r['threads']} threads)")
    if a.smoke_suite:
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "benchmark", "run", "--suite", "ood", "--preset", "smoke",
                            "--out", out, "--no-progress", "--device", a.device], check=True, cwd=ROOT,
                           capture_output=True)
            print(f"smoke suite (ood, all models, 1 seed) wall time: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
