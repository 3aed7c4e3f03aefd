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


def test_errors_that_differ_only_in_numbers_or_addresses_are_one_error():
    from ichain_tui.agents.events import Repeats

    repeats = Repeats()
    texts = [
        f"cannot reach 127.0.0.1:{port}: <urllib3.connection.HTTPConnection object at 0x7f{port:x}>"
        for port in range(40000, 40010)
    ]
    counts = [repeats.seen(t) for t in texts]
    assert counts == list(range(1, 11))
    assert repeats.seen((7, "disk full at block 12")) == 1 and repeats.seen((7, "disk full at block 13")) == 2
    assert repeats.seen((8, "disk full at block 13")) == 1  # another task is another error
