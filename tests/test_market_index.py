"""The market index (what the pool viewer shows) against the contract's own views, on eth-tester
and on a real anvil (raw eth_getLogs): every task and provider the same after a whole read, and
a later sync reads only new logs and reports only what they changed."""

from __future__ import annotations

from conftest import ETH
from market_flow import create, submit, to_appealed, to_failed, to_passed

from ichain_tui.chain.market_index import MarketIndex
from ichain_tui.chain.types import TaskState, ValidatorMode
from ichain_tui.hardware import HardwareProfile


def assert_index_matches_contract(p, index: MarketIndex) -> None:
    m = p.deployer
    assert len(index.tasks) == m.task_count()
    for task_id, summary in index.tasks.items():
        task = m.task(task_id)
        assert (
            summary.requester,
            summary.provider,
            summary.validator,
            summary.mode,
            summary.payment,
            summary.validator_fee,
            summary.state,
            summary.deadline,
        ) == (
            task.requester,
            task.provider,
            task.validator,
            task.mode,
            task.payment,
            task.validator_fee,
            task.state,
            task.deadline,
        ), task_id
    assert set(index.providers) >= {p.provider.account.address, p.validator.account.address}
    for address, provider in index.providers.items():
        assert provider == m.provider(address), address
        assert index.rating(address) == m.rating(address), address


def test_a_whole_read_agrees_with_the_contract_on_every_task_provider_and_rating(parties):
    p = parties
    passed = to_passed(p)
    p.requester.rate(passed, 4).send()
    to_failed(p)
    to_appealed(p)
    submit(p, create(p, mode=ValidatorMode.NONE))  # executed: waiting for the key
    declined = create(p)
    p.provider.decline_task(declined, "busy").send()
    create(p)  # assigned
    p.validator2.update_provider(ETH // 20, False, HardwareProfile(32, 128)).send()
    p.validator.add_stake(ETH).send()

    index = MarketIndex(p.deployer)
    changes = index.sync()
    assert changes.reset and changes.block == p.chain.block_number()
    assert_index_matches_contract(p, index)
    states = {t.state for t in index.tasks.values()}
    assert {
        TaskState.CLOSED,
        TaskState.FAILED,
        TaskState.APPEALED,
        TaskState.EXECUTED,
    } <= states  # rated: closed
    assert {TaskState.CANCELLED, TaskState.ASSIGNED} <= states
    assert index.rating(p.provider.account.address).count == 1  # the rating was read


def test_a_later_sync_reads_only_new_logs_and_reports_only_what_they_changed(parties):
    p = parties
    to_passed(p)
    index = MarketIndex(p.deployer)
    index.sync()
    read_before, synced_to = index.logs_read, index.block
    assert not index.sync()  # no new block: nothing changed, nothing read

    task_id = create(p)
    p.validator2.set_available(False).send()
    changes = index.sync()
    assert not changes.reset
    assert changes.tasks == {task_id}
    assert p.validator2.account.address in changes.providers
    assert p.provider.account.address in changes.providers  # its stake got locked
    assert index.logs_read - read_before < 12  # the new transactions' logs, not the history
    assert_index_matches_contract(p, index)

    tasks, providers = index.changed_since(synced_to)
    assert task_id in {t.task_id for t in tasks} and p.validator2.account.address in providers


def test_a_fail_settled_after_its_appeal_window_is_in_the_providers_record(parties):
    """Settling a fail records the verdict in Ratings with no VerdictSubmitted log: the index
    reads the provider's record again on the task's Rejected state."""
    p = parties
    task_id = to_failed(p)
    index = MarketIndex(p.deployer)
    index.sync()  # the fail verdict is read; the settlement comes in a later block
    assert index.rating(p.provider.account.address).fails == 0  # not recorded before settling
    p.chain.advance_time(601)
    p.requester.settle(task_id).send()
    changes = index.sync()
    assert index.tasks[task_id].state is TaskState.REJECTED
    assert p.provider.account.address in changes.providers
    assert index.rating(p.provider.account.address) == p.deployer.rating(p.provider.account.address)
    assert index.rating(p.provider.account.address).fails == 1


def test_a_reverted_development_chain_starts_the_index_over(parties):
    p = parties
    snapshot = p.chain.snapshot()
    task_id = create(p)
    index = MarketIndex(p.deployer)
    index.sync()
    assert task_id in index.tasks
    p.chain.revert(snapshot)
    changes = index.sync()
    assert changes.reset and index.generation == 2
    assert task_id not in index.tasks
