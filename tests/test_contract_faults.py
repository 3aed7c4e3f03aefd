"""Every fault of the published iChain design and every attack on protocol v1 that issue 9 lists,
each shown impossible (or unprofitable) on the v3 contract, on eth-tester and on anvil."""

from __future__ import annotations

import pytest
from conftest import FEE, PRICE, STAKE, account
from market_flow import (
    K2,
    RESULT_ROOT,
    TASK_ROOT,
    balance_sheet,
    create,
    draw,
    key_commit,
    other_validator,
    random_key,
    reverts,
    submit,
    to_failed,
    to_passed,
    to_validating,
    validator_of,
)

from ichain_tui.chain.errors import ContractRevert, InsufficientFunds
from ichain_tui.chain.types import ProviderTerms, TaskState, ValidatorMode

LOCK = PRICE // 2


def stake_of(p, client) -> int:
    return p.requester.provider(client.account.address).stake


# --------------------------------------------------------------------------- issue 9's attacks


def test_free_result_a_silent_colluding_validator_cannot_refund_the_requester(parties):
    """v1: requester + its validator stayed silent and refunded; the provider got 0 wei. v2: the
    requester has no refund while the provider can claim, and the provider is paid at the bound."""
    p = parties
    task_id = create(p, validator="validator")  # requester's friend
    submit(p, task_id)
    reverts("StakeLocked", p.validator.withdraw_stake(STAKE))  # its lock cannot run away
    check_bound = p.requester.task(task_id).bound - 3 * 600
    for at in (p.requester.task(task_id).deadline + 1, check_bound):  # its deadline, the check bound
        p.chain.advance_time(at - p.chain.timestamp())
        reverts("DeadlineNotReached", p.requester.refund(task_id))
    p.chain.advance_time(1)
    before = stake_of(p, p.provider)
    p.provider.claim_payment(task_id, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert stake_of(p, p.provider) == before + PRICE + LOCK // 2  # paid, plus half the silent lock
    assert stake_of(p, p.validator) == STAKE - LOCK
    assert p.requester.credits(p.requester.account.address) == FEE  # only the unearned fee comes back
    actual, expected = balance_sheet(p)
    assert actual == expected


def test_stake_burning_by_a_colluding_validator_is_overturned_and_costs_the_pair(parties):
    """v1: requester + its validator failed an honest result and burned the stake for gas. v2: the
    provider appeals, a drawn validator overturns, the first validator loses its lock."""
    p = parties
    pair_before = stake_of(p, p.validator) + p.chain.balance(p.requester.account.address)
    task_id = create(p, validator="validator")
    submit(p, task_id)
    provider_before = stake_of(p, p.provider)
    p.validator.submit_verdict(task_id, False).send()
    p.provider.appeal(task_id, FEE).send()
    draw(p, task_id)
    second = validator_of(p, task_id)
    assert second.account.address == p.validator2.account.address  # the only other eligible party
    second.submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    assert stake_of(p, p.provider) == provider_before + PRICE + LOCK
    pair_after = stake_of(p, p.validator) + p.chain.balance(p.requester.account.address)
    assert pair_before - pair_after >= PRICE + LOCK  # paid for the work anyway and lost the lock


def test_endless_postponement_is_impossible_the_bound_is_fixed_at_creation(parties):
    p = parties
    created = p.chain.timestamp()
    task_id = to_validating(p)
    bound = p.requester.task(task_id).bound
    assert created <= bound - (600 + 6 * 600) <= created + 120  # execute window + 6 review windows
    assert not hasattr(p.requester, "assign_validator")  # no requester call re-opens validation
    p.chain.advance_time(601)
    p.requester.replace_validator(task_id).send()
    assert p.requester.task(task_id).replaced
    reverts("DeadlineNotReached", p.requester.replace_validator(task_id))  # a draw is pending
    draw(p, task_id)
    p.chain.advance_time(601)
    reverts("AlreadyReplaced", p.requester.replace_validator(task_id))
    p.provider.claim_payment(task_id, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.CLOSED
    assert p.requester.task(task_id).bound == bound


def test_validator_has_stake_at_risk_from_assignment_to_verdict(parties):
    p = parties
    task_id = create(p)
    submit(p, task_id)
    validator = validator_of(p, task_id)
    info = p.requester.provider(validator.account.address)
    assert info.locked == LOCK
    reverts("StakeLocked", validator.withdraw_stake(info.stake))
    validator.submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    assert p.requester.provider(validator.account.address).locked == 0


def test_result_key_is_committed_a_wrong_key_cannot_pass_or_be_claimed(parties):
    """v1: the provider gave the requester a random key and the validator the real one. v2: the key
    that pays is the key the requester reads, checked against the commitment."""
    p = parties
    task_id = to_validating(p)
    validator = validator_of(p, task_id)
    reverts("KeyMismatch", validator.submit_verdict(task_id, True, RESULT_ROOT, random_key()))
    reverts("KeyMismatch", validator.submit_verdict(task_id, True, b"\x99" * 32, K2))
    other = create(p, mode=ValidatorMode.NONE)
    submit(p, other)
    reverts("KeyMismatch", p.provider.claim_payment(other, RESULT_ROOT, random_key()))
    p.provider.claim_payment(other, RESULT_ROOT, K2).send()


def test_a_provider_committing_to_a_key_it_does_not_have_can_only_fail(parties):
    p = parties
    task_id = create(p)
    commit = key_commit(task_id, random_key())  # not the key it will give anyone
    p.provider.submit_result(task_id, RESULT_ROOT, commit, b"r", b"v").send()
    draw(p, task_id)
    validator = validator_of(p, task_id)
    reverts("KeyMismatch", validator.submit_verdict(task_id, True, RESULT_ROOT, K2))
    validator.submit_verdict(task_id, False).send()
    assert p.requester.task(task_id).state is TaskState.FAILED


def test_envelopes_are_bound_to_the_next_task_id(parties):
    p = parties
    next_id = p.requester.task_count() + 1
    reverts(
        "TaskIdTaken",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
            expected_id=next_id + 1,
        ),
    )
    assert create(p) == next_id


# --------------------------------------------------------------------------- the seed's faults


def test_calling_validation_again_cannot_drain_escrow(parties):
    p = parties
    task_id = to_passed(p)
    validator = validator_of(p, task_id)
    balance = p.requester.contract_balance()
    reverts("WrongState", validator.submit_verdict(task_id, True, RESULT_ROOT, K2))
    reverts("WrongState", validator.submit_verdict(task_id, False))
    reverts("WrongState", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    assert p.requester.contract_balance() == balance


def test_provider_is_not_paid_on_a_fail(parties):
    p = parties
    task_id = to_failed(p)
    reverts("WrongState", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    p.chain.advance_time(10_000)
    reverts("WrongState", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    reverts("WrongState", p.requester.rate(task_id, 5))
    reverts("DeadlinePassed", p.provider.appeal(task_id, FEE))
    p.requester.settle(task_id).send()
    assert stake_of(p, p.provider) == STAKE - LOCK


def test_provider_is_not_paid_before_a_pass_or_the_bound(parties):
    p = parties
    task_id = to_validating(p)
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    assert stake_of(p, p.provider) == STAKE


@pytest.mark.parametrize("who", ["requester", "provider", "stranger", "deployer"])
def test_ineligible_named_validators_are_refused(parties, who):
    p = parties
    err = reverts(
        "ValidatorIneligible",
        p.requester.create_task(
            provider=p.provider.account.address,
            mode=ValidatorMode.NAMED,
            validator=p.as_(who).account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )
    assert "cannot validate" in str(err)


def test_random_draw_never_picks_the_requester_or_the_provider(parties):
    p = parties
    p.requester.register_provider(p.pub(p.requester), PRICE, "cpu=2", STAKE).send()  # requester in the pool
    for _ in range(6):
        task_id = to_validating(p)
        assert p.requester.task(task_id).validator in (
            p.validator.account.address,
            p.validator2.account.address,
        )
        validator_of(p, task_id).submit_verdict(task_id, True, RESULT_ROOT, K2).send()


def test_a_draw_that_finds_nobody_waits_and_then_ends_for_the_provider(parties):
    """Never against the asker: with nobody eligible the draw stays pending (re-armed on each try);
    when a whole window no longer fits before the check bound the provider claims, and the
    requester gets its unspent fee back."""
    p = parties
    p.validator.set_available(False).send()
    p.validator2.set_available(False).send()
    task_id = to_validating(p)
    t = p.requester.task(task_id)
    assert t.state is TaskState.VALIDATING and t.validator is None and t.draw_pending
    assert not draw(p, task_id)  # nobody: re-armed
    reverts("DeadlineNotReached", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    p.validator.set_available(True).send()  # back, after the pending draw's seed was known:
    assert not draw(p, task_id)  # its entries do not count for that draw, which is re-armed
    assert draw(p, task_id)  # and count for the next one
    assert validator_of(p, task_id) is p.validator
    p.validator.set_available(False).send()
    other = to_validating(p)  # nobody in the pool at all
    p.chain.advance_time(p.requester.task(other).bound - 3 * 600 - p.chain.timestamp() + 1)
    p.provider.claim_payment(other, RESULT_ROOT, K2).send()
    assert p.requester.task(other).state is TaskState.CLOSED
    assert p.requester.credits(p.requester.account.address) == FEE
    assert balance_sheet(p)[0] == balance_sheet(p)[1]


def test_unavailable_provider_cannot_validate_or_be_assigned(parties):
    p = parties
    p.validator.update_provider(PRICE, False, "off").send()
    reverts(
        "ValidatorIneligible",
        p.requester.create_task(
            provider=p.provider.account.address,
            validator=p.validator.account.address,
            mode=ValidatorMode.NAMED,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )
    reverts(
        "ProviderUnavailable",
        p.requester.create_task(
            provider=p.validator.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )


@pytest.mark.parametrize("delta", [-1, 1, FEE])
def test_wrong_deposit_is_refused_not_kept(parties, delta):
    p = parties
    call = p.requester.create_task(
        provider=p.provider.account.address,
        payment=PRICE,
        validator_fee=FEE,
        task_root=TASK_ROOT,
        requester_key=p.pub(p.requester),
    )
    call.value += delta
    balance = p.requester.contract_balance()
    reverts("WrongValue", call)
    assert p.requester.contract_balance() == balance


def test_wrong_appeal_bond_is_refused(parties):
    p = parties
    task_id = to_failed(p)
    reverts("WrongValue", p.provider.appeal(task_id, FEE - 1))
    reverts("NotProvider", p.requester.appeal(task_id, FEE))


def test_plain_ether_sent_to_the_market_is_refused(parties):
    p = parties
    w3 = p.chain.w3
    sender = p.stranger.account
    tx = {
        "to": p.stranger.address,
        "value": 10**18,
        "gas": 100_000,
        "nonce": w3.eth.get_transaction_count(sender.address),
        "chainId": p.chain.chain_id,
        "maxFeePerGas": 10**11,
        "maxPriorityFeePerGas": 10**9,
    }
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
    stake_before = stake_of(p, p.provider)
    reverts("AlreadyRegistered", p.provider.register_provider(p.pub(p.provider), PRICE, "again", 10**18))
    assert stake_of(p, p.provider) == stake_before


def test_duplicate_completion_is_refused(parties):
    p = parties
    task_id = create(p)
    submit(p, task_id)
    reverts("WrongState", p.provider.submit_result(task_id, b"\x99" * 32, b"\x01" * 32))
    assert p.requester.task(task_id).key_commit == key_commit(task_id)
    validator_of(p, task_id).submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    reverts("WrongState", p.provider.claim_payment(task_id, RESULT_ROOT, K2))
    reverts("NothingToWithdraw", p.provider.withdraw())


def test_public_keys_must_belong_to_the_sender(parties):
    p = parties
    newcomer = p.stranger
    reverts("InvalidPublicKey", newcomer.register_provider(p.pub(p.provider), PRICE, "x", 10**18))
    reverts("InvalidPublicKey", newcomer.register_provider(b"\x01" * 63, PRICE, "x", 10**18))
    reverts(
        "InvalidPublicKey",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.provider),
        ),
    )


def test_stake_locked_by_an_open_task_cannot_be_withdrawn(parties):
    p = parties
    create(p)
    info = p.requester.provider(p.provider.account.address)
    reverts("StakeLocked", p.provider.withdraw_stake(info.stake))
    tx = p.provider.withdraw_stake(info.stake - info.locked).send()
    after = p.requester.provider(p.provider.account.address)
    assert after.stake == info.locked and not after.available
    assert [e["available"] for e in tx.events if e["event"] == "AvailabilityChanged"] == [False]
    actual, expected = balance_sheet(p)
    assert actual == expected


def test_slash_below_the_minimum_stake_makes_the_provider_unavailable_with_an_event(parties):
    p = parties
    p.provider.withdraw_stake(STAKE - (PRICE + LOCK - 1)).send()  # min stake (= PRICE here) + a lock - 1 wei
    task_id = to_failed(p)
    p.chain.advance_time(601)
    tx = p.requester.settle(task_id).send()
    names = [e["event"] for e in tx.events]
    assert "Slashed" in names and "AvailabilityChanged" in names
    assert not p.requester.provider(p.provider.account.address).available
    assert p.provider.account.address not in p.requester.pool()


def test_provider_without_enough_free_stake_cannot_take_a_task(parties):
    p = parties
    reverts(
        "StakeTooLow",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=3 * 10**18,
            validator_fee=3 * 10**17,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )


def test_payment_below_the_asking_price_is_refused(parties):
    p = parties
    reverts(
        "PaymentBelowRate",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE - 1,
            mode=ValidatorMode.NONE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )


@pytest.mark.parametrize("window", [0, 59, 30 * 86400 + 1])
def test_windows_are_bounded(parties, window):
    p = parties
    reverts(
        "WindowOutOfRange",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
            execute_window=window,
        ),
    )


def test_deadlines_cannot_wrap_their_packed_field(anvil_parties):
    p = anvil_parties
    snap = p.chain.snapshot()
    try:
        _far_future_create_reverts(p)
    finally:
        p.chain.revert(snap)


def _far_future_create_reverts(p):
    p.chain.advance_time(2**40 - p.chain.timestamp() - 100)
    reverts(
        "ValueOutOfRange",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
            execute_window=600,
        ),
    )


def test_insufficient_funds_is_reported_before_anything_is_sent(parties):
    p = parties
    poor = p.requester.as_account(account("poor"))
    p.chain.fund(poor.account.address, 10**15)
    nonce = p.chain.w3.eth.get_transaction_count(poor.account.address)
    with pytest.raises((InsufficientFunds, ContractRevert)):
        poor.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(poor),
        ).send()
    assert p.chain.w3.eth.get_transaction_count(poor.account.address) == nonce


def test_unknown_task_is_reported(parties):
    reverts("UnknownTask", parties.provider.submit_result(999, b"\x01" * 32, b"\x02" * 32))
    assert parties.requester.task(999).state is TaskState.NONE


def test_other_validator_helper_is_consistent(parties):
    p = parties
    task_id = create(p)
    assert other_validator(p, task_id).account.address != p.requester.task(task_id).validator


# --------------------------------------------------------------------------- issue 21's faults


@pytest.fixture
def anvil_only(anvil_parties):
    """anvil alone: eth-tester's funded accounts hold less than 2^81 wei between them."""
    snap = anvil_parties.chain.snapshot()
    yield anvil_parties
    anvil_parties.chain.revert(snap)


def test_amounts_above_2_to_the_80_are_paid_in_full(anvil_only):
    """v2 kept escrow in uint96 and paid into a uint80 stake: a payment above 2^80 wei reverted at
    the claim after K2 was public. Now every amount is uint128 and the claim pays it."""
    p = anvil_only
    big = 2**81
    for c in (p.requester, p.provider):
        p.chain.fund(c.account.address, 4 * big)
    p.provider.add_stake(big).send()
    task_id = create(p, mode=ValidatorMode.NONE, payment=big)
    submit(p, task_id)
    before = stake_of(p, p.provider)
    p.provider.claim_payment(task_id, RESULT_ROOT, K2).send()
    assert stake_of(p, p.provider) == before + big
    assert balance_sheet(p)[0] == balance_sheet(p)[1]


def test_a_task_longer_than_the_provider_accepts_is_refused(parties):
    """A requester could lock any provider's stake for 30 days until it paid gas to decline. Now
    the provider advertises the longest lock it accepts, and a longer task is refused on chain."""
    p = parties
    p.provider.update_provider(ProviderTerms(PRICE, max_lock=3600), True, "cpu=8").send()
    assert p.requester.provider(p.provider.account.address).max_lock == 3600
    err = reverts(
        "TermsRefused",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
            execute_window=600,
            review_window=600,
        ),
    )
    assert "4200 s" in str(err) and "3600 s" in str(err)
    assert stake_of(p, p.provider) == STAKE and p.requester.provider(p.provider.account.address).locked == 0
    create(p, execute_window=600, review_window=60)  # 600 + 6 x 60 s fits in an hour


def test_a_drawn_validator_declines_for_free_within_its_decline_window(parties):
    """A drawn validator cannot be locked without its consent: within a quarter of its window it
    gives the task back (no slash), is excluded, and another is drawn with a whole window."""
    p = parties
    task_id = to_validating(p)
    first = validator_of(p, task_id)
    first.decline_draw(task_id).send()
    assert stake_of(p, first) == STAKE and p.requester.provider(first.account.address).locked == 0
    t = p.requester.task(task_id)
    assert t.validator is None and t.draw_pending and t.excluded == first.account.address
    assert draw(p, task_id)
    second = validator_of(p, task_id)
    assert second is not first and p.requester.task(task_id).deadline == p.chain.timestamp() + 600
    p.chain.advance_time(600 // 4 + 1)
    reverts("DeadlinePassed", second.decline_draw(task_id))  # after the decline window the lock stands
    reverts("NotValidator", p.stranger.decline_draw(task_id))
    second.submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    assert p.requester.task(task_id).state is TaskState.PASSED
    assert balance_sheet(p)[0] == balance_sheet(p)[1]
