"""Hypothesis stateful test: random calls from several accounts never break the balance sheet,
and every task's money can still get out at the end (no wei stranded, none taken twice)."""

from __future__ import annotations

import pytest
from conftest import account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from market_flow import TASK_ROOT

from ichain_tui.chain.errors import ContractRevert
from ichain_tui.chain.types import TaskState
from ichain_tui.chain.wallet import public_key

NAMES = ["requester", "provider", "validator", "validator2", "stranger"]
PROVIDERS = ["provider", "validator", "validator2"]
TASK_IDS = st.integers(1, 6)  # ids that may not exist yet: the contract must refuse those


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

        def teardown(self):
            try:
                self._drain_everything()
            finally:
                p.chain.revert(self.snapshot)

        def _client(self, name):
            return p.as_(name)

        @rule(
            sender=st.sampled_from(NAMES),
            provider=st.sampled_from(PROVIDERS + [None]),
            validator=st.sampled_from(PROVIDERS + [None]),
            payment=st.integers(1, 3 * 10**18),
            fee=st.sampled_from([0, 1, 10**15]),
        )
        def create(self, sender, provider, validator, payment, fee):
            c = self._client(sender)
            call = c.create_task(
                provider=p.as_(provider).account.address if provider else None,
                validator=p.as_(validator).account.address if validator else None,
                payment=payment, validator_fee=fee, task_root=TASK_ROOT,
                requester_key=public_key(c.account), execute_window=60, review_window=120,
            )
            try:
                tx = call.send()
            except ContractRevert:
                return
            self.tasks.append(c.task_id_of(tx))


        @rule(task=TASK_IDS, sender=st.sampled_from(NAMES))
        def submit_result(self, task, sender):
            _attempt(self._client(sender).submit_result(task, b"\x07" * 32, b"r"))

        @rule(task=TASK_IDS, sender=st.sampled_from(NAMES), validator=st.sampled_from(NAMES))
        def assign_validator(self, task, sender, validator):
            _attempt(self._client(sender).assign_validator(task, p.as_(validator).account.address, b"v"))

        @rule(task=TASK_IDS, sender=st.sampled_from(NAMES), provider=st.sampled_from(NAMES))
        def assign_provider(self, task, sender, provider):
            _attempt(self._client(sender).assign_provider(task, p.as_(provider).account.address, b"p"))

        @rule(task=TASK_IDS, sender=st.sampled_from(NAMES), passed=st.booleans())
        def verdict(self, task, sender, passed):
            _attempt(self._client(sender).submit_verdict(task, passed))

        @rule(task=TASK_IDS, sender=st.sampled_from(NAMES), rating=st.integers(0, 7))
        def finalize(self, task, sender, rating):
            _attempt(self._client(sender).finalize_and_rate(task, rating))

        @rule(task=TASK_IDS, sender=st.sampled_from(NAMES),
              action=st.sampled_from(["refund", "claim_payment", "cancel_task", "decline_task"]))
        def exit_path(self, task, sender, action):
            _attempt(getattr(self._client(sender), action)(task))

        # The same steps taken by the party the task names, so that most of them succeed.
        def _party(self, task, role):
            address = getattr(p.deployer.task(task), role)
            if not address or int(address, 16) == 0:
                return None
            return p.deployer.as_account(_by_address(address))

        @rule(task=TASK_IDS, action=st.sampled_from(["submit", "verdict_pass", "verdict_fail", "claim"]))
        def named_party_acts(self, task, action):
            if action == "submit":
                party = self._party(task, "provider")
                call = party and party.submit_result(task, b"\x08" * 32, b"r")
            elif action == "claim":
                party = self._party(task, "provider")
                call = party and party.claim_payment(task)
            else:
                party = self._party(task, "validator")
                call = party and party.submit_verdict(task, action == "verdict_pass")
            if call:
                _attempt(call)

        @rule(task=TASK_IDS, rating=st.integers(1, 5), validator=st.sampled_from(PROVIDERS),
              action=st.sampled_from(["finalize", "refund", "assign_validator", "cancel"]))
        def requester_acts(self, task, rating, validator, action):
            party = self._party(task, "requester")
            if party is None:
                return
            if action == "finalize":
                _attempt(party.finalize_and_rate(task, rating))
            elif action == "refund":
                _attempt(party.refund(task))
            elif action == "cancel":
                _attempt(party.cancel_task(task))
            else:
                _attempt(party.assign_validator(task, p.as_(validator).account.address, b"v"))

        @rule(sender=st.sampled_from(NAMES))
        def withdraw(self, sender):
            _attempt(self._client(sender).withdraw())

        @rule(sender=st.sampled_from(PROVIDERS), amount=st.integers(1, 2 * 10**18))
        def withdraw_stake(self, sender, amount):
            _attempt(self._client(sender).withdraw_stake(amount))

        @rule(sender=st.sampled_from(NAMES), amount=st.integers(0, 10**18))
        def add_stake(self, sender, amount):
            _attempt(self._client(sender).add_stake(amount))

        @rule(sender=st.sampled_from(PROVIDERS), available=st.booleans(), price=st.integers(0, 10**18))
        def update(self, sender, available, price):
            _attempt(self._client(sender).update_provider(price, available, "hw"))

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

        def _drain_everything(self):
            """After every deadline, each open task has an exit someone can take; then all pull out."""
            m = p.deployer
            p.chain.advance_time(10_000)
            for task_id in range(1, m.task_count() + 1):
                t = m.task(task_id)
                if m.escrow_of(task_id) == 0:
                    continue
                requester = m.as_account(_by_address(t.requester))
                if t.state is TaskState.CREATED:
                    requester.cancel_task(task_id).send()
                elif t.state in (TaskState.ASSIGNED, TaskState.VALIDATING):
                    requester.refund(task_id).send()
                else:
                    m.as_account(_by_address(t.provider)).claim_payment(task_id).send()
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


@pytest.mark.parametrize("backend", ["anvil"])
def test_random_call_sequences_keep_the_books_balanced(request, backend):
    parties = request.getfixturevalue(f"{backend}_parties")
    machine = make_machine(parties)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25, stateful_step_count=25, deadline=None,
            suppress_health_check=list(HealthCheck), derandomize=True, database=None,
        ),
    )
    assert account("requester").address == parties.requester.account.address
