"""Wall time and scores of every DCI spec (plus MIG and SAP) on synthetic 3D Shapes codes.

    python scripts/bench_dci.py [--n-train 10000] [--n-test 5000] [--kinds axis,mixed]
                                [--specs dlib,fast,vaetc] [--no-sequential] [--json]

Factors are drawn uniformly from the 3D Shapes grid (10 x 10 x 10 x 8 x 4 x 15); codes are
10-D, synthetic, of several kinds (``make_codes``). For each kind it times each spec with
every core (n_jobs=-1), and checks that dlib's parallel run equals the sequential loop exactly
(timing both), so the speed-up of ``fast`` and of the parallel dlib can be read off one table.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from metrics.disentanglement import dci, mig, sap

#: 3D Shapes: floor hue, wall hue, object hue, scale, shape, orientation.
SHAPES3D_GRID = (10, 10, 10, 8, 4, 15)
KINDS = ("axis", "mixed", "partial", "redundant", "polar", "clean", "noise")


def sample_factors(n: int, seed: int, grid: tuple[int, ...] = SHAPES3D_GRID) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, size=n) for k in grid], axis=1)


def make_codes(factors: np.ndarray, kind: str, seed: int, map_seed: int = 1234, dims: int = 10,
               noise: float = 0.05, grid: tuple[int, ...] = SHAPES3D_GRID) -> np.ndarray:
    """Synthetic codes of one ``kind``: ``seed`` draws the noise, ``map_seed`` the (shared) rotation.

    axis: one dim per factor (value scaled to [0, 1] plus N(0, noise)), the rest pure noise;
    mixed: the axis codes (factor dims ~unit scale) times a fixed random rotation of all ``dims``;
    partial: axis codes with dims 0/1 rotated by 45 degrees, and factor 3 leaking into dim 2;
    redundant: axis codes whose noise dims are second noisy copies of the first factors;
    polar: axis codes with factors 0/1 as radius/angle of dims 0/1 (each dim needs both factors);
    clean: axis codes with a tenth of the noise (classes separable, boosting residuals vanish);
    noise: pure N(0, 1) noise, independent of the factors.
    """
    rotation = np.linalg.qr(np.random.default_rng(map_seed).normal(size=(dims, dims)))[0]
    point_rng = np.random.default_rng(seed)
    n, n_f = factors.shape
    scaled = factors / (np.asarray(grid) - 1)
    z = point_rng.normal(size=(n, dims))
    if kind == "noise":
        return z
    z[:, :n_f] = scaled + (noise / 10 if kind == "clean" else noise) * z[:, :n_f]
    if kind in ("axis", "clean"):
        return z
    if kind == "polar":
        radius, angle = 1.0 + z[:, 0], np.pi * z[:, 1]
        z[:, 0], z[:, 1] = radius * np.cos(angle), radius * np.sin(angle)
        return z
    if kind == "mixed":
        z[:, :n_f] = (z[:, :n_f] - 0.5) / 0.3  # factor dims to roughly unit scale, like the noise dims
        return z @ rotation
    if kind == "partial":
        a, b = z[:, 0].copy(), z[:, 1].copy()
        z[:, 0], z[:, 1] = (a + b) / np.sqrt(2), (a - b) / np.sqrt(2)
        z[:, 2] += 0.5 * scaled[:, 3]
        return z
    if kind == "redundant":
        extra = dims - n_f
        z[:, n_f:] = scaled[:, :extra] + 2 * noise * point_rng.normal(size=(n, extra))
        return z
    raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")


def dataset(kind: str, n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    y_tr, y_te = sample_factors(n_train, seed), sample_factors(n_test, seed + 1)
    return make_codes(y_tr, kind, 2 * seed + 10), y_tr, make_codes(y_te, kind, 2 * seed + 11), y_te


def timed(fn, *args, **kwargs) -> tuple[dict, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--n-test", type=int, default=5_000)
    ap.add_argument("--kinds", default="axis,mixed")
    ap.add_argument("--specs", default="dlib,fast,vaetc")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-sequential", action="store_true", help="skip the sequential dlib run")
    ap.add_argument("--json", action="store_true", help="also print one JSON line per result")
    args = ap.parse_args()
    print(f"# {os.cpu_count()} cores, n_train={args.n_train}, n_test={args.n_test}, grid={SHAPES3D_GRID}")
    print(f"{'kind':<10} {'spec':<14} {'n_jobs':>6} {'time_s':>8} {'D':>7} {'C':>7} {'I':>7}")
    rows = []
    for kind in args.kinds.split(","):
        x_tr, y_tr, x_te, y_te = dataset(kind, args.n_train, args.n_test, args.seed)
        runs = [(s, -1) for s in args.specs.split(",")]
        if "dlib" in args.specs.split(",") and not args.no_sequential:
            runs.append(("dlib", 1))
        results = {}
        for spec, n_jobs in runs:
            out, secs = timed(dci, x_tr, y_tr, x_te, y_te, spec=spec, seed=args.seed, n_jobs=n_jobs,
                              return_importance=True)
            results[(spec, n_jobs)] = out
            row = {"kind": kind, "spec": out["spec"], "n_jobs": n_jobs, "time_s": round(secs, 2),
                   "D": out["disentanglement"], "C": out["completeness"], "I": out["informativeness"]}
            rows.append(row)
            print(f"{kind:<10} {out['spec']:<14} {n_jobs:>6} {secs:>8.2f} {row['D']:>7.3f} {row['C']:>7.3f} "
                  f"{row['I']:>7.3f}", flush=True)
        if ("dlib", 1) in results and ("dlib", -1) in results:
            par, seq = results[("dlib", -1)], results[("dlib", 1)]
            same = all(par[k] == seq[k] for k in ("disentanglement", "completeness", "informativeness",
                                                  "informativeness_train"))
            same = same and np.array_equal(par["importance"], seq["importance"])
            print(f"{kind:<10} dlib parallel == sequential (importances and scores bit-identical): {same}")
            rows.append({"kind": kind, "check": "dlib_parallel_equals_sequential", "ok": bool(same)})
        if ("dlib", -1) in results and ("fast", -1) in results:
            ref, fast = results[("dlib", -1)], results[("fast", -1)]
            print(f"{kind:<10} fast - dlib: dD={fast['disentanglement'] - ref['disentanglement']:+.3f} "
                  f"dC={fast['completeness'] - ref['completeness']:+.3f}")
        out, secs = timed(mig, x_tr, y_tr)
        print(f"{kind:<10} {out['spec']:<14} {'':>6} {secs:>8.2f} MIG={out['mig']:.3f}")
        rows.append({"kind": kind, "spec": out["spec"], "time_s": round(secs, 2), "mig": out["mig"]})
        out, secs = timed(sap, x_tr, y_tr, x_te, y_te, n_jobs=-1)
        print(f"{kind:<10} {out['spec']:<14} {'':>6} {secs:>8.2f} SAP={out['sap']:.3f}", flush=True)
        rows.append({"kind": kind, "spec": out["spec"], "time_s": round(secs, 2), "sap": out["sap"]})
    if args.json:
        for row in rows:
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
