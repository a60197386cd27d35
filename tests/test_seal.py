"""`seal`: completion markers for records written before markers existed, and only for those."""

import json

import pytest

from benchmark.cli import main
from benchmark.records.io import RECORDS, read_records, run_records, seal_records, write_records
from benchmark.records.schema import upgrade
from core.errors import BenchmarkError


def _old_run(root, name, lines):
    run = root / name
    run.mkdir(parents=True)
    (run / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run / RECORDS


def test_seal_marks_whole_old_records_and_refuses_damaged_ones(tmp_path, capsys):
    rows = [{"metric": "auroc", "value": 0.5, "run_id": "a"}, {"metric": "fpr95", "value": 0.9, "run_id": "a"}]
    old = _old_run(tmp_path, "old", rows)
    bad = _old_run(tmp_path, "bad", rows)
    bad.write_text(bad.read_text() + "{cut")
    write_records(tmp_path / "new", rows)
    read = [upgrade(r) for r in rows]  # records come back in today's schema
    assert read_records(tmp_path, warn=False) == read  # only the marked run counts before sealing
    assert main(["seal", "--out", str(tmp_path)]) == 1  # one run refused
    out = capsys.readouterr()
    assert f"sealed {old} (2 records)" in out.out and "not sealed" in out.err and "bad" in out.err
    assert run_records(old) == read
    assert [json.loads(line) for line in old.read_text().splitlines()[:-1]] == rows  # sealed as written
    assert seal_records(old) is None  # already whole: left alone
    with pytest.raises(BenchmarkError, match="not valid JSON"):
        seal_records(bad)


def test_seal_refuses_a_file_whose_marker_does_not_match(tmp_path):
    path = write_records(tmp_path / "r", [{"metric": "auroc", "value": 0.5}])
    path.write_text(path.read_text().replace("0.5", "0.7"))
    with pytest.raises(BenchmarkError, match="does not match"):
        seal_records(path)
