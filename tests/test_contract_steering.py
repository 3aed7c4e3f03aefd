"""Issue 21's chosen draws, tried with an attacker contract of our own (`contracts/attackers/Steer.sol`):
it calls the market, reads the task's validator (assigned or pending) in the same transaction and
reverts unless it likes it. On protocol v2 that picked the "random" validator in 1-4 tries for gas.

As a plain contract it can make the calls anyone may (replaceValidator, drawValidator): on
eth-tester and anvil. As the code of an EIP-7702 account (anvil --hardfork prague) it is the
requester itself (createTask) or the provider itself (appeal, submitResult)."""

from __future__ import annotations

import pytest
from attackers import ZERO, call_if_mine, delegate, deploy_steer
from conftest import FEE, PRICE, STAKE, account
from market_flow import (
    K2,
    RESULT_ROOT,
    TASK_ROOT,
    create,
    draw,
    key_commit,
    reverts,
    to_validating,
    validator_of,
)

from ichain_tui.chain.client import MarketClient, task_terms_abi
from ichain_tui.chain.network import connect
from ichain_tui.chain.types import TaskState, TaskTerms
from ichain_tui.chain.wallet import public_key

WINDOW = 600


def test_anyone_replacing_a_validator_cannot_see_or_retry_the_draw(parties):
    """The replacement is drawn from the hash of the block that asked for it: inside the asking
    transaction nothing is known (NotMine(0, 0) for whatever it wants), and once it is known every
    later try gives the same pick (the seed does not change by trying again)."""
    p = parties
    steer = deploy_steer(p.chain, p.stranger.account)
    task_id = to_validating(p)
    silent = validator_of(p, task_id)
    other = p.validator2 if silent is p.validator else p.validator
    p.chain.advance_time(WINDOW + 1)
    for wanted in (other.account.address, silent.account.address, p.stranger.account.address):
        kept, seen, pending = call_if_mine(
            p.chain,
            p.stranger.account,
            steer,
            p.stranger,
            p.stranger.contract.functions.replaceValidator(task_id),
            task_id,
            wanted,
        )
        assert (kept, seen, pending) == (False, ZERO, ZERO)  # reverted, having seen nothing
    p.stranger.replace_validator(task_id).send()  # asked for, for good
    p.chain.advance_time(1)  # a block later: the seed is known to everyone now
    picks = set()
    for _ in range(3):  # each try in a block of its own: the same outcome
        kept, seen, pending = call_if_mine(
            p.chain,
            p.stranger.account,
            steer,
            p.stranger,
            p.stranger.contract.functions.drawValidator(task_id, ZERO, b""),
            task_id,
            p.stranger.account.address,
        )
        assert not kept and pending == ZERO  # resolved inside the try (and undone by its revert)
        picks.add(seen)
    assert picks == {other.account.address}  # the only eligible one, whoever asks, however often
    assert draw(p, task_id) and p.requester.task(task_id).validator == other.account.address


@pytest.fixture
def prague(anvil_node):
    """The session anvil (prague: EIP-7702 accounts exist) with a fresh market, reverted after."""
    chain = connect(anvil_node.url)
    snap = chain.snapshot()
    deployer = account("steer-deployer")
    chain.fund(deployer.address, 10**24)
    market = MarketClient.deploy(chain, deployer, min_stake=STAKE // 10, slash_bps=5_000)
    yield chain, market, deployer
    chain.revert(snap)


def _party(chain, market, name, stake=None):
    acct = account(f"steer-{name}")
    chain.fund(acct.address, 10**22)
    client = market.as_account(acct)
    if stake:
        client.register_provider(public_key(acct), PRICE, "cpu=4", stake).send()
    return client


def _create_call(market, requester, provider, task_id):
    terms = TaskTerms(
        provider=provider,
        payment=PRICE,
        task_root=TASK_ROOT,
        time_limit=WINDOW,
        validator_fee=FEE,
        execute_window=WINDOW,
        review_window=WINDOW,
        provider_envelope=b"\x01" * 64,
    )
    return market.contract.functions.createTask(task_id, task_terms_abi(terms), public_key(requester.account))


def test_a_7702_requester_reverting_unwanted_draws_never_sees_its_draw(prague):
    """The attacker's EOA runs Steer: createTask, read the validator, revert unless it is its own
    validator address. The draw is not made in that transaction (nor readable in its block), so
    every try reverts blind; the task the attacker finally keeps is drawn like any other."""
    chain, market, deployer = prague
    steer = deploy_steer(chain, deployer)
    provider = _party(chain, market, "provider", STAKE)
    honest = _party(chain, market, "honest", STAKE)
    mine = _party(chain, market, "sybil-validator", STAKE // 10)
    attacker = _party(chain, market, "attacker")
    delegate(chain, attacker.account, steer, deployer)
    for _ in range(5):
        next_id = market.task_count() + 1
        kept, seen, pending = call_if_mine(
            chain,
            attacker.account,
            attacker.account.address,
            attacker,
            _create_call(market, attacker, provider.account.address, next_id),
            0,
            mine.account.address,
            value=PRICE + FEE,
        )
        assert (kept, seen, pending) == (False, ZERO, ZERO)
    assert market.task_count() == 0  # nothing was kept: the attacker only paid gas to learn nothing
    assert honest.provider(honest.account.address).registered


def test_a_7702_provider_reverting_unwanted_appeal_draws_never_sees_them(prague):
    """v2: the provider's wrapper picked the appeal validator, so an honest first validator who
    failed a bad result was slashed. Now the appeal's draw is unknown in the appealing transaction."""
    chain, market, deployer = prague
    steer = deploy_steer(chain, deployer)
    requester = _party(chain, market, "requester")
    provider = _party(chain, market, "bad-provider", STAKE)
    first = _party(chain, market, "first", STAKE)
    _party(chain, market, "second", STAKE)
    friend = _party(chain, market, "provider-friend", STAKE)
    delegate(chain, provider.account, steer, deployer)
    tx = requester.create_task(
        provider=provider.account.address,
        mode=1,
        validator=first.account.address,
        payment=PRICE,
        validator_fee=FEE,
        task_root=TASK_ROOT,
        requester_key=public_key(requester.account),
        execute_window=WINDOW,
        review_window=WINDOW,
    ).send()
    task_id = market.task_id_of(tx)
    provider.submit_result(task_id, RESULT_ROOT, key_commit(task_id), b"r", b"v").send()
    first.submit_verdict(task_id, False).send()  # an honest fail of a bad result
    for _ in range(4):
        kept, seen, pending = call_if_mine(
            chain,
            provider.account,
            provider.account.address,
            provider,
            market.contract.functions.appeal(task_id),
            task_id,
            friend.account.address,
            value=FEE,
        )
        assert (kept, seen, pending) == (False, ZERO, ZERO)
    assert market.task(task_id).state is TaskState.FAILED


def test_a_steering_requester_gets_its_validator_no_more_often_than_its_stake_share(prague):
    """30 validated tasks of a requester whose own validator holds the minimum stake (1 draw entry)
    against two honest validators of 1 ETH (8 entries each: weight stops at 8 x the minimum): its
    share of the eligible stake entries is 1/17. Drawn uniformly by address (as v2 did) it would
    validate a third of them; here it validates about 6 %. The bound below fails with probability
    under 1e-4 for a fair draw."""
    chain, market, _ = prague
    requester = _party(chain, market, "sybil-requester")
    provider = _party(chain, market, "sybil-provider", 4 * STAKE)
    mine = _party(chain, market, "sybil-own-validator", STAKE // 10)
    _party(chain, market, "honest-1", STAKE)
    _party(chain, market, "honest-2", STAKE)
    own = 0
    for _ in range(30):
        tx = requester.create_task(
            provider=provider.account.address,
            payment=PRICE,
            validator_fee=FEE,
            task_root=TASK_ROOT,
            requester_key=public_key(requester.account),
            execute_window=WINDOW,
            review_window=WINDOW,
        ).send()
        task_id = market.task_id_of(tx)
        provider.submit_result(task_id, RESULT_ROOT, key_commit(task_id, K2), b"r", b"v").send()
        provider.draw_validator(task_id).send()
        validator = market.task(task_id).validator
        own += validator == mine.account.address
        market.as_account(_account_of(validator)).submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    assert own <= 8, own


def _account_of(address):
    for name in ("sybil-own-validator", "honest-1", "honest-2"):
        if account(f"steer-{name}").address == address:
            return account(f"steer-{name}")
    raise AssertionError(address)


def test_the_draw_is_not_readable_in_the_block_that_asks_for_it(parties):
    """What the wrappers above meet, on both chains: nothing is drawn before the provider commits
    (so neither party can read a pick and then decline or let the task expire to draw again);
    in the committing block nothing names the validator; from the next block on everyone reads
    the same pick."""
    p = parties
    task_id = create(p)
    assert p.provider.pending_validator(task_id) is None and not p.requester.task(task_id).draw_pending
    p.provider.submit_result(task_id, RESULT_ROOT, key_commit(task_id), b"r", b"v").send()
    latest = p.requester.contract.functions.pendingValidator(task_id).call(block_identifier="latest")
    assert latest == ZERO and p.requester.task(task_id).validator is None
    reverts("WrongState", p.provider.decline_task(task_id, "too late to take it back"))
    predicted = p.provider.pending_validator(task_id)  # the next block's view
    assert predicted in (p.validator.account.address, p.validator2.account.address)
    assert draw(p, task_id)
    assert p.requester.task(task_id).validator == predicted
