"""Settings (pydantic-settings) take their declared types (issue 13): ints stay ints, floats must be
finite, None only where a setting allows it, TOML booleans are not numbers, choices are Literals;
a bad value is one line naming the setting and where it came from (file, environment, flag)."""

from __future__ import annotations

import pytest

from ichain_tui import config
from ichain_tui.config import Settings
from ichain_tui.errors import ConfigError


def test_values_take_the_declared_type_and_empty_means_default_only_where_allowed():
    s = Settings.load(
        env={
            "ICHAIN_MAX_GPUS": "2",
            "ICHAIN_CONFIRMATIONS": "",
            "ICHAIN_RATE_ETH": "0.02",
            "ICHAIN_MAX_FEE_GWEI": "none",
            "ICHAIN_RPC_FALLBACKS": "http://127.0.0.1:1",
        }
    )
    assert (s.max_gpus, s.confirmations, s.rate_wei, s.max_fee_gwei) == (2, None, 2 * 10**16, None)
    assert s.rpc_fallbacks == "http://127.0.0.1:1"


@pytest.mark.parametrize(
    "env, told",
    [
        ({"ICHAIN_MAX_GPUS": "1.5"}, "setting max_gpus in environment must be int, got '1.5'"),
        ({"ICHAIN_RATE_ETH": "nan"}, "setting rate_eth in environment must be a finite amount"),
        ({"ICHAIN_RATE_ETH": "-1"}, "setting rate_eth in environment cannot be negative"),
        ({"ICHAIN_RPC_PATIENCE_S": "inf"}, "setting rpc_patience_s in environment must be a finite number"),
        ({"ICHAIN_CHUNKS": ""}, "setting chunks in environment must be int"),
        ({"ICHAIN_TRANSPORT": "udp"}, "setting transport in environment must be one of 'direct' or 'tor'"),
        (
            {"ICHAIN_MAX_FEE_GWEI": "-2"},
            "setting max_fee_gwei in environment: input should be greater than 0",
        ),
        ({"ICHAIN_NOPE": "1"}, None),  # unknown environment names are not settings: ignored
    ],
)
def test_bad_values_are_one_clear_line(env, told):
    if told is None:
        Settings.load(env=env)
        return
    with pytest.raises(ConfigError, match=told):
        Settings.load(env=env)


def test_a_bad_value_names_the_file_it_came_from_and_the_flags_win(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("chunks = true\n")  # a TOML boolean is not a number
    with pytest.raises(
        ConfigError, match=f"setting chunks in config file {path} must be a value of its own type"
    ):
        Settings.load(path, env={})
    path.write_text("rate_eth = 0.1\n")  # a TOML float would round an amount: text only
    with pytest.raises(ConfigError, match=f"setting rate_eth in config file {path} must be an amount"):
        Settings.load(path, env={})
    path.write_text('chunks = 4\ntransport = "tor"\nrate_eth = "0.5"\n')
    s = Settings.load(path, env={"ICHAIN_CHUNKS": "6"}, chunks=8)
    assert (s.chunks, s.transport, s.rate_wei) == (8, "tor", 5 * 10**17)  # flags > env > file
    path.write_text("nope = 1\n")
    with pytest.raises(ConfigError, match=f"unknown setting 'nope' in config file {path}"):
        Settings.load(path, env={})
    path.write_text("chunks = [\n")
    with pytest.raises(ConfigError, match=f"config file {path} is invalid"):
        Settings.load(path, env={})


def test_config_set_validates_before_writing_and_an_empty_value_restores_the_default(tmp_path):
    path = tmp_path / "config.toml"
    assert config.save({"max_gpus": "2", "transport": "tor"}, path) == {"max_gpus": 2, "transport": "tor"}
    with pytest.raises(ConfigError, match="setting container_runtime in the new values must be one of"):
        config.save({"container_runtime": "kata"}, path)
    assert config.save({"max_gpus": ""}, path) == {"transport": "tor"}
    assert Settings.load(path, env={}).max_gpus is None


def test_settings_alone_are_what_they_are_given_and_assignments_are_checked(monkeypatch):
    monkeypatch.setenv("ICHAIN_CHUNKS", "9")
    assert Settings().chunks == 0 and Settings(chunks=3).chunks == 3  # no hidden environment
    assert Settings.load(env=None).chunks == 9
    s = Settings()
    with pytest.raises(ValueError):
        s.transport = "carrier pigeon"


def test_global_flags_work_before_or_after_the_subcommand():
    from ichain_tui.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["config", "show", "--network", "embedded"]).network == "embedded"
    assert parser.parse_args(["--network", "embedded", "task", "list"]).network == "embedded"
    after = parser.parse_args(["--network", "local", "task", "status", "3", "--network", "embedded"])
    assert after.network == "embedded" and after.task_id == 3
    assert parser.parse_args(["task", "list"]).network is None
