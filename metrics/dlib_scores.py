"""disentanglement_lib's other scores: beta-VAE, FactorVAE, modularity/explicitness, IRS, unsupervised.

Semantics and default counts are disentanglement_lib's (``unsupervised_study_v1`` metric configs);
suites may use smaller counts, which every result names in ``params`` (and its spec tag).

* Scores of codes and factors, pure functions of arrays (layout as ``metrics.disentanglement``:
  ``codes`` (N, L), ``factors`` (N, F) non-negative integer indices): ``modularity_explicitness``,
  ``irs``, ``unsupervised_scores`` (codes only).
* Interventional scores, which need codes of images whose factors are chosen (one factor fixed
  across a batch): ``beta_vae_score`` and ``factor_vae_score`` take a factor sampler and a
  representation function, as disentanglement_lib does, so any model can be scored:
  ``sample_factors(n, random_state) -> (n, F) int array`` (``GridFactorSampler``: uniform over a
  factor grid) and ``represent(factors) -> (n, L) codes`` of observations with those factors.

Where this differs from disentanglement_lib, the function's docstring says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from metrics.base import HIGHER, LOWER, FactorCodes, Score, each, metric, tagged
from metrics.disentanglement import _codes, _count, _factors, _split, histogram_discretize

BETA_VAE_SPEC = "beta_vae_score@dlib-v1"
FACTOR_VAE_SPEC = "factor_vae_score@dlib-v1"
MODULARITY_SPEC = "modularity_explicitness@dlib-v1"
IRS_SPEC = "irs@dlib-v1"
UNSUPERVISED_SPEC = "unsupervised@dlib-v1"

#: disentanglement_lib's unsupervised_study_v1 counts (metric_configs/*.gin).
BETA_VAE_DEFAULTS: dict[str, Any] = {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000}
FACTOR_VAE_DEFAULTS: dict[str, Any] = {
    "batch_size": 64, "num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000,
    "prune_threshold": 0.05,
}

SampleFactors = Callable[[int, np.random.RandomState], NDArray]
Represent = Callable[[NDArray], ArrayLike]

if TYPE_CHECKING:  # sklearn is imported where it is used: `import metrics` stays light
    from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class GridFactorSampler:
    """Factors drawn uniformly and independently from a grid of ``factor_sizes`` values (dlib's
    ``SplitDiscreteStateSpace`` with every factor latent), e.g. 3D Shapes' (10, 10, 10, 8, 4, 15)."""

    factor_sizes: tuple[int, ...]

    def __call__(self, n: int, random_state: np.random.RandomState) -> NDArray[np.int64]:
        cols = [random_state.randint(size, size=n) for size in self.factor_sizes]
        return np.stack(cols, axis=1).astype(np.int64)


def _represent(represent: Represent, factors: NDArray, chunk: int) -> NDArray[np.float64]:
    """Codes of all ``factors`` rows, ``chunk`` rows per call; checked like any code array."""
    parts = [np.asarray(represent(factors[i : i + chunk]), dtype=np.float64) for i in range(0, len(factors), chunk)]
    codes = np.concatenate(parts)
    if codes.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"represent returned shape {codes.shape} for {len(factors)} factor rows; expected (n, L)")
    return _codes(codes, "codes from represent")


def _sample(sample_factors: SampleFactors, n: int, rs: np.random.RandomState) -> NDArray[np.int64]:
    f = np.asarray(sample_factors(n, rs))
    if f.ndim != 2 or len(f) != n or f.shape[1] < 1:
        raise ValueError(f"sample_factors({n}) returned shape {f.shape}; expected ({n}, F)")
    return f.astype(np.int64)


def _fit_logistic(x: NDArray, y: NDArray, seed: int) -> LogisticRegression:
    """sklearn's default LogisticRegression, as dlib; its lbfgs iteration cap may warn, which dlib ignores."""
    from sklearn.exceptions import ConvergenceWarning  # lazy: keeps `import metrics` light
    from sklearn.linear_model import LogisticRegression  # lazy: keeps `import metrics` light
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(random_state=seed).fit(x, y)


# ----------------------------------------------------------------------------- beta-VAE score


def _beta_vae_points(sample_factors, represent, rs, batch: int, n: int, chunk: int) -> tuple[NDArray, NDArray]:
    """``n`` (feature, label) pairs: label k = the factor fixed across a pair of batches, feature =
    mean over the batch of |code(batch 1) - code(batch 2)|."""
    labels = np.empty(n, dtype=np.int64)
    left, right = [], []
    for i in range(n):
        f1 = _sample(sample_factors, batch, rs)
        f2 = _sample(sample_factors, batch, rs)
        labels[i] = rs.randint(f1.shape[1])
        f2[:, labels[i]] = f1[:, labels[i]]
        left.append(f1)
        right.append(f2)
    codes1 = _represent(represent, np.concatenate(left), chunk)
    codes2 = _represent(represent, np.concatenate(right), chunk)
    diff = np.abs(codes1 - codes2).reshape(n, batch, -1).mean(axis=1)
    return diff, labels


def beta_vae_score(
    sample_factors: SampleFactors,
    represent: Represent,
    seed: int = 0,
    batch_size: int = BETA_VAE_DEFAULTS["batch_size"],
    num_train: int = BETA_VAE_DEFAULTS["num_train"],
    num_eval: int = BETA_VAE_DEFAULTS["num_eval"],
    chunk: int = 4096,
) -> dict[str, Any]:
    """beta-VAE score (Higgins et al. 2017), disentanglement_lib's ``compute_beta_vae_sklearn``.

    Each point: a factor k drawn uniformly, two batches of ``batch_size`` factor vectors with factor k
    equal across the pair, the feature mean_b |r(x1_b) - r(x2_b)|, label k. A default
    ``LogisticRegression`` is fit on ``num_train`` points; the score is its accuracy on
    ``num_eval`` fresh points (``eval_accuracy``; ``train_accuracy`` too). A constant code gives
    all-zero features and chance accuracy. ``represent`` is called on ``chunk`` rows at a time.
    Random draws per point: both batches, then k (dlib draws k first and interleaves the
    observation sampling): the same distribution, not the same stream.
    """
    batch = _count(batch_size, "batch_size")
    n_tr, n_ev = _count(num_train, "num_train", 2), _count(num_eval, "num_eval")
    rs = np.random.RandomState(_count(seed, "seed", 0))
    x_tr, y_tr = _beta_vae_points(sample_factors, represent, rs, batch, n_tr, chunk)
    if np.unique(y_tr).size < 2:
        raise ValueError("beta-VAE score: every training point fixed the same factor; raise num_train")
    model = _fit_logistic(x_tr, y_tr, seed)
    x_ev, y_ev = _beta_vae_points(sample_factors, represent, rs, batch, n_ev, chunk)
    return {
        "train_accuracy": float(np.mean(model.predict(x_tr) == y_tr)),
        "eval_accuracy": float(np.mean(model.predict(x_ev) == y_ev)),
        "spec": BETA_VAE_SPEC,
        "params": {"batch_size": batch, "num_train": n_tr, "num_eval": n_ev, "seed": int(seed)},
    }


# ----------------------------------------------------------------------------- FactorVAE score


def factor_vae_votes(fixed: ArrayLike, argmins: ArrayLike, n_factors: int, n_codes: int) -> NDArray[np.int64]:
    """(F, L) vote counts: how often fixing factor k made code dim d the least variable."""
    votes = np.zeros((n_factors, n_codes), dtype=np.int64)
    np.add.at(votes, (np.asarray(fixed), np.asarray(argmins)), 1)
    return votes


def majority_vote_accuracy(votes: NDArray, classifier: NDArray) -> float:
    """Accuracy of predicting factor ``classifier[d]`` for every vote of dim d."""
    total = votes.sum()
    return float(votes[classifier, np.arange(votes.shape[1])].sum() / total) if total else 0.0


def _factor_vae_votes(sample_factors, represent, rs, batch, n, scale, active, chunk) -> NDArray:
    fixed = np.empty(n, dtype=np.int64)
    blocks = []
    for i in range(n):
        f = _sample(sample_factors, batch, rs)
        fixed[i] = rs.randint(f.shape[1])
        f[:, fixed[i]] = f[0, fixed[i]]
        blocks.append(f)
    n_factors = blocks[0].shape[1]
    codes = _represent(represent, np.concatenate(blocks), chunk).reshape(n, batch, -1)
    local = codes[:, :, active].var(axis=1, ddof=1) / scale[active]  # variance of the std-scaled codes
    argmins = np.flatnonzero(active)[np.argmin(local, axis=1)]
    return factor_vae_votes(fixed, argmins, n_factors, codes.shape[2])


def factor_vae_score(
    sample_factors: SampleFactors,
    represent: Represent,
    seed: int = 0,
    batch_size: int = FACTOR_VAE_DEFAULTS["batch_size"],
    num_train: int = FACTOR_VAE_DEFAULTS["num_train"],
    num_eval: int = FACTOR_VAE_DEFAULTS["num_eval"],
    num_variance_estimate: int = FACTOR_VAE_DEFAULTS["num_variance_estimate"],
    prune_threshold: float = FACTOR_VAE_DEFAULTS["prune_threshold"],
    chunk: int = 4096,
) -> dict[str, Any]:
    """FactorVAE score (Kim & Mnih 2018), disentanglement_lib's ``compute_factor_vae``.

    Global variances of the codes of ``num_variance_estimate`` random observations (ddof 1); dims
    whose std is below ``prune_threshold`` (the study's 0.05) are dropped as collapsed. Each vote:
    a factor k, a batch with factor k fixed to one value, and the active dim of least variance
    after dividing by the global variance. The classifier maps each dim to its majority factor on
    ``num_train`` votes; the score is its accuracy on ``num_eval`` fresh votes. With no active dim
    (e.g. a constant code) both accuracies are 0, as dlib. ``num_active_dims`` counts active dims
    (dlib reports the mask's length, i.e. every dim, and indexes votes within the active subset:
    a relabelling that leaves both accuracies unchanged).
    """
    batch = _count(batch_size, "batch_size", 2)
    n_tr, n_ev = _count(num_train, "num_train"), _count(num_eval, "num_eval")
    n_var = _count(num_variance_estimate, "num_variance_estimate", 2)
    if not prune_threshold >= 0:
        raise ValueError(f"prune_threshold must be >= 0, got {prune_threshold}")
    rs = np.random.RandomState(_count(seed, "seed", 0))
    variances = _represent(represent, _sample(sample_factors, n_var, rs), chunk).var(axis=0, ddof=1)
    active = np.sqrt(variances) >= prune_threshold
    active &= variances > 0  # a zero-variance dim cannot be scaled (dlib divides by zero; threshold 0 keeps it)
    params = {"batch_size": batch, "num_train": n_tr, "num_eval": n_ev, "num_variance_estimate": n_var,
              "prune_threshold": float(prune_threshold), "seed": int(seed)}
    out: dict[str, Any] = {"spec": FACTOR_VAE_SPEC, "params": params, "num_active_dims": int(active.sum())}
    if not active.any():
        return {**out, "train_accuracy": 0.0, "eval_accuracy": 0.0}
    train_votes = _factor_vae_votes(sample_factors, represent, rs, batch, n_tr, variances, active, chunk)
    classifier = np.argmax(train_votes, axis=0)
    eval_votes = _factor_vae_votes(sample_factors, represent, rs, batch, n_ev, variances, active, chunk)
    return {
        **out,
        "train_accuracy": majority_vote_accuracy(train_votes, classifier),
        "eval_accuracy": majority_vote_accuracy(eval_votes, classifier),
    }


# ----------------------------------------------------------------------------- modularity, explicitness


def discrete_mutual_info(codes_binned: NDArray, factors: NDArray) -> NDArray[np.float64]:
    """(L, F) matrix of ``sklearn.metrics.mutual_info_score`` (nats) between binned codes and factors."""
    from sklearn.metrics import mutual_info_score  # lazy: keeps `import metrics` light
    return np.array([[mutual_info_score(factors[:, j], codes_binned[:, i]) for j in range(factors.shape[1])]
                     for i in range(codes_binned.shape[1])])


def modularity(mutual_information: ArrayLike) -> float:
    """Ridgeway & Mozer (2018): per code dim, 1 - (sum_j m_j^2 - max_j m_j^2) / (max_j m_j^2 (F - 1))
    with m the dim's MI with each factor; 0 for a dim with no MI; mean over dims (dlib)."""
    mi = np.asarray(mutual_information, dtype=np.float64)
    if mi.ndim != 2 or mi.shape[1] < 2:
        raise ValueError(f"modularity needs an (L, F) MI matrix with F >= 2 factors, got shape {mi.shape}")
    sq = np.square(mi)
    top = sq.max(axis=1)
    score = np.zeros(len(sq))
    nz = top > 0
    score[nz] = 1.0 - (sq[nz].sum(axis=1) - top[nz]) / (top[nz] * (sq.shape[1] - 1))
    return float(score.mean())


def _explicitness_one(x_tr: NDArray, y_tr: NDArray, x_te: NDArray, y_te: NDArray, seed: int) -> tuple[float, float]:
    """Macro ROC-AUC (one-vs-rest over the factor's classes) of a default LogisticRegression."""
    from sklearn.metrics import roc_auc_score  # lazy: keeps `import metrics` light
    clf = _fit_logistic(x_tr, y_tr, seed)
    out = []
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        proba = clf.predict_proba(x)
        onehot = (y[:, None] == clf.classes_[None, :]).astype(int)
        keep = (onehot.min(axis=0) == 0) & (onehot.max(axis=0) == 1)  # classes with both labels present
        out.append(float(roc_auc_score(onehot[:, keep], proba[:, keep], average="macro")))
    return out[0], out[1]


def modularity_explicitness(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    n_bins: int = 20,
    seed: int = 0,
) -> dict[str, Any]:
    """Modularity and explicitness (Ridgeway & Mozer 2018), disentanglement_lib's
    ``compute_modularity_explicitness`` (10,000 / 5,000 points, 20-bin histogram codes).

    Modularity from the MI of the binned training codes with each factor (``modularity``).
    Explicitness: codes standardised with the training mean and std, one default
    ``LogisticRegression`` per factor, macro one-vs-rest ROC-AUC of its probabilities, mean over
    factors (``explicitness_score_test`` is the score; ``_train`` too). Differences from dlib: a
    zero-std code dim is centred but not divided (dlib divides by zero and the fit fails), so a
    constant code scores modularity 0 and explicitness 0.5 (chance); a class absent from a split is
    left out of that split's AUC (dlib's binarizer then fails).
    """
    x_tr, y_tr, x_te, y_te = _split(codes_train, factors_train, codes_test, factors_test)
    seed = _count(seed, "seed", 0)
    if y_tr.shape[1] < 2:
        raise ValueError("modularity needs at least 2 factors")
    mi = discrete_mutual_info(histogram_discretize(x_tr, n_bins), y_tr)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z_tr, z_te = (x_tr - mean) / std, (x_te - mean) / std
    per = [_explicitness_one(z_tr, y_tr[:, j], z_te, y_te[:, j], seed) for j in range(y_tr.shape[1])]
    return {
        "modularity_score": modularity(mi),
        "explicitness_score_train": float(np.mean([p[0] for p in per])),
        "explicitness_score_test": float(np.mean([p[1] for p in per])),
        "spec": MODULARITY_SPEC,
        "params": {"n_bins": int(n_bins), "seed": seed},
    }


# ----------------------------------------------------------------------------- IRS


def irs_matrix_scores(factors: NDArray, codes: NDArray, diff_quantile: float = 0.99) -> dict[str, Any]:
    """Suter et al. (2019)'s ``scalable_disentanglement_score`` on (N, F) discrete factors and
    (N, L) codes: per factor value, the ``diff_quantile`` quantile of |code - E[code | value]|,
    averaged over the factor's values and divided by the code's max deviation from its mean;
    IRS matrix = 1 - that; a dim's score is its max over factors; the mean over dims is weighted by
    the max deviations."""
    max_dev = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)
    cum = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(factors.shape[1]):
        values = np.unique(factors[:, j])
        for v in values:
            group = codes[factors[:, j] == v]
            cum[:, j] += np.quantile(np.abs(group - group.mean(axis=0)), q=diff_quantile, axis=0)
        cum[:, j] /= len(values)
    matrix = 1.0 - cum / max_dev[:, None]
    per_dim = matrix.max(axis=1)
    avg = float(np.average(per_dim, weights=max_dev)) if max_dev.sum() > 0 else float(per_dim.mean())
    return {"irs": avg, "disentanglement_scores": per_dim, "irs_matrix": matrix, "max_deviations": max_dev}


def irs(codes: ArrayLike, factors: ArrayLike, diff_quantile: float = 0.99, n_bins: int = 20,
        seed: int = 0) -> dict[str, Any]:
    """Interventional robustness score (Suter et al. 2019), disentanglement_lib's ``compute_irs``
    (10,000 points, 0.99 quantile, factors through the 20-bin histogram discretiser as dlib).

    Constant code dims are dropped; with none left the score is 0 (dlib). Deterministic: ``seed``
    is accepted only for a uniform signature. Returns ``irs``, ``num_active_dims``, ``spec``, ``params``.
    """
    x = _codes(codes, "codes")
    y = _factors(factors, "factors", x.shape[0])
    if not 0 < diff_quantile <= 1:
        raise ValueError(f"diff_quantile must be in (0, 1], got {diff_quantile}")
    active = x.var(axis=0) > 0
    params = {"diff_quantile": float(diff_quantile), "n_bins": int(n_bins), "seed": int(seed)}
    score = irs_matrix_scores(histogram_discretize(y, n_bins), x[:, active], diff_quantile)["irs"] if active.any() \
        else 0.0
    return {"irs": float(score), "num_active_dims": int(active.sum()), "spec": IRS_SPEC, "params": params}


# ----------------------------------------------------------------------------- unsupervised


def gaussian_total_correlation(cov: ArrayLike) -> float:
    """KL(N(0, S) || N(0, diag S)) = 0.5 (sum_i log S_ii - log det S)."""
    s = np.asarray(cov, dtype=np.float64)
    return float(0.5 * (np.sum(np.log(np.diag(s))) - np.linalg.slogdet(s)[1]))


def gaussian_wasserstein_correlation(cov: ArrayLike) -> float:
    """Squared 2-Wasserstein distance between N(0, S) and N(0, diag S):
    2 tr S - 2 tr (D^1/2 S D^1/2)^1/2 with D = diag S (eigenvalues of the symmetric form; dlib
    takes ``sqrtm`` of S * diag(S)[:, None], the same spectrum)."""
    s = np.asarray(cov, dtype=np.float64)
    d = np.sqrt(np.diag(s))
    eig = np.linalg.eigvalsh(d[:, None] * s * d[None, :])
    return float(2 * np.trace(s) - 2 * np.sum(np.sqrt(np.clip(eig, 0, None))))


def unsupervised_scores(codes: ArrayLike, n_bins: int = 20, seed: int = 0) -> dict[str, Any]:
    """disentanglement_lib's ``unsupervised_metrics`` (10,000 points): lower = more independent dims.

    ``gaussian_total_correlation`` and ``gaussian_wasserstein_correlation`` (and its ``_norm``,
    divided by tr S) of the codes' sample covariance S (ddof 1); ``mutual_info_score``: mean
    pairwise MI (nats) of the 20-bin histogram codes over the L^2 - L off-diagonal pairs. A code
    dim with zero variance is an error (log 0; dlib returns NaN). Needs L >= 2 dims.
    """
    x = _codes(codes, "codes")
    if x.shape[1] < 2:
        raise ValueError("unsupervised scores need at least 2 code dims")
    flat = np.flatnonzero(x.var(axis=0) == 0)
    if flat.size:
        raise ValueError(f"code dim(s) {flat.tolist()} have zero variance: Gaussian total correlation is undefined")
    cov = np.cov(x, rowvar=False)
    binned = histogram_discretize(x, n_bins)
    mi = discrete_mutual_info(binned, binned)
    np.fill_diagonal(mi, 0)
    wc = gaussian_wasserstein_correlation(cov)
    return {
        "gaussian_total_correlation": gaussian_total_correlation(cov),
        "gaussian_wasserstein_correlation": wc,
        "gaussian_wasserstein_correlation_norm": wc / float(np.trace(cov)),
        "mutual_info_score": float(mi.sum() / (x.shape[1] ** 2 - x.shape[1])),
        "spec": UNSUPERVISED_SPEC,
        "params": {"n_bins": int(n_bins), "seed": int(seed)},
    }


# ----------------------------------------------------------------------------- registered signature


@metric("beta_vae_score", beta_vae_score, BETA_VAE_SPEC, {"beta_vae_score": HIGHER},
        f"{BETA_VAE_SPEC}: logistic-regression accuracy of the fixed factor from mean |code differences| of "
        "batch pairs (interventional: factor sampler + representation function)",
        reference={k: BETA_VAE_DEFAULTS[k] for k in ("num_train", "num_eval")})
def beta_vae_scores(data: FactorCodes, seed: int, **counts: Any) -> list[Score]:
    r = beta_vae_score(data.sample_factors, data.represent, seed=seed, **counts)  # type: ignore[arg-type]
    return [Score("beta_vae_score", r["eval_accuracy"], tagged(r),
                  {"train_accuracy": r["train_accuracy"], **_chosen(data)})]


@metric("factor_vae_score", factor_vae_score, FACTOR_VAE_SPEC, {"factor_vae_score": HIGHER},
        f"{FACTOR_VAE_SPEC}: majority-vote accuracy of the fixed factor from the least-variance std-scaled code "
        "dim, collapsed dims pruned (interventional)",
        reference={k: FACTOR_VAE_DEFAULTS[k] for k in ("num_train", "num_eval", "num_variance_estimate")})
def factor_vae_scores(data: FactorCodes, seed: int, **counts: Any) -> list[Score]:
    r = factor_vae_score(data.sample_factors, data.represent, seed=seed, **counts)  # type: ignore[arg-type]
    return [Score("factor_vae_score", r["eval_accuracy"], tagged(r), {
        "train_accuracy": r["train_accuracy"], "num_active_dims": r["num_active_dims"], **_chosen(data)})]


def _chosen(data: FactorCodes) -> dict[str, str]:
    """The interventional scores draw their own points: images with chosen factors from the set's grid."""
    return {"eval_dataset": f"{data.name}, chosen factors"} if data.name else {}


@metric("modularity_explicitness", modularity_explicitness, MODULARITY_SPEC, each(
    ["modularity", "explicitness"], HIGHER),
    f"{MODULARITY_SPEC}: Ridgeway & Mozer modularity (20-bin MI) and explicitness (logistic-regression ROC-AUC)")
def modularity_explicitness_scores(data: FactorCodes, seed: int) -> list[Score]:
    r = modularity_explicitness(data.codes_train, data.factors_train, data.codes_test, data.factors_test, seed=seed)
    return [Score("modularity", r["modularity_score"], tagged(r)),
            Score("explicitness", r["explicitness_score_test"], tagged(r))]


@metric("irs", irs, IRS_SPEC, {"irs": HIGHER},
        f"{IRS_SPEC}: interventional robustness score (Suter et al.), 0.99 quantile")
def irs_scores(data: FactorCodes, seed: int) -> list[Score]:
    r = irs(data.codes_train, data.factors_train, seed=seed)
    return [Score("irs", r["irs"], tagged(r), {"num_active_dims": r["num_active_dims"]})]


UNSUPERVISED = ("gaussian_total_correlation", "gaussian_wasserstein_correlation",
                "gaussian_wasserstein_correlation_norm", "mutual_info_score")


@metric("unsupervised", unsupervised_scores, UNSUPERVISED_SPEC, each(list(UNSUPERVISED), LOWER),
        f"{UNSUPERVISED_SPEC}: Gaussian total correlation, Gaussian Wasserstein dependency and mean pairwise MI of "
        "the code dims (lower = more independent)",
        unplotted=("gaussian_wasserstein_correlation",))  # its normalised form is plotted: scale-free
def unsupervised(data: FactorCodes, seed: int) -> list[Score]:
    r = unsupervised_scores(data.codes_train, seed=seed)
    return [Score(name, r[name], tagged(r)) for name in UNSUPERVISED]


__all__: Sequence[str] = (
    "BETA_VAE_SPEC", "FACTOR_VAE_SPEC", "IRS_SPEC", "MODULARITY_SPEC", "UNSUPERVISED_SPEC", "GridFactorSampler",
    "beta_vae_score", "factor_vae_score", "modularity_explicitness", "modularity", "irs", "irs_matrix_scores",
    "unsupervised_scores", "gaussian_total_correlation", "gaussian_wasserstein_correlation",
)
