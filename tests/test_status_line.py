"""Issue 25: the status line degrades by priority at 80 and 60 columns: the state, the time and
the balance stay; the account, the network name, details and hints go first."""

from __future__ import annotations

from ichain_tui.tui.status_line import fit

AWAY = [
    ("⚠ node retrying since 42 s", 9),
    ("(cannot reach http://127.0.0.1:8545: connection refused)", 1),
    ("0x3d8C…0e2b", 4),
    ("balance as of 14:03:11: 12.3456 ETH", 8),
    ("credits 0.02 ETH", 3),
]
FIRST_RUN = [
    ("not connected", 9),
    ("http://127.0.0.1:8545: connection refused", 8),
    ("c network", 2),
    ("r retries", 3),
]


def test_everything_fits_on_a_wide_terminal():
    line = fit(AWAY, 200)
    assert line.count(" · ") == 4 and line.startswith("⚠ node") and line.endswith("credits 0.02 ETH")


def test_at_80_columns_the_detail_goes_first_then_the_credits():
    line = fit(AWAY, 78)
    assert line == "⚠ node retrying since 42 s · 0x3d8C…0e2b · balance as of 14:03:11: 12.3456 ETH"


def test_at_60_columns_state_time_and_balance_remain():
    line = fit(AWAY, 58)
    assert line.startswith("⚠ node retrying since 42 s") and "14:03:11" in line and len(line) <= 58


def test_the_first_run_line_keeps_the_url_and_drops_the_hints():
    assert fit(FIRST_RUN, 78) == "not connected · http://127.0.0.1:8545: connection refused · r retries"
    assert fit(FIRST_RUN, 58) == "not connected · http://127.0.0.1:8545: connection refused"
    assert "c network" in fit(FIRST_RUN, 120)


def test_an_essential_part_too_long_is_cut_with_an_ellipsis_not_dropped():
    assert fit([("state", 9), ("x" * 100, 8), ("y", 1)], 40) == "state · " + "x" * 31 + "…"
    assert fit([("", 9), ("shown", 1)], 40) == "shown"
