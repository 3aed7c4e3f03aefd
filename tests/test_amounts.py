"""Amounts typed by users become exact wei (no float), or one clear line."""

from __future__ import annotations

import pytest

from ichain_tui.amounts import parse_eth, parse_seconds
from ichain_tui.errors import UsageError


def test_eighteen_decimals_round_trip_exactly():
    assert parse_eth("1.1", "payment") == 1_100_000_000_000_000_000  # float would give ...128
    assert parse_eth("0.000000000000000001", "payment") == 1
    assert parse_eth(" 12.345678901234567891 ", "payment") == 12_345_678_901_234_567_891


@pytest.mark.parametrize("text, message", [
    ("-1", "cannot be negative"), ("1e400", "larger than any market"), ("inf", "finite"), ("nan", "finite"),
    ("abc", "amount in ETH like 0.01"), ("0.0000000000000000001", "more than 18 decimals"),
])
def test_bad_amounts_are_one_line(text, message):
    with pytest.raises(UsageError, match=message):
        parse_eth(text, "payment")


@pytest.mark.parametrize("text, message", [("abc", "whole number"), ("1.5", "whole number"),
                                           ("10", "between 60 and 100"), ("-5", "whole number")])
def test_bad_durations_are_one_line(text, message):
    with pytest.raises(UsageError, match=message):
        parse_seconds(text, "window", 60, 100)
    assert parse_seconds("75", "window", 60, 100) == 75
