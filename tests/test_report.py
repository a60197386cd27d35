"""The report page: one static, offline page of every leaderboard, checked as HTML and in headless Chromium."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.records.io import write_records
from benchmark.results.report import INDEX
from benchmark.suites import SUITES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MODELS = {"ood": {"vae": 3, "dagmm": 2, "gwae-gmp": 1}, "generation": {"vae": 3, "wae": 1}}  # seeds per model


def make_records(out: Path) -> dict[str, int]:
    """Run folders with records of two suites (the headline and what their plots read) and one artifact."""
    rng = np.random.default_rng(0)
    for suite, models in MODELS.items():
        lead = SUITES.get(suite).headline
        metric, checkpoint, rep = lead
        for model, n_seeds in models.items():
            for seed in range(n_seeds):
                run_id = f"{suite}-{model}-seed{seed}-abc"
                hparams = "beta=<b>2</b>" if model == "wae" else "-"  # markup in a record must be shown as text
                base = {"run_id": run_id, "suite": suite, "model": model, "prior": "normal", "mode": "-",
                        "hparams": hparams, "dataset": "mnist", "eval_dataset": "mnist-test", **dict(lead.where),
                        "seed": seed,
                        "preset": "smoke", "wall_s": 10.0 + seed, "hardware_summary": "2-core test cpu (cpu)",
                        "versions": {"torch": "2.15.0", "git": "0123abcd"}, "checkpoint": checkpoint,
                        "representation": rep, "metric": metric, "value": float(rng.uniform(0.5, 0.9)),
                        "timestamp": f"2026-01-0{seed + 1}T00:00:00+00:00"}
                rows = [{**base, "metric_spec": "ood@openood-v1" if suite == "ood" else "fid-v1@mnist-cnn-v1/n=9"}]
                if suite == "ood":  # the own scorer on the headline set
                    rows[0].update(scorer_spec="own:prior_nll", ood_set="omniglot-official")
                    rows[0]["roc"] = {"fpr": [0.0, 0.3, 1.0], "tpr": [0.0, float(rng.uniform(0.3, 0.9)), 1.0]}
                else:  # the protocol ranked beside the headline (vaetc's PSNR: last checkpoint, sampled code)
                    also = SUITES.get(suite).also_ranked[0]
                    rows.append({**base, "metric": also.metric, "checkpoint": also.checkpoint,
                                 "representation": also.representation, "value": 20.0 + seed, "metric_spec": "psnr"})
                if suite == "generation" and seed == 0:
                    (out / run_id).mkdir(parents=True, exist_ok=True)
                    Image.fromarray((rng.uniform(size=(16, 16)) * 255).astype(np.uint8)).save(out / run_id / "s.png")
                    rows[0]["artifacts"] = {"samples": "s.png"}
                write_records(out / run_id, rows)
    return {suite: len(models) for suite, models in MODELS.items()}


class Page(HTMLParser):
    """The parts of the page the tests read: tables (class, suite, body rows), images, links, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.script_src: list[str] = []
        self.text: list[str] = []
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"class": a.get("class", ""), "suite": a.get("data-suite"), "rows": 0})
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[-1]["rows"] += 1
        elif tag == "img":
            self.images.append(a["src"])
        elif tag in ("a", "link"):
            self.links.append(a.get("href", ""))
        elif tag == "script" and "src" in a:
            self.script_src.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    expected = make_records(root / "runs")
    assert main(["report", "--out", str(root / "runs"), "--to", str(root / "results")]) == 0
    return root / "results", expected


def test_page_has_every_suite_table_its_plots_artifacts_and_provenance_and_needs_no_network(report):
    results, expected = report
    html = (results / INDEX).read_text()
    page = Page()
    page.feed(html)
    headline = {t["suite"]: t["rows"] for t in page.tables if "headline" in t["class"]}
    assert headline == expected
    also = {t["suite"]: t["rows"] for t in page.tables if "also-ranked" in t["class"]}
    assert also == {"generation": expected["generation"]}
    summary = [t for t in page.tables if "summary" in t["class"]]
    assert len(summary) == 1 and summary[0]["rows"] == len({m for ms in MODELS.values() for m in ms})
    assert all((results / src).is_file() for src in page.images)
    assert {"ood/auroc.png", "generation/fid_samples.png"} <= set(page.images)
    assert any(src.startswith("generation/artifacts/") for src in page.images)
    assert not page.script_src and "<link" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    text = " ".join(page.text)
    for shown in ("student-t", "single seed", "provenance", "git revision", "0123abcd", "2-core test cpu (cpu)",
                  "ood@openood-v1", "training wall time", "leaderboard.csv", "beta=<b>2</b>",
                  "2026-01-03T00:00:00+00:00", "Protocol: vaetc's", "Also ranked: PSNR"):
        assert shown in text, shown
    assert "<b>2</b>" not in html  # escaped, not markup


def test_leaderboard_writes_the_page_too(report, tmp_path):
    results, _ = report
    assert main(["leaderboard", "--out", str(results.parent / "runs"), "--to", str(tmp_path)]) == 0
    assert (tmp_path / INDEX).read_text() == (results / INDEX).read_text()  # from the records alone: reproducible


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_page_in_headless_chromium_loads_every_table_and_image_and_sorts_on_click(report, tmp_path):
    results, expected = report
    url = (results / INDEX).resolve().as_uri() + "?selftest=1"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=300,
    )
    found = re.search(r'<pre id="selftest-result">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["tables"] == expected
    page = Page()
    page.feed((results / INDEX).read_text())
    assert result["images"] == {"total": len(page.images), "broken": []}
    sorts = {s["table"]: s for s in result["sorts"]}
    also = {f"table-{s}-{w.metric}-{w.checkpoint}" for s in MODELS for w in SUITES.get(s).also_ranked}
    assert also == {"table-generation-psnr-last"}
    crossed = {f"table-{s}-cross" for s in MODELS if SUITES.get(s).cross is not None}
    assert crossed == {"table-ood-cross"}  # model x scorer x OoD set
    assert set(sorts) == {"table-summary", *(f"table-{s}" for s in MODELS), *also, *crossed}
    for sort in sorts.values():
        assert sort["ascending"] and sort["descending"] and sort["reordered"] and sort["distinct"] > 1, sort


def test_report_without_records_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert main(["report", "--out", str(tmp_path / "runs"), "--to", str(tmp_path / "results")]) == 2
    assert capsys.readouterr().err.startswith("error: no result records") and not (tmp_path / "results").exists()
