"""The one metric signature: every registered metric, called through the registry on tiny arrays, gives
the direct function's numbers under declared record names; and specs below a reference's counts are marked."""

import numpy as np
import pandas as pd
import pytest

from metrics import (
    METRICS,
    FactorCodes,
    FeatureSets,
    GridFactorSampler,
    OodScores,
    PairedDistances,
    Reconstructions,
    beta_vae_score,
    dci,
    factor_vae_score,
    fid_from_features,
    gw_distortion,
    irs,
    kid,
    mark_reduced,
    mig,
    modularity_explicitness,
    ood_metrics,
    psnr_per_image,
    reduced_note,
    sap,
    unsupervised_scores,
)

SIZES = (3, 4)
RNG = np.random.default_rng(0)
F_TR, F_TE = (GridFactorSampler(SIZES)(n, np.random.RandomState(n)) for n in (80, 40))
MIX = RNG.normal(size=(2, 3))
pytestmark = pytest.mark.filterwarnings("ignore::metrics.disentanglement.FastDCIBelowCalibration")  # tiny on purpose


def represent(factors):
    return factors @ MIX + 0.1 * np.sin(np.arange(factors.size * 3 // 2).reshape(-1, 3))


CODES = FactorCodes(represent(F_TR), F_TR, represent(F_TE), F_TE, name="toy grid",
                    sample_factors=GridFactorSampler(SIZES), represent=represent)
COUNTS = {"batch_size": 8, "num_train": 20, "num_eval": 10}
FEATURES = FeatureSets(RNG.normal(size=(30, 4)), RNG.normal(1.0, size=(30, 4)), "samples", "toy-v1")
X, Y = RNG.uniform(size=(5, 1, 4, 4)), RNG.uniform(size=(5, 1, 4, 4))
OOD = OodScores(RNG.normal(size=50), RNG.normal(1.0, size=40), "toy")
PAIRED = PairedDistances(RNG.normal(size=(20, 6)), RNG.normal(size=(20, 2)))


def _dci(specs):
    out = {}
    for spec in specs:
        r = dci(CODES.codes_train, F_TR, CODES.codes_test, F_TE, spec=spec, seed=0)
        out |= {f"dci_{spec}_{k}": r[k] for k in ("disentanglement", "completeness", "informativeness")}
    return out


#: metric -> (eval set, parameters, the direct functions' numbers by record name)
CASES = {
    "dci": (CODES, {"specs": ("dlib", "fast")}, lambda: _dci(("dlib", "fast"))),
    "mig": (CODES, {}, lambda: {"mig": mig(CODES.codes_train, F_TR)["mig"]}),
    "sap": (CODES, {}, lambda: {"sap": sap(CODES.codes_train, F_TR, CODES.codes_test, F_TE)["sap"]}),
    "modularity_explicitness": (CODES, {}, lambda: (lambda r: {
        "modularity": r["modularity_score"], "explicitness": r["explicitness_score_test"]})(
        modularity_explicitness(CODES.codes_train, F_TR, CODES.codes_test, F_TE))),
    "irs": (CODES, {}, lambda: {"irs": irs(CODES.codes_train, F_TR)["irs"]}),
    "unsupervised": (CODES, {}, lambda: {k: v for k, v in unsupervised_scores(CODES.codes_train).items()
                                         if k not in ("spec", "params")}),
    "beta_vae_score": (CODES, COUNTS, lambda: {"beta_vae_score": beta_vae_score(
        CODES.sample_factors, represent, seed=0, **COUNTS)["eval_accuracy"]}),
    "factor_vae_score": (CODES, {**COUNTS, "num_variance_estimate": 50}, lambda: {
        "factor_vae_score": factor_vae_score(CODES.sample_factors, represent, seed=0, **COUNTS,
                                             num_variance_estimate=50)["eval_accuracy"]}),
    "ood": (OOD, {}, lambda: ood_metrics(OOD.id_scores, OOD.ood_scores)),
    "gw_distortion": (PAIRED, {}, lambda: (lambda r: {"gw_distortion": r["gw"], "gw_identity_distortion":
                                                      r["identity_distortion"]})(gw_distortion(PAIRED.data,
                                                                                               PAIRED.codes))),
    "fid": (FEATURES, {}, lambda: {"fid_samples": fid_from_features(FEATURES.real, FEATURES.fake)}),
    "kid": (FEATURES, {"subsets": 5, "subset_size": 10}, lambda: {
        "kid_samples": kid(FEATURES.real, FEATURES.fake, subsets=5, subset_size=10)["kid"]}),
    "psnr": (Reconstructions(psnr_per_image(X, Y)), {}, lambda: {"psnr": float(psnr_per_image(X, Y).mean())}),
}


def test_every_registered_metric_has_a_case():
    assert set(CASES) == set(METRICS.names())


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_registry_signature_gives_the_direct_functions_numbers(name):
    data, params, direct = CASES[name]
    metric = METRICS.get(name)
    assert isinstance(data, metric.takes)
    scores = metric.score(data, seed=0, **params)
    assert {s.name: s.value for s in scores} == pytest.approx(direct(), abs=0)
    assert all(s.name in metric.yields for s in scores)
    assert all(s.spec.startswith(tuple(metric.spec.split(", "))) and "seed=" not in s.spec for s in scores)


def test_specs_name_every_parameter_but_the_seed():
    (score,) = METRICS.get("mig").score(CODES, seed=3, n_bins=7)
    assert score.spec == "mig@dlib-v1/n_bins=7"
    kid_score = METRICS.get("kid").score(FEATURES, seed=0, subsets=5, subset_size=10)[0]
    assert kid_score.spec == ("kid-v1@toy-v1/subsets=5,subset_size=10,degree=3,n_real=30,n_fake=30,resize=none,"
                              "quantize=uint8")
    assert kid_score.extras.keys() == {"kid_std"}


def test_extras_ride_with_their_score():
    (b,) = METRICS.get("beta_vae_score").score(CODES, seed=0, **COUNTS)
    assert b.extras == {"train_accuracy": b.extras["train_accuracy"], "eval_dataset": "toy grid, chosen factors"}
    (r,) = METRICS.get("irs").score(CODES, seed=0)
    assert r.extras.keys() == {"num_active_dims"}


def test_trajectory_variants_are_the_cheap_ones():
    fast = METRICS.get("dci").fast(CODES, seed=0, specs=("dlib",))
    assert [s.name for s in fast] == ["dci_fast_disentanglement", "dci_fast_completeness", "dci_fast_informativeness"]
    assert METRICS.get("mig").fast is METRICS.get("mig").score
    assert METRICS.get("sap").fast is None and METRICS.get("beta_vae_score").fast is None


def test_the_disentanglement_suite_plots_what_its_metrics_yield_less_the_opt_outs():
    from benchmark.suites.disentanglement import METRICS as USES

    plotted = {n for use in USES for n in METRICS.get(use.name).plotted()}
    assert plotted == {f"dci_{s}_{m}" for s in ("dlib", "vaetc", "fast")
                       for m in ("disentanglement", "completeness", "informativeness")} | {
        "mig", "sap", "modularity", "explicitness", "irs", "beta_vae_score", "factor_vae_score",
        "gaussian_total_correlation", "gaussian_wasserstein_correlation_norm", "mutual_info_score"}


# ----------------------------------------------------------------------------- reduced counts

BETA_REDUCED = "beta_vae_score@dlib-v1/batch_size=64,num_eval=100,num_train=200"


def test_a_spec_below_its_reference_counts_is_marked_once():
    marked = mark_reduced(BETA_REDUCED)
    assert marked == f"{BETA_REDUCED}/reduced=reference num_eval=5000,num_train=10000"
    assert mark_reduced(marked) == marked
    assert mark_reduced("beta_vae_score@dlib-v1/batch_size=64,num_eval=5000,num_train=10000").endswith("10000")
    partial = "factor_vae_score@dlib-v1/batch_size=64,num_eval=5000,num_train=10000,num_variance_estimate=2000," \
              "prune_threshold=0.05"
    assert mark_reduced(partial).endswith("/reduced=reference num_variance_estimate=10000")
    assert mark_reduced("mig@dlib-v1/n_bins=20") == "mig@dlib-v1/n_bins=20"


def test_scoring_below_the_reference_marks_the_spec():
    (b,) = METRICS.get("beta_vae_score").score(CODES, seed=0, **COUNTS)
    assert b.spec.endswith("/reduced=reference num_eval=5000,num_train=10000")


def test_committed_records_are_marked_when_read_and_the_page_flags_them():
    from pathlib import Path

    from benchmark.results.leaderboard import usable_records
    from benchmark.results.report import figures, reduced_notes

    records = pd.DataFrame(usable_records(Path(__file__).resolve().parents[1] / "results" / "records", warn=False))
    marked = set(records[records.metric_spec.str.contains("/reduced=")].metric)
    assert marked == {"beta_vae_score", "factor_vae_score"}
    notes = reduced_notes(records)
    assert set(notes) == marked and "num_train 10,000" in notes["beta_vae_score"]
    html = figures([Path("/r/beta_vae_score.png"), Path("/r/mig.png")], Path("/r"), notes)
    assert html.count('class="flag"') == 1 and "below the reference counts" in html
    assert reduced_note(["mig@dlib-v1/n_bins=20"]) == ""
