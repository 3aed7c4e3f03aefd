"""Issue 14: a requester that dies mid-task loses nothing — `ichain task resume ID` hosts the
task's files again, follows the task and fetches the result; a market seen through a read
replica that lags behind the head still finishes its task, run and committed once (real processes on
anvil + Docker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from market_helpers import quick_task

from ichain_tui.agents.localnet import PASSWORD
from ichain_tui.chain.types import TaskState, ValidatorMode
from ichain_tui.chain.wallet import Wallet


def _requester_env(m, home, key):
    Wallet(home / "data" / "keystores").import_private_key(key, PASSWORD)
    return {
        **os.environ,
        "ICHAIN_HOME": str(home),
        "ICHAIN_PASSWORD": PASSWORD,
        "ICHAIN_NETWORK": m.url,
        "ICHAIN_MARKET": m.address,
        "ICHAIN_CHUNKS": "2",
    }


def _resume(env, task_id: int, out, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ichain_tui.cli", "task", "resume", str(task_id), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_requester_killed_after_creating_a_task_resumes_it_and_gets_the_result(local_market, tmp_path):
    m = local_market
    m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
    env = _requester_env(m, tmp_path / "requester", m.keys[5])
    folder = quick_task(tmp_path / "task")
    submit = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ichain_tui.cli",
            "task",
            "submit",
            str(folder),
            "--out",
            str(tmp_path / "lost"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    task_id = None
    deadline = time.monotonic() + 120
    for line in submit.stdout:  # killed the moment the escrow is on chain: its chunk server dies with it
        if " created: " in line:
            task_id = int(line.split("task ", 1)[1].split()[0])
            submit.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, line
    submit.wait(30)
    assert task_id is not None
    assert m.market.task(task_id).state is TaskState.ASSIGNED
    out = tmp_path / "resumed"
    result = _resume(env, task_id, out, 300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"task {task_id}: Closed" in result.stdout
    assert (out / "answer.json").exists()
    assert m.market.task(task_id).rated
    # resumed again, finished and fetched, into another folder: at once, from the fetched copy
    again = tmp_path / "again"
    started = time.monotonic()
    result = _resume(env, task_id, again, 60)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert (again / "answer.json").read_text() == (out / "answer.json").read_text()
    assert f"result copied from {out}" in result.stdout and took < 15, (took, result.stdout)


def test_a_requester_that_dies_between_sending_create_task_and_recording_it_keeps_the_keys(
    local_market, tmp_path
):
    """The task's keys are on disk before createTask is sent: a requester that dies before it
    hears the id (here: the record step fails as a crash would) resumes the task from them."""
    m = local_market
    m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(7)
    provider = m.providers[0].account.address

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between the transaction and its record")

    requester.journal.adopt = crash
    with pytest.raises(KeyboardInterrupt):
        requester.submit(quick_task(tmp_path / "task"), provider, 10**16, validator_fee=10**15)
    task_id = m.market.task_count()
    assert m.market.task(task_id).requester == requester.me
    fresh = m.requester(7)  # a new process: only what is on disk
    assert fresh.has_keys(task_id)
    fresh.resume_hosting(task_id)
    outcome = fresh.follow(task_id, tmp_path / "result")
    assert outcome.ok, outcome
    assert (tmp_path / "result" / "answer.json").exists()


def test_five_submits_at_once_all_get_a_task(local_market, tmp_path):
    """Five requesters race for the next task id; each one's envelope is bound again to the next id
    until it gets one: nobody is told to send again."""
    m = local_market
    m.provider(1, slots=5).start()
    m.wait_registered(1)
    provider = m.providers[0].account.address
    created: dict[int, int] = {}
    errors: list[BaseException] = []

    def submit(index: int) -> None:
        try:
            created[index] = m.requester(index).submit(
                quick_task(tmp_path / f"t{index}"), provider, 10**16, mode=ValidatorMode.NONE
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(5, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(created.values()) == list(range(1, 6))


def test_resume_refuses_a_task_this_machine_did_not_submit(local_market, tmp_path):
    m = local_market
    env = _requester_env(m, tmp_path / "someone", m.keys[6])
    result = subprocess.run(
        [sys.executable, "-m", "ichain_tui.cli", "task", "resume", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr, result.stderr


def test_tasks_finish_once_through_a_lagging_read_replica(tmp_path, sandbox):
    """Every party reads through a replica 2 blocks behind (head, state, receipts and logs): stale
    reads must not make anyone act twice or give up."""
    from eth_account import Account
    from market_helpers import LocalMarket
    from rpc_proxy import JsonRpcProxy

    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.requester import RequesterAgent
    from ichain_tui.chain.client import MarketClient
    from ichain_tui.chain.devnet import Devnet
    from ichain_tui.chain.network import connect
    from ichain_tui.chain.txjournal import TxJournal

    with Devnet(accounts=8, block_time=1) as devnet:
        m = LocalMarket(devnet, tmp_path)
        proxy = JsonRpcProxy(devnet.url)
        proxy.lag = 2
        m.url = proxy.url  # the providers' node is the lagging one
        _wait_until_the_replica_has(proxy, m.market.chain.block_number())  # the deployment, long before use
        host = Host()
        try:
            p1 = m.provider(1).start()
            m.provider(2).start()
            m.wait_registered(2)
            _wait_until_the_replica_has(proxy, m.market.chain.block_number())  # and the registrations
            chain = connect(proxy.url)
            chain.tx_journal = TxJournal(tmp_path / "requester-tx")
            requester = RequesterAgent(
                MarketClient(chain, m.address, Account.from_key(m.keys[5])),
                host,
                tmp_path / "requester",
                chunks=2,
            )
            for index in range(1):
                task_id = requester.submit(
                    quick_task(tmp_path / f"task-{index}"),
                    p1.account.address,
                    2 * 10**16,
                    validator_fee=2 * 10**15,
                    execute_window=300,
                    review_window=300,
                )
                outcome = requester.follow(task_id, tmp_path / f"result-{index}")
                assert outcome.ok, outcome
                assert m.market.task(task_id).rated
                log = p1.log()
                assert log.count(f"task {task_id} executing") == 1, log[-3000:]
                assert log.count(f"task {task_id} submitted") == 1, log[-3000:]
            assert "Traceback" not in p1.log()
        finally:
            for p in m.providers:  # the test is over: no graceful goodbye through a lagging node
                if p.proc is not None:
                    p.proc.kill()
            host.stop()
            proxy.close()
            m.close()


def _wait_until_the_replica_has(proxy, block: int) -> None:
    from ichain_tui.chain.network import connect

    replica = connect(proxy.url)
    deadline = time.monotonic() + 30
    while replica.block_number() < block:
        assert time.monotonic() < deadline, "the replica never caught up"
        time.sleep(0.2)


def test_a_paid_result_is_still_served_to_a_requester_away_for_days(local_market, tmp_path):
    """Issue 21 ("paid, then lost"): the provider is paid at once (no validator) while its
    requester is away; three days later (laptop closed, a full disk) the result is still served,
    fetched, verified and decrypted. A provider keeps a paid, unrated result for its retention
    period (30 days by default, never under 7), not one review window."""
    m = local_market
    p1 = m.provider(1).start()
    m.wait_registered(1)
    requester = m.requester(5)
    task_id = requester.submit(
        quick_task(tmp_path / "t"), p1.account.address, 10**16, mode=ValidatorMode.NONE, review_window=120
    )
    p1.wait_log("claimed")
    assert m.market.task(task_id).state.provider_paid
    time.sleep(3)  # the provider's passes see it paid
    m.chain.advance_time(3 * 86400)
    time.sleep(3)  # ... and three days later
    assert "closed" not in p1.log()
    stop = threading.Event()
    threading.Timer(90, stop.set).start()
    outcome = requester.follow(task_id, tmp_path / "result", rating=5, stop=stop)
    stop.set()
    assert outcome.ok, outcome
    assert (tmp_path / "result" / "answer.json").exists()


def test_the_validator_serves_a_paid_result_its_provider_no_longer_serves(local_market, tmp_path):
    """Issue 21: a result nobody serves must not be the requester's loss alone. The drawn validator
    fetched the result to check it; after its pass it keeps the encrypted chunks and tells the
    requester (an envelope only the requester opens) where it serves them. The provider then
    vanishes; the requester, back later, fetches the same bytes (same root, same key) from the
    validator, verifies and decrypts them."""
    m = local_market
    p1, p2 = m.provider(1).start(), m.provider(2).start()
    m.wait_registered(2)
    events = []
    requester = m.requester(5, report=events.append)
    task_id = requester.submit(
        quick_task(tmp_path / "t"), p1.account.address, 10**16, validator_fee=10**15, review_window=120
    )
    p2.wait_log("second source")
    assert m.market.task(task_id).state is TaskState.PASSED
    assert m.market.task(task_id).validator == p2.account.address
    p1.kill()  # the paid provider is gone, and its chunk server with it
    stop = threading.Event()
    threading.Timer(120, stop.set).start()
    outcome = requester.follow(task_id, tmp_path / "result", rating=5, stop=stop)
    stop.set()
    assert outcome.ok, outcome
    assert (tmp_path / "result" / "answer.json").exists()
    fetching = [e.message for e in events if e.kind == "fetching"]
    assert any("second source" in message for message in fetching), fetching


def test_a_draw_its_provider_leaves_pending_is_made_by_the_requester(local_market, sandbox, tmp_path):
    """A provider that commits and then leaves the validator draw pending (waiting for its seed to
    fall out of `blockhash` reach, for another roll) does not get to wait: after 5 blocks the
    requester's agent makes the draw, the provider's agent seals the references to whoever it
    picked, and the task completes."""
    from market_helpers import in_process_provider

    from ichain_tui.agents.provider import ProviderAgent

    class Stalling(ProviderAgent):
        def _draw(self, task):
            return None

    m = local_market
    validator = m.provider(2).start()
    m.wait_registered(1)
    stalling, stop = in_process_provider(m, 1, sandbox, tmp_path, agent_class=Stalling)
    requester = m.requester(5)
    task_id = requester.submit(
        quick_task(tmp_path / "t"), stalling.me, 10**16, validator_fee=10**15, review_window=120
    )
    try:
        deadline = time.monotonic() + 90
        while not m.market.task(task_id).draw_pending:
            assert time.monotonic() < deadline, m.market.task(task_id)
            time.sleep(0.2)
        m.chain.w3.provider.make_request("anvil_mine", [hex(6)])
        stopper = threading.Event()
        threading.Timer(120, stopper.set).start()
        outcome = requester.follow(task_id, tmp_path / "result", rating=5, stop=stopper)
        stopper.set()
    finally:
        stop.set()
    assert outcome.ok, outcome
    assert m.market.task(task_id).validator == validator.account.address
