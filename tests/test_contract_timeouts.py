"""Every state that holds money has a deadline and a timed exit: nothing waits forever."""

from __future__ import annotations

import pytest
from conftest import FEE, PRICE
from market_flow import balance_sheet, create, name_validator, submit, to_passed, to_validating
from test_contract_faults import reverts

from ichain_tui.chain.types import TaskState

WINDOW = 600


def later(p, seconds=WINDOW + 1):
    p.chain.advance_time(seconds)


def test_every_money_state_has_a_deadline(parties):
    p = parties
    created = create(p, provider=False)
    assigned = create(p)
    executed = create(p)
    submit(p, executed)
    validating = to_validating(p)
    passed = to_passed(p)
    for task_id in (created, assigned, executed, validating, passed):
        t = p.requester.task(task_id)
        assert p.requester.escrow_of(task_id) > 0
        assert t.deadline > p.chain.timestamp(), t.state


@pytest.mark.parametrize("caller", ["requester", "provider"])
def test_silent_provider_lets_the_requester_be_refunded(parties, caller):
    p = parties
    task_id = create(p)
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p)
    reverts("DeadlinePassed", p.provider.submit_result(task_id, b"\x01" * 32, b""))
    reverts("NotParty", p.stranger.refund(task_id))
    p.as_(caller).refund(task_id).send()
    assert p.requester.task(task_id).state is TaskState.EXPIRED
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
    assert p.requester.provider(p.provider.account.address).locked == 0
    assert balance_sheet(p)[0] == balance_sheet(p)[1]


def test_requester_silent_after_a_result_lets_the_provider_claim(parties):
    p = parties
    task_id = create(p)
    submit(p, task_id)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id))
    later(p)
    reverts("DeadlinePassed", p.requester.assign_validator(task_id, p.validator.account.address, b""))
    p.provider.claim_payment(task_id).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert p.requester.credits(p.provider.account.address) == PRICE
    assert p.requester.credits(p.requester.account.address) == FEE  # unused validator fee comes back


def test_silent_validator_lets_the_requester_refund(parties):
    p = parties
    task_id = to_validating(p)
    reverts("DeadlineNotReached", p.requester.refund(task_id))
    later(p)
    reverts("DeadlinePassed", p.validator.submit_verdict(task_id, True))
    reverts("NotRequester", p.provider.refund(task_id))
    p.requester.refund(task_id).send()
    assert p.requester.task(task_id).state is TaskState.EXPIRED
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
    assert p.requester.credits(p.validator.account.address) == 0


def test_silent_validator_can_be_replaced(parties):
    p = parties
    task_id = to_validating(p)
    later(p)
    name_validator(p, task_id, "validator2")
    t = p.requester.task(task_id)
    assert t.validator == p.validator2.account.address and t.deadline > p.chain.timestamp()
    reverts("NotValidator", p.validator.submit_verdict(task_id, True))
    p.validator2.submit_verdict(task_id, True).send()
    assert p.requester.credits(p.validator2.account.address) == FEE
    assert p.requester.credits(p.validator.account.address) == 0


def test_silent_validator_and_silent_requester_let_the_provider_claim(parties):
    p = parties
    task_id = to_validating(p)
    later(p)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id))
    later(p)
    p.provider.claim_payment(task_id).send()
    assert p.requester.credits(p.provider.account.address) == PRICE
    assert p.requester.credits(p.requester.account.address) == FEE


def test_requester_silent_after_a_pass_lets_the_provider_claim(parties):
    p = parties
    task_id = to_passed(p)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id))
    later(p)
    p.provider.claim_payment(task_id).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert p.requester.credits(p.provider.account.address) == PRICE
    reverts("WrongState", p.requester.finalize_and_rate(task_id, 5))


def test_requester_may_still_finalise_late_before_the_claim(parties):
    p = parties
    task_id = to_passed(p)
    later(p)
    p.requester.finalize_and_rate(task_id, 2).send()
    assert p.requester.rating(p.provider.account.address).count == 1


def test_created_task_without_provider_expires_to_cancel_only(parties):
    p = parties
    task_id = create(p, provider=False)
    later(p)
    reverts("DeadlinePassed", p.requester.assign_provider(task_id, p.provider.account.address, b""))
    p.requester.cancel_task(task_id).send()
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
