"""Full task lifecycles on eth-tester and on a real anvil, with the balance sheet checked at every step."""

from __future__ import annotations

from conftest import FEE, PRICE, STAKE
from market_flow import RESULT_ROOT, TASK_ROOT, balance_sheet, create, name_validator, submit

from ichain_tui.chain.events import read_events
from ichain_tui.chain.types import TaskState


def assert_balanced(p):
    actual, expected = balance_sheet(p)
    assert actual == expected


def test_seed_flow_pays_provider_and_validator_and_records_rating(parties):
    p = parties
    task_id = create(p)
    t = p.requester.task(task_id)
    assert t.state is TaskState.ASSIGNED and t.provider == p.provider.account.address
    assert t.deadline > 0 and p.requester.escrow_of(task_id) == PRICE + FEE
    assert p.requester.provider(p.provider.account.address).locked == PRICE // 2
    assert_balanced(p)

    submit(p, task_id)
    t = p.requester.task(task_id)
    assert t.state is TaskState.EXECUTED and t.result_root == RESULT_ROOT
    assert_balanced(p)

    name_validator(p, task_id)
    assert p.requester.task(task_id).state is TaskState.VALIDATING
    p.validator.submit_verdict(task_id, True).send()
    assert p.requester.task(task_id).state is TaskState.PASSED
    assert p.requester.credits(p.validator.account.address) == FEE
    assert p.requester.credits(p.provider.account.address) == 0  # not before finalise or claim
    assert_balanced(p)

    p.requester.finalize_and_rate(task_id, 4).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert p.requester.credits(p.provider.account.address) == PRICE
    assert p.requester.provider(p.provider.account.address).locked == 0
    rating = p.requester.rating(p.provider.account.address)
    assert (rating.count, rating.total) == (1, 4)
    assert p.requester.escrow_of(task_id) == 0
    assert_balanced(p)

    before = p.chain.balance(p.provider.account.address)
    tx = p.provider.withdraw().send()
    after = p.chain.balance(p.provider.account.address)
    assert after == before + PRICE - tx.fee_paid
    assert p.requester.credits(p.provider.account.address) == 0
    assert_balanced(p)


def test_validator_named_at_creation_needs_two_requester_transactions(parties):
    p = parties
    task_id = create(p, validator=True)
    assert p.requester.task(task_id).validator == p.validator.account.address
    submit(p, task_id)
    assert p.requester.task(task_id).state is TaskState.VALIDATING  # no requester step in between
    p.validator.submit_verdict(task_id, True).send()
    p.requester.finalize_and_rate(task_id, 5).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    sent = [e for e in read_events(p.requester.contract, "TaskCreated", filters={"taskId": task_id})]
    assert sent[0].args["taskRoot"] == TASK_ROOT


def test_fail_refunds_requester_slashes_provider_pays_validator(parties):
    p = parties
    task_id = create(p)
    submit(p, task_id)
    name_validator(p, task_id)
    contract_before = p.requester.contract_balance()
    p.validator.submit_verdict(task_id, False).send()
    t = p.requester.task(task_id)
    assert t.state is TaskState.FAILED
    assert p.requester.credits(p.requester.account.address) == PRICE
    assert p.requester.credits(p.validator.account.address) == FEE
    assert p.requester.credits(p.provider.account.address) == 0
    prov = p.requester.provider(p.provider.account.address)
    assert prov.stake == STAKE - PRICE // 2 and prov.locked == 0
    assert p.requester.contract_balance() == contract_before - PRICE // 2  # slashed stake is burned
    assert_balanced(p)


def test_task_created_without_provider_is_assigned_later_or_cancelled(parties):
    p = parties
    first = create(p, provider=False)
    assert p.requester.task(first).state is TaskState.CREATED
    p.requester.assign_provider(first, p.provider.account.address, b"env").send()
    assert p.requester.task(first).state is TaskState.ASSIGNED

    second = create(p, provider=False)
    before = p.requester.credits(p.requester.account.address)
    p.requester.cancel_task(second).send()
    assert p.requester.task(second).state is TaskState.CANCELLED
    assert p.requester.credits(p.requester.account.address) == before + PRICE + FEE
    assert_balanced(p)


def test_provider_declines_and_requester_is_refunded(parties):
    p = parties
    task_id = create(p)
    p.provider.decline_task(task_id).send()
    assert p.requester.task(task_id).state is TaskState.CANCELLED
    assert p.requester.credits(p.requester.account.address) == PRICE + FEE
    assert p.requester.provider(p.provider.account.address).locked == 0
    assert_balanced(p)


def test_explicit_finalise_without_validation_pays_and_returns_the_fee(parties):
    p = parties
    task_id = create(p)
    submit(p, task_id)
    p.requester.finalize_and_rate(task_id, 3).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert p.requester.credits(p.provider.account.address) == PRICE
    assert p.requester.credits(p.requester.account.address) == FEE
    assert_balanced(p)


def test_provider_profile_and_key_are_on_chain(parties):
    p = parties
    info = p.requester.provider(p.provider.account.address)
    assert info.registered and info.available and info.price == PRICE and info.stake == STAKE
    assert info.public_key == p.pub(p.provider)
    assert "cpu=8" in info.hardware
    p.provider.update_provider(PRICE * 2, False, "gpu=1xA100 80GB").send()
    info = p.requester.provider(p.provider.account.address)
    assert (info.price, info.available, info.hardware) == (PRICE * 2, False, "gpu=1xA100 80GB")


def test_gas_preview_matches_the_transaction(parties):
    p = parties
    call = p.requester.create_task(
        provider=p.provider.account.address, payment=PRICE, validator_fee=FEE, task_root=TASK_ROOT,
        requester_key=p.pub(p.requester), provider_envelope=b"x" * 200,
    )
    preview = call.preview()
    assert preview.value == PRICE + FEE
    assert preview.max_cost >= preview.expected_cost > 0
    tx = call.send()
    assert tx.gas_used <= preview.gas
    assert preview.gas / 1.25 <= tx.gas_used * 1.15  # the estimate is close, not a blind cap
