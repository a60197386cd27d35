"""Cost of the generation suite's evaluation: feature extraction, Frechet distance, KID, one evaluation pass.

    python scripts/bench_fid.py [--n 10000] [--n-inception 200] [--device cpu] [--json]

Feature extraction is timed on real MNIST test images for the domain CNN and, for the FID
Inception, on ``--n-inception`` images with the weights of ``$GWAE_BENCH_INCEPTION_WEIGHTS`` or
randomly initialised ones of the same shapes (the cost does not depend on the values). The last
line times one full evaluation pass of the ``default`` preset (``--n`` real images, as many
reconstructions and prior samples, ``mean`` representation) for an untrained VAE.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.data import load_dataset
from benchmark.launch.planning import plan
from benchmark.suites import SUITES, EvalContext
from benchmark.suites import generation as gen
from metrics import extractors as ex
from metrics import fid_from_features, kid
from models import build_model


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--n-inception", type=int, default=200)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    device = torch.device(a.device)
    rows = []

    def report(what: str, seconds: float, n: int | None = None) -> None:
        rate = f", {n / seconds:,.0f} images/s" if n else ""
        print(f"{what:<58} {seconds:8.2f} s{rate}  ({a.device}, {torch.get_num_threads()} threads)", flush=True)
        rows.append({"what": what, "seconds": round(seconds, 3), "n": n, "device": a.device,
                     "threads": torch.get_num_threads()})

    real = load_dataset("mnist", "test", n=a.n, seed=0)
    images = torch.cat(list(real.batches(1000)))
    cnn = ex.build_extractor("mnist-cnn-v1").to(device)
    feats, s = timed(cnn.features, images)
    report(f"mnist-cnn-v1 features of {len(images)} images", s, len(images))

    weights = ex.inception_weights_path()
    with tempfile.TemporaryDirectory() as tmp:
        if weights is None:
            weights = Path(tmp) / "random_inception.pth"
            torch.save(ex.FIDInceptionV3().state_dict(), weights)
        inception = ex.build_extractor("inception-v3-fid", weights).to(device)
    small = images[: a.n_inception]
    inception.features(small[:2])  # warm-up
    inc_feats, s = timed(inception.features, small)
    report(f"inception-v3-fid features of {len(small)} images (28x28 -> 299)", s, len(small))

    rng = np.random.default_rng(0)
    for name, f in (("128-d (domain CNN)", feats), ("2048-d (Inception)", rng.normal(size=(a.n, 2048)))):
        other = f + rng.normal(scale=0.1, size=f.shape)
        _, s = timed(fid_from_features, f, other)
        report(f"FID from {len(f)} + {len(f)} features, {name}", s)
    _, s = timed(kid, feats, feats + 0.1, subsets=100)
    report(f"KID, 100 subsets of 1,000, from {len(feats)} 128-d features", s)

    (spec,) = plan("generation", "default", ["vae"], [0])
    run = spec.config
    data = SUITES.get("generation").load_eval_data(run.data, run.eval.params, None)
    model = build_model("vae", run.model_config, run.data.image_shape).to(device).eval()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = EvalContext(model, data, "mean", device, run.train.batch_size, 0, params=run.eval.params,
                          run_dir=Path(tmp), checkpoint="last")
        _, s = timed(gen.evaluate, ctx)
        report(f"first evaluation pass, default preset ({len(data[gen.REAL])} images, with real features)", s)
        _, s = timed(gen.evaluate, ctx)
        report("next pass (real features cached): recon + samples + FID/KID/PSNR", s)
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
