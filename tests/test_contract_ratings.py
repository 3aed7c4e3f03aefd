"""Ratings on protocol v2, on eth-tester and on anvil: only tasks decided by a drawn validator
count (bought ratings do not), only the requester rates, once, 1..5, after paying, and the
Ratings contract takes writes only from its Marketplace."""

from __future__ import annotations

import pytest
from conftest import PRICE
from market_flow import (
    K2,
    RESULT_ROOT,
    TASK_ROOT,
    create,
    reverts,
    submit,
    to_passed,
    to_validating,
    validator_of,
)

from ichain_tui.chain.types import ValidatorMode

LOCK = PRICE // 2


def test_bought_ratings_do_not_count(parties):
    """v1: price 0, own requester, 1 wei payment, 5 stars for gas. v2: a named (own) validator or
    no validator counts nothing; a counted task pays a drawn validator at least 10 %."""
    p = parties
    for mode, validator in ((ValidatorMode.NONE, None), (ValidatorMode.NAMED, "validator")):
        task_id = create(p, mode=mode, validator=validator)
        submit(p, task_id)
        if mode is ValidatorMode.NONE:
            p.provider.claim_payment(task_id, RESULT_ROOT, K2).send()
        else:
            p.validator.submit_verdict(task_id, True, RESULT_ROOT, K2).send()
        p.requester.rate(task_id, 5).send()
    r = p.requester.rating(p.provider.account.address)
    assert (r.validated, r.count, r.rated_weight) == (0, 0, 0)
    reverts(
        "FeeOutOfRange",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=PRICE // 10 - 1,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )
    reverts(
        "FeeOutOfRange",
        p.requester.create_task(
            provider=p.provider.account.address,
            payment=PRICE,
            validator_fee=LOCK + 1,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )
    reverts(
        "FeeOutOfRange",
        p.requester.create_task(
            provider=p.provider.account.address,
            mode=ValidatorMode.NONE,
            payment=PRICE,
            validator_fee=1,
            task_root=TASK_ROOT,
            requester_key=p.pub(p.requester),
        ),
    )


@pytest.mark.parametrize("who", ["stranger", "provider", "validator"])
def test_only_the_requester_rates(parties, who):
    p = parties
    task_id = to_passed(p)
    reverts("NotRequester", p.as_(who).rate(task_id, 5))
    assert p.requester.rating(p.provider.account.address).count == 0


@pytest.mark.parametrize("rating", [0, 6, 255])
def test_rating_out_of_range_is_refused(parties, rating):
    p = parties
    task_id = to_passed(p)
    reverts("InvalidRating", p.requester.rate(task_id, rating))


def test_rating_only_once_and_only_once_paid(parties):
    p = parties
    task_id = to_validating(p)
    reverts("WrongState", p.requester.rate(task_id, 5))
    validator_of(p, task_id).submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    p.requester.rate(task_id, 5).send()
    reverts("AlreadyRated", p.requester.rate(task_id, 1))
    r = p.requester.rating(p.provider.account.address)
    assert (r.count, r.weighted_score) == (1, 5 * PRICE)


def test_ratings_contract_accepts_writes_only_from_the_marketplace(parties):
    p = parties
    fn = p.stranger.ratings.functions.recordRating(
        p.provider.account.address, 1, p.stranger.account.address, 5, True, 10**18
    )
    reverts("OnlyMarketplace", p.stranger._call("recordRating", fn))
    fn = p.stranger.ratings.functions.recordVerdict(p.provider.account.address, 1, True, True, 10**18)
    reverts("OnlyMarketplace", p.stranger._call("recordVerdict", fn))
