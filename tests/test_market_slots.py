"""A provider is a machine, not one thread (issue 22), on a real anvil with headless provider
processes and the real Docker engine: tasks run in slots at once, a validation is answered while
a long task runs, and a full provider is refused on chain and never picked."""

from __future__ import annotations

import time

import pytest
from market_helpers import quick_task
from sandbox_helpers import executing_in

from ichain_tui.agents.selection import choose_provider
from ichain_tui.chain.errors import ContractRevert
from ichain_tui.chain.types import TaskState, ValidatorMode

PAY = 2 * 10**16
FEE = PAY // 10
LONG_S = 40  # the long task sleeps this long: everything below must happen well inside it


def _wait(what: str, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_tasks_run_at_once_and_a_full_provider_is_refused_and_not_picked(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1, slots=2).start()
    p2 = m.provider(2, slots=1).start()
    m.wait_registered(2)
    busy = p1.account.address
    a, b, c = m.requester(5), m.requester(6), m.requester(7)
    first = a.submit(quick_task(tmp_path / "a", sleep=LONG_S), busy, PAY, mode=ValidatorMode.NONE)
    second = b.submit(quick_task(tmp_path / "b", sleep=LONG_S), busy, PAY, mode=ValidatorMode.NONE)
    assert m.market.provider(busy).running == 2 and m.market.provider(busy).free_slots == 0

    # both run in sandboxes of their own at the same time
    _wait("two executions at once", lambda: executing_in(p1.proc.pid) == 2, LONG_S - 10)
    assert {m.market.task(first).state, m.market.task(second).state} == {TaskState.ASSIGNED}
    p1.wait_log("[slot 0]", timeout=30)
    p1.wait_log("[slot 1]", timeout=30)

    # a third task to the full provider reverts before any money moves; the picker skips it
    balance = m.chain.balance(c.me)
    with pytest.raises(ContractRevert) as refused:
        c.submit(quick_task(tmp_path / "c"), busy, PAY, mode=ValidatorMode.NONE)
    assert refused.value.name == "ProviderFull" and "no free slot" in str(refused.value)
    assert m.chain.balance(c.me) == balance  # a reverted estimate sends nothing
    picked = choose_provider(c.market, PAY, time_limit=120)
    assert picked is not None and picked.address == p2.account.address

    # both finish and are paid; the slots are free again
    for requester, task_id in ((a, first), (b, second)):
        outcome = requester.follow(task_id, tmp_path / f"result-{task_id}", rating=5)
        assert outcome.ok, outcome
    assert m.market.provider(busy).running == 0


def test_a_validation_is_answered_while_the_validator_runs_a_long_task(local_market, tmp_path):
    """P1 has one slot and runs a long task; it is also the named validator of another task that
    P2 executes. Its verdict comes while the long task is still running (the validation lane is
    its own), so its validator lock is never at risk behind an execution."""
    m = local_market
    p1 = m.provider(1, slots=1).start()
    p2 = m.provider(2, slots=1).start()
    m.wait_registered(2)
    busy = p1.account.address
    long_task = m.requester(5).submit(
        quick_task(tmp_path / "long", sleep=LONG_S), busy, PAY, mode=ValidatorMode.NONE
    )
    _wait("the long task to start", lambda: executing_in(p1.proc.pid) == 1, 60)

    b = m.requester(6)
    checked = b.submit(
        quick_task(tmp_path / "quick"), p2.account.address, PAY, validator=busy, validator_fee=FEE
    )
    outcome = b.follow(checked, tmp_path / "result", rating=5)
    assert outcome.ok, outcome
    assert m.market.task(checked).validator == busy
    p1.wait_log("verdict: PASS", timeout=30)
    assert m.market.task(long_task).state is TaskState.ASSIGNED  # still running: nothing waited for it
    assert executing_in(p1.proc.pid) == 1
