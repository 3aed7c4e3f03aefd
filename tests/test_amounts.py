"""Amounts typed by users become exact wei (no float), or one clear line."""

from __future__ import annotations

import pytest

from ichain_tui.amounts import parse_eth, parse_seconds
from ichain_tui.errors import UsageError


def test_eighteen_decimals_round_trip_exactly():
    assert parse_eth("1.1", "payment") == 1_100_000_000_000_000_000  # float would give ...128
    assert parse_eth("0.000000000000000001", "payment") == 1
    assert parse_eth(" 12.345678901234567891 ", "payment") == 12_345_678_901_234_567_891


@pytest.mark.parametrize(
    "text, message",
    [
        ("-1", "cannot be negative"),
        ("1e400", "larger than any market"),
        ("inf", "finite"),
        ("nan", "finite"),
        ("abc", "amount in ETH like 0.01"),
        ("0.0000000000000000001", "more than 18 decimals"),
    ],
)
def test_bad_amounts_are_one_line(text, message):
    with pytest.raises(UsageError, match=message):
        parse_eth(text, "payment")


@pytest.mark.parametrize(
    "text, message",
    [("abc", "whole number"), ("1.5", "whole number"), ("10", "between 60 and 100"), ("-5", "whole number")],
)
def test_bad_durations_are_one_line(text, message):
    with pytest.raises(UsageError, match=message):
        parse_seconds(text, "window", 60, 100)
    assert parse_seconds("75", "window", 60, 100) == 75


def test_an_amount_with_18_decimals_round_trips_exactly_through_settings_config_file_cli_and_tui(tmp_path):
    """Issue 13: wei are ints everywhere; ETH typed by a user is parsed once, exactly, and written
    back by one formatter — 0.123456789012345678 ETH stays 123456789012345678 wei."""
    import subprocess
    import sys

    from ichain_tui import config
    from ichain_tui.amounts import format_eth, parse_eth
    from ichain_tui.config import Settings
    from ichain_tui.tui.format import eth

    text, wei = "0.123456789012345678", 123456789012345678
    assert parse_eth(text, "payment") == wei
    assert format_eth(wei) == f"{text} ETH" and eth(wei, 18) == f"{text} ETH"
    assert Settings.load(env={"ICHAIN_RATE_ETH": text}).rate_wei == wei
    path = tmp_path / "config.toml"
    config.save({"validator_fee_eth": text}, path)
    assert Settings.load(path, env={}).validator_fee_wei == wei  # through the TOML file
    shown = subprocess.run(
        [sys.executable, "-m", "ichain_tui.cli", "config", "set", "stake_eth", text],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and text in shown.stdout, shown.stderr
    assert Settings.load(env={}).stake_wei == wei  # what the CLI wrote, read back
    assert format_eth(10**16) == "0.01 ETH" and format_eth(0) == "0 ETH" and format_eth(10**18) == "1 ETH"
