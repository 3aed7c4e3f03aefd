"""Settings are coerced by their declared types (issue 13): ints stay ints, floats must be finite,
None only where a setting allows it, TOML booleans are not numbers; bad values are one line."""

from __future__ import annotations

import pytest

from ichain_tui.config import Settings, _coerce
from ichain_tui.errors import ConfigError


def test_values_take_the_declared_type_and_empty_means_default_only_where_allowed():
    s = Settings.load(env={"ICHAIN_MAX_GPUS": "2", "ICHAIN_CONFIRMATIONS": "", "ICHAIN_PRICE_ETH": "0.02",
                           "ICHAIN_MAX_FEE_GWEI": "none", "ICHAIN_RPC_FALLBACKS": "http://127.0.0.1:1"})
    assert (s.max_gpus, s.confirmations, s.price_wei, s.max_fee_gwei) == (2, None, 2 * 10**16, None)
    assert s.rpc_fallbacks == "http://127.0.0.1:1"


@pytest.mark.parametrize("env, told", [
    ({"ICHAIN_MAX_GPUS": "1.5"}, "max_gpus in environment must be int"),
    ({"ICHAIN_PRICE_ETH": "nan"}, "price_eth in environment must be a finite amount"),
    ({"ICHAIN_PRICE_ETH": "-1"}, "price_eth in environment cannot be negative"),
    ({"ICHAIN_RPC_PATIENCE_S": "inf"}, "rpc_patience_s in environment must be float"),
    ({"ICHAIN_CHUNKS": ""}, "chunks in environment must be int"),
    ({"ICHAIN_NOPE": "1"}, None),  # unknown environment names are not settings: ignored
])
def test_bad_values_are_one_clear_line(env, told):
    if told is None:
        Settings.load(env=env)
        return
    with pytest.raises(ConfigError, match=told):
        Settings.load(env=env)


def test_a_toml_boolean_is_not_a_number_and_booleans_parse_words():
    with pytest.raises(ConfigError, match="must be int"):
        _coerce("chunks", int, True, "config file")
    assert _coerce("flag", bool, "yes", "environment") is True
    assert _coerce("flag", bool, "off", "environment") is False
    with pytest.raises(ConfigError, match="must be bool"):
        _coerce("flag", bool, "maybe", "environment")


def test_global_flags_work_before_or_after_the_subcommand():
    from ichain_tui.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["config", "show", "--network", "embedded"]).network == "embedded"
    assert parser.parse_args(["--network", "embedded", "task", "list"]).network == "embedded"
    after = parser.parse_args(["--network", "local", "task", "status", "3", "--network", "embedded"])
    assert after.network == "embedded" and after.task_id == 3
    assert parser.parse_args(["task", "list"]).network is None
