"""The market end to end: headless providers as separate processes, requesters as agents, a real
anvil, the real Docker engine and direct transport on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from cli_helpers import ichain
from market_helpers import LocalMarket, quick_task
from sandbox_helpers import sandbox_containers

from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.errors import ContractRevert
from ichain_tui.chain.types import TaskState

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tasks"
PAY = 2 * 10**16
FEE = 10**15


@pytest.fixture
def local_market(tmp_path, sandbox):
    with Devnet(accounts=10) as devnet:
        market = LocalMarket(devnet, tmp_path)
        try:
            yield market
        finally:
            market.close()


def test_demo_headless_prints_result_ok():
    result = ichain("demo", "--headless", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "RESULT ok"
    assert any("validator: named validator" in line for line in lines)
    assert any("finalized: paid the provider" in line for line in lines)


def test_full_task_with_a_pass_pays_provider_and_validator(local_market, tmp_path):
    m = local_market
    p1, p2 = m.provider(1).start(), m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(5)
    task_id = requester.submit(EXAMPLES / "mlp-numpy", p1.account.address, PAY, validator_fee=FEE,
                               execute_window=300, review_window=300)
    outcome = requester.follow(task_id, tmp_path / "result", rating=4)
    assert outcome.ok, outcome
    assert json.loads((tmp_path / "result" / "metrics.json").read_text())["accuracy"] > 0.9
    t = m.market.task(task_id)
    assert t.state is TaskState.CLOSED and t.validator == p2.account.address
    assert m.market.credits(p1.account.address) == PAY
    assert m.market.credits(p2.account.address) == FEE
    assert m.market.rating(p1.account.address).count == 1


def test_lying_provider_fails_validation_refund_and_slash(local_market, tmp_path):
    """The provider below tampers with its result before sealing it; the validator (a separate
    headless process) runs `check`, fails it; the requester is refunded, the stake slashed."""
    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.provider import ProviderAgent
    from ichain_tui.sandbox import engine
    from ichain_tui.sandbox.runner import Sandbox

    m = local_market
    validator = m.provider(2).start()
    m.wait_registered(1)
    liar_market = m.market.as_account(__import__("eth_account").Account.from_key(m.keys[1]))

    class LyingSandbox(Sandbox):
        def execute(self, spec, out_dir, **kw):
            result = super().execute(spec, out_dir, **kw)
            metrics = json.loads((out_dir / "metrics.json").read_text())
            metrics["accuracy"] = 0.999
            (out_dir / "metrics.json").write_text(json.dumps(metrics))
            return result

    host = Host("direct")
    m.hosts.append(host)
    liar = ProviderAgent(liar_market, LyingSandbox(engine.client(), "ichain-runtime:bookworm", gpus=[]), host,
                         tmp_path / "liar", price=10**16, stake=5 * 10**17, hardware="cpu=1")
    liar.start_providing()
    stake_before = m.market.provider(liar_market.account.address).stake
    requester = m.requester(5)
    task_id = requester.submit(EXAMPLES / "digits", liar_market.account.address, PAY, validator_fee=FEE,
                               execute_window=300, review_window=300)
    stop = threading.Event()
    worker = threading.Thread(target=liar.run, args=(stop,), daemon=True)
    worker.start()
    try:
        outcome = requester.follow(task_id, tmp_path / "result")
    finally:
        stop.set()
        worker.join(60)
    assert outcome.state is TaskState.FAILED and not outcome.ok
    assert m.market.task(task_id).validator == validator.account.address
    slashed = m.market.lock_for(PAY)
    assert m.market.provider(liar_market.account.address).stake == stake_before - slashed
    assert m.market.credits(liar_market.account.address) == 0
    assert m.market.credits(validator.account.address) == FEE
    with pytest.raises(ContractRevert, match="Failed"):
        requester.market.finalize_and_rate(task_id, 1).send()
    assert "verdict: FAIL" in validator.log()


def test_provider_killed_mid_execution_deadline_refund(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    m.wait_registered(1)
    requester = m.requester(5)
    balance_before = m.chain.balance(requester.me)
    task_id = requester.submit(quick_task(tmp_path / "slow", sleep=120), p1.account.address, PAY,
                               validator_fee=FEE, execute_window=120, review_window=120)
    p1.wait_log("executing")
    p1.kill()
    m.chain.advance_time(121)
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.state is TaskState.EXPIRED
    assert m.market.credits(requester.me) == 0  # the refund was withdrawn
    spent = balance_before - m.chain.balance(requester.me)
    assert spent < 10**16  # only gas: the whole escrow came back
    assert m.market.provider(p1.account.address).locked == 0


def test_provider_restarted_mid_task_resumes_and_completes(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(5)
    task_id = requester.submit(quick_task(tmp_path / "t", sleep=3), p1.account.address, PAY, validator_fee=FEE,
                               execute_window=300, review_window=300)
    p1.wait_log("executing")
    p1.kill()
    p1.start()  # same home: same keystore and journal
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.ok, outcome
    assert json.loads((tmp_path / "result" / "answer.json").read_text())["value"] == 332833500
    assert m.market.credits(p1.account.address) == PAY
    assert p1.log().count("submitted") == 1
    assert not [c for c in sandbox_containers() if c.labels.get("org.ichain.sandbox.pid") == str(p1.proc.pid)]


def test_requester_that_never_finalises_lets_the_provider_claim(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    m.wait_registered(1)
    requester = m.requester(5)
    task_id = requester.submit(quick_task(tmp_path / "t"), p1.account.address, PAY, validator_fee=FEE,
                               execute_window=120, review_window=120)
    p1.wait_log("submitted")
    assert m.market.task(task_id).state is TaskState.EXECUTED
    m.chain.advance_time(121)
    p1.wait_log("paid")
    assert m.market.task(task_id).state is TaskState.CLOSED
    assert m.market.credits(p1.account.address) == PAY
    assert m.market.credits(requester.me) == FEE  # the unused validator fee


def test_two_requesters_at_once(local_market, tmp_path):
    m = local_market
    for i in (1, 2, 3):
        m.provider(i).start()
    m.wait_registered(3)
    outcomes = {}

    def run(index):
        requester = m.requester(index)
        provider = m.providers[index - 5].account.address
        task_id = requester.submit(quick_task(tmp_path / f"t{index}"), provider, PAY, validator_fee=FEE,
                                   execute_window=300, review_window=300)
        outcomes[index] = requester.follow(task_id, tmp_path / f"result{index}")

    threads = [threading.Thread(target=run, args=(i,)) for i in (5, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert all(o.ok for o in outcomes.values()), outcomes
    assert len(outcomes) == 2


def test_sigterm_while_idle_exits_zero_and_stops_providing(local_market):
    m = local_market
    p1 = m.provider(1).start()
    p1.wait_log("listening")
    assert m.market.provider(p1.account.address).available
    assert p1.terminate(timeout=30) == 0
    assert not m.market.provider(p1.account.address).available
    assert "stopped" in p1.log()


def test_sigterm_while_busy_hands_the_task_back(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start("--grace", "2")
    m.wait_registered(1)
    requester = m.requester(5)
    task_id = requester.submit(quick_task(tmp_path / "slow", sleep=120), p1.account.address, PAY,
                               validator_fee=FEE, execute_window=300, review_window=300)
    p1.wait_log("executing")
    assert p1.terminate(timeout=60) == 0
    t = m.market.task(task_id)
    assert t.state is TaskState.CANCELLED  # handed back: the requester is refunded in full
    assert m.market.credits(requester.me) == PAY + FEE
    assert "declined: provider shutting down" in p1.log()
    assert not [c for c in sandbox_containers() if c.labels.get("org.ichain.sandbox.pid") == str(p1.proc.pid)]


def test_full_task_over_onion_services(tor_network, sandbox, tmp_path):
    """Providers and requester host their files behind onion services of the private Tor network
    and fetch through its SOCKS port, one isolated circuit per chunk."""
    from ichain_tui.agents.hosting import Host
    from ichain_tui.transfer.fetcher import Fetcher

    socks = f"127.0.0.1:{tor_network.client.socks_port}"
    with Devnet(accounts=10) as devnet:
        m = LocalMarket(devnet, tmp_path)
        try:
            for i in (1, 2):
                p = m.provider(i)
                p.env.update({"ICHAIN_TRANSPORT": "tor", "ICHAIN_TOR_CONTROL_PORT": str(tor_network.service.control_port),
                              "ICHAIN_TOR_SOCKS": socks})
                p.start()
            m.wait_registered(2)
            requester = m.requester(5)
            requester.host.stop()
            requester.host = Host("tor", tor=tor_network.service.controller())
            m.hosts.append(requester.host)
            requester.fetcher = Fetcher(socks=socks)
            task_id = requester.submit(quick_task(tmp_path / "t"), m.providers[0].account.address, PAY,
                                       validator_fee=FEE, execute_window=300, review_window=300)
            outcome = requester.follow(task_id, tmp_path / "result")
            assert outcome.ok, outcome
            assert ".onion:80" in m.providers[0].log()
            assert json.loads((tmp_path / "result" / "answer.json").read_text())["value"] == 332833500
        finally:
            m.close()


def test_a_folder_that_fails_to_pack_costs_nothing(local_market, tmp_path):
    from ichain_tui.transfer.errors import TransferError

    m = local_market
    p1 = m.provider(1).start()
    m.wait_registered(1)
    requester = m.requester(5)
    folder = quick_task(tmp_path / "t")
    (folder / "escape").symlink_to("/etc/passwd")
    balance = m.chain.balance(requester.me)
    with pytest.raises(TransferError, match="symbolic link"):
        requester.submit(folder, p1.account.address, PAY, validator_fee=FEE)
    assert m.market.task_count() == 0
    assert m.chain.balance(requester.me) == balance
