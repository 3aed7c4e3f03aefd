"""Agents report a recurring error sparsely and back off, instead of flooding their callback."""

from __future__ import annotations


def test_a_recurring_error_is_reported_on_powers_of_two_with_growing_backoff():
    from ichain_tui.agents.events import Repeats

    repeats = Repeats()
    reported = [n for n in range(1, 40) if repeats.worth_reporting(repeats.seen("disk full"))]
    assert reported == [1, 2, 4, 8, 16, 32]
    assert repeats.backoff("disk full", 0.3) == 10.0  # capped
    repeats.clear("disk full")
    assert repeats.backoff("disk full", 0.3) == 0.3
