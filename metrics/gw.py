"""Gromov-Wasserstein distortion between data and codes: "how isometric is this representation?".

GWAE's claim is that its latent space preserves the data's metric structure; this diagnostic
measures that for any model from arrays alone. Both point sets become Euclidean distance
matrices (optionally divided by their mean off-diagonal distance, since GWAE learns its latent
scale and the baselines' is arbitrary) and are compared two ways:

* ``gw``: the GW discrepancy found by POT, an estimate of the best matching of the two sets;
* ``identity_distortion``: the GW objective at the coupling that pairs each point with its own
  code, i.e. the distortion of the encoder map itself (always >= the true GW value).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from metrics.base import LOWER, PairedDistances, Score, each, metric

#: POT's solvers on (optionally mean-normalized) distances, v1.
GW_SPEC = "gw@pot-v1"

LOSSES = ("square_loss", "kl_loss")


def _points(values: ArrayLike, name: str, flatten: bool) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if flatten and arr.ndim >= 1:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, ...) with N points of >= 1 value each, got {arr.shape}")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or inf)")
    return arr


def _distances(points: NDArray[np.float64], normalize: bool, name: str) -> NDArray[np.float64]:
    """Euclidean distance matrix (exact zero diagonal), scaled to mean off-diagonal 1 if asked."""
    from scipy.spatial.distance import (
        pdist,  # lazy: keeps `import metrics` light
        squareform,  # lazy: keeps `import metrics` light
    )
    d = squareform(pdist(points))
    if normalize:
        scale = d.sum() / (d.shape[0] * (d.shape[0] - 1))
        if not scale > 0:
            raise ValueError(f"cannot normalize {name}: all subsampled points coincide")
        d = d / scale
    return d


def gw_distortion(
    data: ArrayLike,
    codes: ArrayLike,
    n: int | None = None,
    seed: int = 0,
    solver: Literal["gw", "entropic"] = "gw",
    loss: Literal["square_loss", "kl_loss"] = "square_loss",
    normalize: bool = True,
    epsilon: float = 5e-3,
) -> dict[str, float]:
    """GW discrepancy and encoder-map distortion between ``data`` (N, ...) and ``codes`` (N, L).

    A seeded subsample of ``n`` points (None = all) keeps the O(n^3) solvers affordable.
    ``solver="gw"`` runs POT's conditional-gradient solver twice, from the independent coupling
    (POT's default) and from the identity coupling, and keeps the lower value: the solver is
    local, and the second start guarantees ``gw <= identity_distortion``. ``solver="entropic"``
    is POT's entropic GW with regularisation ``epsilon`` (its value may exceed the identity
    distortion, since the entropic plan is blurred). For ``square_loss`` the identity distortion
    is mean_ij (C1_ij - C2_ij)^2. Raises ValueError on inconsistent or non-finite input.
    """
    import ot  # deferred: POT costs ~1 s to import and most users of ``metrics`` never need it

    x = _points(data, "data", flatten=True)
    z = _points(codes, "codes", flatten=False)
    total = x.shape[0]
    if z.shape[0] != total:
        raise ValueError(f"data and codes must hold the same points, got {total} and {z.shape[0]}")
    size = total if n is None else n
    if not 2 <= size <= total:
        raise ValueError(f"n must be in [2, {total}] (the number of points), got {size}")
    if solver not in ("gw", "entropic"):
        raise ValueError(f"solver must be 'gw' or 'entropic', got {solver!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if solver == "entropic" and not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if n is not None:
        idx = np.random.default_rng(seed).choice(total, size=size, replace=False)
        x, z = x[idx], z[idx]

    c1, c2 = _distances(x, normalize, "data"), _distances(z, normalize, "codes")
    p = q = ot.unif(size)
    identity = np.eye(size) / size
    const, h1, h2 = ot.gromov.init_matrix(c1, c2, p, q, loss_fun=loss)
    identity_distortion = float(ot.gromov.gwloss(const, h1, h2, identity))
    if solver == "gw":
        values = [
            ot.gromov.gromov_wasserstein2(c1, c2, p, q, loss_fun=loss, log=True, G0=g0)[1]["gw_dist"]
            for g0 in (None, identity)
        ]
        gw = float(min(values))
    else:
        gw = float(ot.gromov.entropic_gromov_wasserstein2(c1, c2, p, q, loss_fun=loss, epsilon=epsilon))
    return {"gw": gw, "identity_distortion": identity_distortion, "n": size}


@metric("gw_distortion", gw_distortion, GW_SPEC, each(["gw_distortion", "gw_identity_distortion"], LOWER),
        f"{GW_SPEC}: Gromov-Wasserstein discrepancy and identity-coupling distortion between data and codes",
        unplotted=("gw_distortion", "gw_identity_distortion"))
def gw_scores(data: PairedDistances, seed: int) -> list[Score]:
    """The GW diagnostic on every point of ``data`` (the caller subsamples), mean-normalised distances."""
    out = gw_distortion(data.data, data.codes, seed=seed)
    spec = f"{GW_SPEC}/n={out['n']}/solver=gw/loss=square_loss/normalize=mean"
    extras = {"n_eval": out["n"]}
    return [Score("gw_distortion", out["gw"], spec, extras),
            Score("gw_identity_distortion", out["identity_distortion"], spec, extras)]
