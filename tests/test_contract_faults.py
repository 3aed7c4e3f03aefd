"""Regression tests for every fault of the published iChain design: each must be impossible here."""

from __future__ import annotations

import pytest
from conftest import FEE, PRICE, account
from market_flow import TASK_ROOT, balance_sheet, create, name_validator, submit, to_passed, to_validating

from ichain_tui.chain.errors import ContractRevert, InsufficientFunds
from ichain_tui.chain.types import TaskState


def reverts(name: str, call) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        call.send()
    assert info.value.name == name, str(info.value)
    return info.value


def test_calling_validation_again_cannot_drain_escrow(parties):
    p = parties
    task_id = to_validating(p)
    p.validator.submit_verdict(task_id, True).send()
    balance = p.requester.contract_balance()
    reverts("WrongState", p.validator.submit_verdict(task_id, True))
    reverts("WrongState", p.validator.submit_verdict(task_id, False))
    assert p.requester.contract_balance() == balance
    assert p.requester.credits(p.validator.account.address) == FEE


def test_provider_is_not_paid_on_a_fail(parties):
    p = parties
    task_id = to_validating(p)
    p.validator.submit_verdict(task_id, False).send()
    reverts("WrongState", p.provider.claim_payment(task_id))
    p.chain.advance_time(10_000)
    reverts("WrongState", p.provider.claim_payment(task_id))
    reverts("WrongState", p.requester.finalize_and_rate(task_id, 5))
    assert p.requester.credits(p.provider.account.address) == 0


def test_provider_is_not_paid_before_a_pass_or_finalise(parties):
    p = parties
    task_id = to_validating(p)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id))
    assert p.requester.credits(p.provider.account.address) == 0


@pytest.mark.parametrize("who", ["requester", "provider", "stranger", "deployer"])
def test_ineligible_validators_are_refused(parties, who):
    p = parties
    task_id = create(p)
    submit(p, task_id)
    err = reverts("ValidatorIneligible", p.requester.assign_validator(task_id, p.as_(who).account.address, b""))
    assert "cannot validate" in str(err)


def test_requester_that_is_also_a_provider_cannot_validate_its_own_task(parties):
    p = parties
    p.requester.register_provider(p.pub(p.requester), PRICE, "cpu=2", 10**18).send()
    task_id = create(p)
    submit(p, task_id)
    reverts("ValidatorIneligible", p.requester.assign_validator(task_id, p.requester.account.address, b""))
    reverts("ValidatorIneligible", p.requester.create_task(
        provider=p.provider.account.address, validator=p.requester.account.address, payment=PRICE,
        validator_fee=FEE, task_root=TASK_ROOT, requester_key=p.pub(p.requester)))


def test_unavailable_provider_cannot_validate_or_be_assigned(parties):
    p = parties
    p.validator.update_provider(PRICE, False, "off").send()
    task_id = create(p)
    submit(p, task_id)
    reverts("ValidatorIneligible", p.requester.assign_validator(task_id, p.validator.account.address, b""))
    reverts("ProviderUnavailable", p.requester.create_task(
        provider=p.validator.account.address, payment=PRICE, validator_fee=FEE, task_root=TASK_ROOT,
        requester_key=p.pub(p.requester)))


@pytest.mark.parametrize("who", ["stranger", "provider", "validator"])
def test_only_the_requester_finalises_and_rates(parties, who):
    p = parties
    task_id = to_passed(p)
    reverts("NotRequester", p.as_(who).finalize_and_rate(task_id, 5))
    assert p.requester.rating(p.provider.account.address).count == 0


@pytest.mark.parametrize("rating", [0, 6, 255])
def test_rating_out_of_range_is_refused(parties, rating):
    p = parties
    task_id = to_passed(p)
    reverts("InvalidRating", p.requester.finalize_and_rate(task_id, rating))


def test_rating_only_once_per_task(parties):
    p = parties
    task_id = to_passed(p)
    p.requester.finalize_and_rate(task_id, 5).send()
    reverts("WrongState", p.requester.finalize_and_rate(task_id, 1))
    r = p.requester.rating(p.provider.account.address)
    assert (r.count, r.total) == (1, 5)


def test_ratings_contract_accepts_writes_only_from_the_marketplace(parties):
    p = parties
    fn = p.stranger.ratings.functions.record(p.provider.account.address, 1, p.stranger.account.address, 5)
    call = p.stranger._call("record", fn)
    reverts("OnlyMarketplace", call)


@pytest.mark.parametrize("delta", [-1, 1, FEE])
def test_wrong_deposit_is_refused_not_kept(parties, delta):
    p = parties
    call = p.requester.create_task(
        provider=p.provider.account.address, payment=PRICE, validator_fee=FEE, task_root=TASK_ROOT,
        requester_key=p.pub(p.requester))
    call.value += delta
    balance = p.requester.contract_balance()
    reverts("WrongValue", call)
    assert p.requester.contract_balance() == balance


def test_plain_ether_sent_to_the_market_is_refused(parties):
    p = parties
    w3 = p.chain.w3
    sender = p.stranger.account
    tx = {"to": p.stranger.address, "value": 10**18, "gas": 100_000, "nonce": w3.eth.get_transaction_count(sender.address),
          "chainId": p.chain.chain_id, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}
    with pytest.raises(Exception):
        w3.eth.estimate_gas({"from": sender.address, "to": p.stranger.address, "value": 10**18})
    signed = sender.sign_transaction(tx)
    balance = p.stranger.contract_balance()
    try:
        h = w3.eth.send_raw_transaction(signed.raw_transaction)
        assert w3.eth.wait_for_transaction_receipt(h)["status"] == 0
    except Exception:
        pass  # eth-tester refuses it at send time
    assert p.stranger.contract_balance() == balance


def test_second_registration_is_refused_and_stake_not_kept(parties):
    p = parties
    stake_before = p.requester.provider(p.provider.account.address).stake
    reverts("AlreadyRegistered", p.provider.register_provider(p.pub(p.provider), PRICE, "again", 10**18))
    assert p.requester.provider(p.provider.account.address).stake == stake_before


def test_duplicate_completion_is_refused(parties):
    p = parties
    task_id = create(p)
    submit(p, task_id)
    reverts("WrongState", p.provider.submit_result(task_id, b"\x99" * 32, b""))
    assert p.requester.task(task_id).result_root == b"\x22" * 32
    name_validator(p, task_id)
    reverts("DeadlineNotReached", p.requester.assign_validator(task_id, p.validator2.account.address, b""))
    p.validator.submit_verdict(task_id, True).send()
    p.requester.finalize_and_rate(task_id, 5).send()
    reverts("WrongState", p.provider.claim_payment(task_id))
    p.provider.withdraw().send()
    reverts("NothingToWithdraw", p.provider.withdraw())


def test_public_keys_must_belong_to_the_sender(parties):
    p = parties
    newcomer = p.stranger
    reverts("InvalidPublicKey", newcomer.register_provider(p.pub(p.provider), PRICE, "x", 10**18))
    reverts("InvalidPublicKey", newcomer.register_provider(b"\x01" * 63, PRICE, "x", 10**18))
    reverts("InvalidPublicKey", p.requester.create_task(
        provider=p.provider.account.address, payment=PRICE, validator_fee=FEE, task_root=TASK_ROOT,
        requester_key=p.pub(p.provider)))


def test_stake_locked_by_an_open_task_cannot_be_withdrawn(parties):
    p = parties
    create(p)
    info = p.requester.provider(p.provider.account.address)
    reverts("StakeLocked", p.provider.withdraw_stake(info.stake))
    p.provider.withdraw_stake(info.stake - info.locked).send()
    after = p.requester.provider(p.provider.account.address)
    assert after.stake == info.locked and not after.available
    actual, expected = balance_sheet(p)
    assert actual == expected


def test_provider_without_enough_free_stake_cannot_take_a_task(parties):
    p = parties
    reverts("StakeTooLow", p.requester.create_task(
        provider=p.provider.account.address, payment=3 * 10**18, validator_fee=0, task_root=TASK_ROOT,
        requester_key=p.pub(p.requester)))


def test_payment_below_the_asking_price_is_refused(parties):
    p = parties
    reverts("PaymentBelowPrice", p.requester.create_task(
        provider=p.provider.account.address, payment=PRICE - 1, validator_fee=0, task_root=TASK_ROOT,
        requester_key=p.pub(p.requester)))


@pytest.mark.parametrize("window", [0, 59, 30 * 86400 + 1])
def test_windows_are_bounded(parties, window):
    p = parties
    reverts("WindowOutOfRange", p.requester.create_task(
        provider=p.provider.account.address, payment=PRICE, validator_fee=0, task_root=TASK_ROOT,
        requester_key=p.pub(p.requester), execute_window=window))


def test_insufficient_funds_is_reported_before_anything_is_sent(parties):
    p = parties
    poor = p.requester.as_account(account("poor"))
    p.chain.fund(poor.account.address, 10**15)
    nonce = p.chain.w3.eth.get_transaction_count(poor.account.address)
    with pytest.raises((InsufficientFunds, ContractRevert)):
        poor.create_task(provider=p.provider.account.address, payment=PRICE, validator_fee=0,
                         task_root=TASK_ROOT, requester_key=p.pub(poor)).send()
    assert p.chain.w3.eth.get_transaction_count(poor.account.address) == nonce


def test_unknown_task_is_reported(parties):
    reverts("UnknownTask", parties.provider.submit_result(999, b"\x01" * 32, b""))
    assert parties.requester.task(999).state is TaskState.NONE
