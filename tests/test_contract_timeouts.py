"""Every state that holds money has a deadline and a timed exit, all within the bound fixed at
creation (execute window + 6 review windows); every assigned validator gets a whole window; a claim
and a refund are exclusive by state (a claim never expires while the task is claimable; a refund
of a claimable task waits for the bound)."""

from __future__ import annotations

import pytest
from conftest import FEE, PRICE, STAKE
from market_flow import (
    K2,
    RESULT_ROOT,
    balance_sheet,
    create,
    draw,
    submit,
    to_failed,
    to_validating,
    validator_of,
)
from test_contract_faults import reverts

from ichain_tui.chain.types import TaskState, ValidatorMode

WINDOW = 600
LOCK = PRICE // 2


def later(p, seconds=WINDOW + 1):
    p.chain.advance_time(seconds)


def balanced(p):
    actual, expected = balance_sheet(p)
    return actual == expected


def test_every_money_state_has_a_deadline(parties):
    p = parties
    assigned = create(p)
    validating = to_validating(p)
    executed = create(p, mode=ValidatorMode.NONE)
    submit(p, executed)
    failed = to_failed(p)
    appealed = to_failed(p)
    p.provider.appeal(appealed, FEE).send()
    draw(p, appealed)
    for task_id, state in (
        (assigned, TaskState.ASSIGNED),
        (validating, TaskState.VALIDATING),
        (executed, TaskState.EXECUTED),
        (failed, TaskState.FAILED),
        (appealed, TaskState.APPEALED),
    ):
        t = p.requester.task(task_id)
        assert t.state is state
        assert p.requester.escrow_of(task_id) > 0
        assert t.deadline > p.chain.timestamp(), t.state
        assert t.deadline <= t.bound, t.state  # inside the bound fixed at creation


@pytest.mark.parametrize("caller", ["requester", "provider", "stranger"])
def test_silent_provider_lets_the_requester_be_refunded(parties, caller):
    p = parties
    task_id = create(p, validator="validator")
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p)
    reverts("DeadlinePassed", p.provider.submit_result(task_id, RESULT_ROOT, b"\x01" * 32))
    p.as_(caller).refund(task_id).send()
    assert p.requester.task(task_id).state is TaskState.EXPIRED
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
    assert p.requester.provider(p.validator.account.address).locked == 0  # never locked: no result
    assert p.requester.provider(p.provider.account.address).locked == 0
    assert balanced(p)


def test_silent_validator_is_replaced_once_and_forfeits_half_to_the_provider(parties):
    p = parties
    task_id = to_validating(p)
    silent = validator_of(p, task_id)
    reverts("DeadlineNotReached", p.stranger.replace_validator(task_id))
    later(p)
    p.stranger.replace_validator(task_id).send()
    reverts("NotValidator", silent.submit_verdict(task_id, True, RESULT_ROOT, K2))
    assert p.requester.task(task_id).validator is None  # drawn from the replacing block's hash
    assert draw(p, task_id)
    t = p.requester.task(task_id)
    assert t.deadline == p.chain.timestamp() + WINDOW  # a whole window from its assignment
    assert (
        t.replaced
        and t.counted
        and t.validator
        not in (silent.account.address, p.provider.account.address, p.requester.account.address)
    )
    assert p.requester.provider(silent.account.address).stake == STAKE - LOCK
    assert p.requester.provider(p.provider.account.address).stake == STAKE + LOCK // 2
    validator_of(p, task_id).submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.PASSED
    assert balanced(p)


def test_a_late_verdict_counts_while_nobody_replaced_the_validator(parties):
    """Exclusive by state, not by a second on the clock: a verdict mined after the deadline is
    taken as long as the validator is still the task's (its pass reveals the key and pays)."""
    p = parties
    task_id = to_validating(p)
    later(p)
    validator_of(p, task_id).submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.PASSED
    assert balanced(p)


def test_a_replacement_is_possible_only_while_a_whole_window_fits(parties):
    p = parties
    task_id = to_validating(p)
    t = p.requester.task(task_id)
    p.chain.advance_time(t.bound - 4 * WINDOW - p.chain.timestamp() + 1)  # past check bound - window
    reverts("DeadlinePassed", p.requester.replace_validator(task_id))


def test_a_replacement_drawn_late_still_gets_a_whole_window(parties):
    """v2 gave a replacement asked for at `bound - 1` one second; now its deadline is its
    assignment plus the review window, and the provider cannot claim before it."""
    p = parties
    task_id = to_validating(p)
    t = p.requester.task(task_id)
    limit = t.bound - 4 * WINDOW  # check bound minus one window: the last moment a replacement fits
    p.chain.advance_time(limit - p.chain.timestamp() - 3)
    p.stranger.replace_validator(task_id).send()
    assert draw(p, task_id)
    t = p.requester.task(task_id)
    assert t.deadline == p.chain.timestamp() + WINDOW
    p.chain.advance_time(WINDOW - 5)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    validator_of(p, task_id).submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.PASSED


def test_silent_validators_let_the_provider_claim_then_the_requester_refund(parties):
    p = parties
    task_id = to_validating(p)
    later(p)
    p.provider.replace_validator(task_id).send()
    draw(p, task_id)
    second = validator_of(p, task_id)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p)  # the replacement's whole window passed
    reverts("DeadlineNotReached", p.requester.refund(task_id))  # the refund waits for the bound
    p.provider.claim_payment(task_id, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert p.requester.provider(second.account.address).stake == STAKE - LOCK
    assert p.requester.credits(p.requester.account.address) == FEE
    assert balanced(p)


def test_provider_that_never_claims_lets_the_requester_refund_at_the_bound(parties):
    p = parties
    task_id = to_validating(p)
    bound = p.requester.task(task_id).bound
    p.chain.advance_time(bound - p.chain.timestamp() - 2)
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p, 3)
    p.requester.refund(task_id).send()
    assert p.requester.task(task_id).state is TaskState.EXPIRED
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
    assert balanced(p)


def test_without_a_validator_the_claim_never_expires_before_a_refund(parties):
    """v2: a claim mined one second after its window reverted with K2 in its public calldata and the
    requester refunded and decrypted for free. Now the claim stays open until someone refunds,
    which waits for the bound; a claim after a refund is refused by the state, and the provider's
    agent reads the state before it sends the key."""
    p = parties
    task_id = create(p, mode=ValidatorMode.NONE)
    submit(p, task_id)
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    p.chain.advance_time(p.requester.task(task_id).bound - p.chain.timestamp() + 1)
    p.provider.claim_payment(task_id, RESULT_ROOT, K2).send()  # late, and still paid
    reverts("WrongState", p.requester.refund(task_id))
    assert p.requester.provider(p.provider.account.address).stake == STAKE + PRICE
    assert balanced(p)


def test_without_a_validator_an_unclaimed_task_is_refunded_at_the_bound(parties):
    p = parties
    task_id = create(p, mode=ValidatorMode.NONE)
    submit(p, task_id)
    p.chain.advance_time(p.requester.task(task_id).bound - p.chain.timestamp() + 1)
    p.requester.refund(task_id).send()
    reverts("WrongState", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    assert p.requester.credits(p.requester.account.address) == PRICE
    assert balanced(p)


def test_appeal_is_possible_only_within_its_window(parties):
    p = parties
    task_id = to_failed(p)
    reverts("DeadlineNotReached", p.requester.settle(task_id))
    later(p)
    reverts("DeadlinePassed", p.provider.appeal(task_id, FEE))
    p.requester.settle(task_id).send()
    assert p.requester.task(task_id).state is TaskState.REJECTED


def test_appeal_validator_is_bound_by_its_deadline(parties):
    p = parties
    task_id = to_failed(p)
    p.provider.appeal(task_id, FEE).send()
    draw(p, task_id)
    second = validator_of(p, task_id)
    reverts("DeadlineNotReached", p.requester.settle(task_id))
    later(p)
    p.stranger.settle(task_id).send()
    reverts("WrongState", second.submit_verdict(task_id, True, RESULT_ROOT, K2))
    assert balanced(p)
