"""What tells one stored score from another, for tests that compare two runs' records value by value."""

from typing import Any


def score_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """A record's identity within its run: the model (or the model-free reference), checkpoint, code, scorer
    and OoD set (absent outside the ood suite's OoD metrics) and metric."""
    return (record["model"], record["checkpoint"], record["representation"], record.get("scorer"),
            record.get("ood_set"), record["metric"])


def values(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], float]:
    """(run id, score key) -> value, refusing two records with one key: a record scored twice is an error."""
    found = {(r["run_id"], *score_key(r)): r["value"] for r in records}
    assert len(found) == len(records), "a score was recorded twice"
    return found
