"""Plots a reviewer reads without the README: words, direction, error bars, extractor, chance line."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from benchmark import plots


@pytest.fixture
def figures(monkeypatch, tmp_path):
    """Capture each figure as it is saved (``save_figure`` closes it)."""
    kept = []

    def keep(fig, path):
        kept.append(fig)
        return path

    monkeypatch.setattr(plots, "save_figure", keep)
    yield kept
    plt.close("all")


def rows(metric, values, spec="x", model="vae", rep="sample"):
    return [{"model": model, "prior": "normal", "mode": "-", "hparams": "-", "metric": metric, "value": v,
             "metric_spec": spec, "checkpoint": "last", "representation": rep, "seed": s,
             "roc": {"fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1]}} for s, v in enumerate(values)]


def test_metric_names_are_words():
    assert plots.metric_words("fid_samples") == "FID of prior samples"
    assert plots.metric_words("dci_dlib_disentanglement") == "DCI disentanglement (dlib spec)"
    assert plots.metric_words("fid_recon_inception") == "FID of reconstructions, Inception features"


def test_fid_bars_name_direction_error_bars_and_feature_extractor(figures, tmp_path):
    spec = "fid-v1@mnist-cnn-v1/n_real=256"
    frame = pd.DataFrame(rows("fid_samples", [10.0, 12.0, 11.0], spec, rep="prior")
                         + rows("fid_samples", [30.0], spec, model="a-model-with-a-long-name (paper)", rep="prior"))
    plots.metric_bars(frame, "fid_samples", tmp_path / "f.png")
    ax = figures[0].axes[0]
    assert "lower is better" in ax.get_title() and "error bars: ±1 sample std" in ax.get_title()
    assert "features: mnist-cnn-v1" in ax.get_title() and "mnist-cnn-v1" in ax.get_ylabel()
    assert "FID of prior samples" in ax.get_ylabel() and "fid_samples" not in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any("\n" in t for t in labels) and all(t.get_rotation() == 30 for t in ax.get_xticklabels())


def test_auroc_bars_have_the_chance_line_and_one_seed_has_no_error_bar(figures, tmp_path):
    plots.metric_bars(pd.DataFrame(rows("auroc", [0.7])), "auroc", tmp_path / "a.png")
    ax = figures[0].axes[0]
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in ax.get_lines())
    assert "higher is better" in ax.get_title() and "no error bars" in ax.get_title()
    assert all(c.errorbar is None or not c.errorbar.lines[2] for c in ax.containers)


def test_roc_legend_sits_below_the_axes_and_one_seed_shows_no_spread(figures, tmp_path):
    plots.roc_figure(pd.DataFrame(rows("auroc", [0.7]) + rows("auroc", [0.6, 0.8], model="wae")), tmp_path / "r.png",
                     "ROC")
    fig = figures[0]
    ax = fig.axes[0]
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.y1 < ax.get_window_extent().y0  # below the axes: covers no curve and no tick
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("vae") and t.endswith("(1 seed)") and "±" not in t for t in texts)
    assert any(t.startswith("wae") and "± 0.141 (std, 2 seeds)" in t for t in texts)
