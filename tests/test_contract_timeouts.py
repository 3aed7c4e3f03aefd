"""Every state that holds money has a deadline fixed when it is entered and a timed exit; the
exits of one state never overlap, so the order of calls cannot decide who is paid."""

from __future__ import annotations

import pytest
from conftest import FEE, PRICE, STAKE
from market_flow import K2, RESULT_ROOT, balance_sheet, create, submit, to_failed, to_validating, validator_of
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


@pytest.mark.parametrize("caller", ["requester", "provider", "stranger"])
def test_silent_provider_lets_the_requester_be_refunded(parties, caller):
    p = parties
    task_id = create(p)
    validator = validator_of(p, task_id)
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p)
    reverts("DeadlinePassed", p.provider.submit_result(task_id, RESULT_ROOT, b"\x01" * 32))
    p.as_(caller).refund(task_id).send()
    assert p.requester.task(task_id).state is TaskState.EXPIRED
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
    assert p.requester.provider(validator.account.address).locked == 0
    assert p.requester.provider(p.provider.account.address).locked == 0
    assert balanced(p)


def test_silent_validator_is_replaced_once_and_forfeits_half_to_the_provider(parties):
    p = parties
    task_id = to_validating(p)
    silent = validator_of(p, task_id)
    reverts("DeadlineNotReached", p.stranger.replace_validator(task_id))
    later(p)
    reverts("DeadlinePassed", silent.submit_verdict(task_id, True, RESULT_ROOT, K2))
    p.stranger.replace_validator(task_id).send()
    t = p.requester.task(task_id)
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


def test_replacement_is_only_possible_within_one_window_of_the_deadline(parties):
    p = parties
    task_id = to_validating(p)
    later(p, 2 * WINDOW + 1)
    reverts("DeadlinePassed", p.requester.replace_validator(task_id))


def test_silent_validators_let_the_provider_claim_then_the_requester_refund(parties):
    p = parties
    task_id = to_validating(p)
    later(p)
    p.provider.replace_validator(task_id).send()
    second = validator_of(p, task_id)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p)  # the fixed bound: two windows after submitResult
    reverts("DeadlineNotReached", p.requester.refund(task_id))  # the claim window comes first
    p.provider.claim_payment(task_id, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert p.requester.provider(second.account.address).stake == STAKE - LOCK
    assert p.requester.credits(p.requester.account.address) == FEE
    assert balanced(p)


def test_provider_that_never_claims_lets_the_requester_refund_after_the_claim_window(parties):
    p = parties
    task_id = to_validating(p)
    later(p, 2 * WINDOW + 1)
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p, WINDOW)
    reverts("DeadlinePassed", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    p.requester.refund(task_id).send()
    assert p.requester.task(task_id).state is TaskState.EXPIRED
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
    assert balanced(p)


def test_without_a_validator_the_claim_window_precedes_the_refund(parties):
    p = parties
    task_id = create(p, mode=ValidatorMode.NONE)
    submit(p, task_id)
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p)
    reverts("DeadlinePassed", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    p.requester.refund(task_id).send()
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
    second = validator_of(p, task_id)
    reverts("DeadlineNotReached", p.requester.settle(task_id))
    later(p)
    reverts("DeadlinePassed", second.submit_verdict(task_id, True, RESULT_ROOT, K2))
    p.stranger.settle(task_id).send()
    assert balanced(p)
