"""Hypothesis stateful test: random calls from several accounts never break the balance sheet,
and every task's money can still get out at the end (no wei stranded, none taken twice)."""

from __future__ import annotations

import pytest
from conftest import _setup, account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from market_flow import K2, RESULT_ROOT, TASK_ROOT, key_commit

from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.errors import ContractRevert
from ichain_tui.chain.network import connect
from ichain_tui.chain.types import TaskState, ValidatorMode
from ichain_tui.chain.wallet import public_key

NAMES = ["requester", "provider", "validator", "validator2", "stranger"]
PROVIDERS = ["provider", "validator", "validator2"]
TASK_IDS = st.integers(1, 9)
SEEN: set[TaskState] = set()  # states reached across all examples (the run must reach the interesting ones)


def _attempt(call) -> bool:
    """Send; a refusal by the contract is a legal outcome of a random call."""
    try:
        call.send()
        return True
    except ContractRevert:
        return False


def make_machine(p):
    class MarketMachine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.snapshot = p.chain.snapshot()
            self.tasks: list[int] = []
            self.stakers = {p.as_(n).account.address for n in PROVIDERS}
            # Every example starts with open tasks of each mode, so the rules have something to move.
            for mode, validator, fee in (
                (ValidatorMode.RANDOM, None, 10**16),
                (ValidatorMode.NAMED, "validator2", 10**16),
                (ValidatorMode.NONE, None, 0),
            ):
                tx = p.requester.create_task(
                    provider=p.provider.account.address,
                    mode=mode,
                    payment=10**17,
                    validator_fee=fee,
                    validator=p.as_(validator).account.address if validator else None,
                    task_root=TASK_ROOT,
                    requester_key=public_key(p.requester.account),
                    execute_window=300,
                    review_window=120,
                ).send()
                self.tasks.append(p.requester.task_id_of(tx))
            # and three more already moved on: one passed, one failed, one waiting for its verdict
            # (whose exits the rules then take)
            for passed in (True, False, None):
                tx = p.requester.create_task(
                    provider=p.validator.account.address,
                    payment=10**17,
                    validator_fee=10**16,
                    task_root=TASK_ROOT,
                    requester_key=public_key(p.requester.account),
                    execute_window=300,
                    review_window=120,
                ).send()
                task = p.requester.task_id_of(tx)
                p.validator.submit_result(task, RESULT_ROOT, key_commit(task), b"r", b"v").send()
                p.requester.draw_validator(task).send()
                if passed is not None:
                    drawn = p.deployer.as_account(_by_address(p.deployer.task(task).validator))
                    drawn.submit_verdict(task, passed, RESULT_ROOT, K2).send()
                self.tasks.append(task)
            p.provider.decline_task(self.tasks[1], "named validator not accepted").send()

        def teardown(self):
            try:
                self._drain_everything()
            finally:
                p.chain.revert(self.snapshot)

        def _client(self, name):
            return p.as_(name)

        @rule(
            sender=st.sampled_from(["requester", "requester", "stranger", *NAMES]),
            provider=st.sampled_from(PROVIDERS),
            mode=st.sampled_from(list(ValidatorMode)),
            validator=st.sampled_from([*PROVIDERS, None]),
            payment=st.sampled_from([1, 10**16, 10**17, 3 * 10**17, 10**18, 3 * 10**18]),
            fee_pct=st.sampled_from([10, 10, 30, 50, 9, 51]),
            expected_offset=st.sampled_from([0, 0, 0, 1]),
        )
        def create(self, sender, provider, mode, validator, payment, fee_pct, expected_offset):
            c = self._client(sender)
            call = c.create_task(
                provider=p.as_(provider).account.address,
                mode=mode,
                validator=p.as_(validator).account.address if validator else None,
                payment=payment,
                task_root=TASK_ROOT,
                validator_fee=payment * fee_pct // 100
                if mode is not ValidatorMode.NONE or fee_pct == 51
                else 0,
                requester_key=public_key(c.account),
                execute_window=300,
                review_window=120,
                expected_id=p.deployer.task_count() + 1 + expected_offset,
            )
            try:
                tx = call.send()
            except ContractRevert:
                return
            self.tasks.append(c.task_id_of(tx))

        @rule(
            task=TASK_IDS,
            sender=st.sampled_from(NAMES),
            good=st.booleans(),
            action=st.sampled_from(
                [
                    "submit",
                    "verdict",
                    "rate",
                    "refund",
                    "claim",
                    "decline_task",
                    "replace_validator",
                    "settle",
                    "appeal",
                    "draw_validator",
                    "decline_draw",
                ]
            ),
        )
        def anyone_acts(self, task, sender, good, action):
            """Any party tries any step on any id: the contract must refuse what is not theirs."""
            c = self._client(sender)
            if action == "submit":
                key = K2 if good else b"\x44" * 32
                call = c.submit_result(task, RESULT_ROOT, key_commit(task, key), b"r", b"v")
            elif action == "verdict":
                call = c.submit_verdict(task, good, RESULT_ROOT, K2)
            elif action == "rate":
                call = c.rate(task, 3 if good else 0)
            elif action == "claim":
                call = c.claim_payment(task, RESULT_ROOT, K2 if good else b"\x44" * 32)
            elif action == "appeal":
                call = c.appeal(task, p.deployer.task(task).validator_fee + (0 if good else 1))
            else:
                call = getattr(c, action)(task)
            _attempt(call)

        # The same steps taken by the party the task names, on tasks that exist, so that most succeed.
        def _existing(self, index):
            return self.tasks[-1 - index % len(self.tasks)] if self.tasks else index

        def _party(self, task, role):
            address = getattr(p.deployer.task(task), role)
            if not address or int(address, 16) == 0:
                return None
            return p.deployer.as_account(_by_address(address))

        @rule(task=TASK_IDS, choice=st.integers(0, 3))
        def advance(self, task, choice):
            """The natural next step of the party a task waits for (outcome chosen by `choice`)."""
            task = self._existing(task)
            t = p.deployer.task(task)
            provider, validator, requester = (
                self._party(task, r) for r in ("provider", "validator", "requester")
            )
            call = None
            if t.state is TaskState.ASSIGNED:
                call = (
                    provider.submit_result(task, RESULT_ROOT, key_commit(task), b"r", b"v")
                    if choice < 3
                    else provider.decline_task(task)
                )
            elif t.state in (TaskState.VALIDATING, TaskState.APPEALED) and validator is None:
                call = requester.draw_validator(task)
            elif t.state in (TaskState.VALIDATING, TaskState.APPEALED):
                call = (
                    validator.decline_draw(task)
                    if choice == 3
                    else validator.submit_verdict(task, choice == 0, RESULT_ROOT, K2)
                )
            elif t.state is TaskState.EXECUTED:
                call = provider.claim_payment(task, RESULT_ROOT, K2)
            elif t.state is TaskState.FAILED:
                call = provider.appeal(task, t.validator_fee) if choice < 2 else requester.settle(task)
            elif t.state in (TaskState.PASSED, TaskState.CLOSED):
                call = requester.rate(task, choice + 1)
            if call is not None:
                _attempt(call)

        @rule(task=TASK_IDS, choice=st.integers(0, 3))
        def advance_again(self, task, choice):
            """The same as `advance`, so that tasks reach their later states within a short run."""
            self.advance(task, choice)

        @rule()
        def deadlines_pass(self):
            """Every deadline passes and each requester takes the exit that opens (a refund, or
            settling a failed task): the timeouts are part of every run."""
            p.chain.advance_time(400)
            for task in self.tasks:
                requester = self._party(task, "requester")
                if requester is not None:
                    failed = p.deployer.task(task).state is TaskState.FAILED
                    _attempt(requester.settle(task) if failed else requester.refund(task))

        @rule(
            task=TASK_IDS,
            rating=st.integers(1, 5),
            action=st.sampled_from(["rate", "refund", "settle", "replace_validator"]),
        )
        def requester_acts(self, task, rating, action):
            task = self._existing(task)
            party = self._party(task, "requester")
            if party is None:
                return
            if action == "rate":
                _attempt(party.rate(task, rating))
            else:
                _attempt(getattr(party, action)(task))

        @rule(sender=st.sampled_from(NAMES))
        def withdraw(self, sender):
            _attempt(self._client(sender).withdraw())

        @rule(
            sender=st.sampled_from([*PROVIDERS, "stranger"]),
            amount=st.sampled_from([0, 1, 10**17, 5 * 10**17, 2 * 10**18]),
            action=st.sampled_from(["withdraw_stake", "add_stake", "update", "off", "on"]),
        )
        def stake_or_availability(self, sender, amount, action):
            c = self._client(sender)
            call = {
                "withdraw_stake": lambda: c.withdraw_stake(amount),
                "add_stake": lambda: c.add_stake(amount),
                "update": lambda: c.update_provider(amount // 10, amount % 2 == 0, "hw"),
                "off": lambda: c.set_available(False),
                "on": lambda: c.set_available(True),
            }[action]()
            _attempt(call)

        @rule(seconds=st.sampled_from([30, 61, 121, 250]))
        def wait(self, seconds):
            p.chain.advance_time(seconds)

        @invariant()
        def balance_equals_escrow_stakes_credits(self):
            if not hasattr(self, "tasks"):
                return
            m = p.deployer
            escrow = sum(m.escrow_of(t) for t in range(1, m.task_count() + 1))
            addresses = {p.as_(n).account.address for n in NAMES} | {p.deployer.account.address}
            stakes = sum(m.provider(a).stake for a in addresses)
            locked = sum(m.provider(a).locked for a in addresses)
            credits = sum(m.credits(a) for a in addresses)
            assert m.contract_balance() == escrow + stakes + credits
            assert locked <= stakes
            SEEN.update(m.task(t).state for t in range(1, m.task_count() + 1))
            pool = m.pool()
            assert len(pool) == len(set(pool))
            assert set(pool) == {a for a in addresses if m.provider(a).available}

        def _drain_everything(self):
            """After every deadline, each open task has an exit someone can take; then all pull out."""
            m = p.deployer
            p.chain.advance_time(10_000)
            for task_id in range(1, m.task_count() + 1):
                t = m.task(task_id)
                if m.escrow_of(task_id) == 0:
                    continue
                if t.state is TaskState.FAILED or (t.state is TaskState.APPEALED and t.validator):
                    m.settle(task_id).send()
                else:
                    m.refund(task_id).send()
                assert m.escrow_of(task_id) == 0, (task_id, t.state)
            for name in NAMES:
                c = self._client(name)
                if m.credits(c.account.address):
                    c.withdraw().send()
                info = m.provider(c.account.address)
                assert info.locked == 0
                if info.stake:
                    c.withdraw_stake(info.stake).send()
            assert m.contract_balance() == 0

    def _by_address(address):
        for name in NAMES:
            if p.as_(name).account.address == address:
                return p.as_(name).account
        raise AssertionError(address)

    return MarketMachine


@pytest.fixture(scope="module")
def own_anvil_parties():
    """A market on an anvil of its own: the exploration (derandomized) then sees the same chain
    whatever other tests ran before it, in whichever worker process."""
    with Devnet() as node:
        yield _setup(connect(node.url))


def test_random_call_sequences_keep_the_books_balanced(own_anvil_parties):
    parties = own_anvil_parties
    machine = make_machine(parties)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=5,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        ),
    )
    assert account("requester").address == parties.requester.account.address
    assert {
        TaskState.VALIDATING,
        TaskState.PASSED,
        TaskState.FAILED,
        TaskState.CLOSED,
        TaskState.REJECTED,
        TaskState.EXPIRED,
        TaskState.CANCELLED,
    } <= SEEN, SEEN
