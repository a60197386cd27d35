"""Typed configs: round trip, validation of keys and types, content hashes, CLI overrides."""

import pytest

from benchmark.cli import parse_overrides
from core.config import config_hash, from_dict, to_dict
from core.errors import BenchmarkError
from models import resolve_config
from models.gwae.model import GWAEConfig


def test_round_trip_through_a_dict():
    cfg = resolve_config("gwae-gmp", {"prior": {"mode": "fixed"}, "z_dim": 8})
    assert from_dict(GWAEConfig, to_dict(cfg)) == cfg
    assert cfg.prior.name == "gaussian_mixture" and cfg.prior.mode == "fixed"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nope": 1}, "unknown key"),
        ({"z_dim": "8"}, "expected int"),
        ({"z_dim": True}, "expected int"),
        ({"prior": {"mode": "odd"}}, "not one of"),
        ({"z_dim": 0}, "z_dim"),
        ({"prior": {"name": "nope"}}, "unknown prior"),
    ],
)
def test_bad_values_are_one_clear_error(overrides, message):
    with pytest.raises(BenchmarkError, match=message):
        resolve_config("gwae-gmp", overrides)


def test_hash_depends_on_content_not_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_overrides_parse_dotted_keys_and_json_values():
    assert parse_overrides(["prior.mode=fixed", "z_dim=8", "lr=1e-3", "batchnorm=false"]) == {
        "prior": {"mode": "fixed"}, "z_dim": 8, "lr": 1e-3, "batchnorm": False,
    }
    with pytest.raises(BenchmarkError, match="KEY=VALUE"):
        parse_overrides(["z_dim"])
