"""The market end to end: headless providers as separate processes, requesters as agents, a real
anvil, the real Docker engine and direct transport on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import ichain
from market_helpers import LocalMarket, in_process_provider, quick_task
from sandbox_helpers import labels_of, sandbox_containers

from ichain_tui.agents.factory import open_host
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.errors import ContractRevert
from ichain_tui.chain.types import TaskState
from ichain_tui.config import Settings
from ichain_tui.hardware import HardwareProfile

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tasks"
PAY = 2 * 10**16
FEE = PAY // 10  # the market's least validator fee (minFeeBps 1,000)


def test_demo_headless_prints_result_ok():
    result = ichain("demo", "--headless", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "RESULT ok"
    assert any("(random)" in line and "created" in line for line in lines)
    assert any("rated: rated the provider 5/5" in line for line in lines)


class _TamperingSandbox:
    """The real sandbox, but execute() inflates the claimed accuracy and, for a liar that skips
    its own check, check() always says yes; for a hostile validator check() always says no."""

    def __new__(cls, liar: bool = False, hostile_checker: bool = False):
        from dataclasses import replace

        from ichain_tui.sandbox import engine
        from ichain_tui.sandbox.runner import Sandbox

        class Tampering(Sandbox):
            def execute(self, spec, out_dir, **kw):
                result = super().execute(spec, out_dir, **kw)
                if liar:
                    metrics = json.loads((out_dir / "metrics.json").read_text())
                    metrics["accuracy"] = 0.999
                    (out_dir / "metrics.json").write_text(json.dumps(metrics))
                return result

            def check(self, spec, result_dir, **kw):
                result = super().check(spec, result_dir, **kw)
                if liar:
                    return replace(result, exit_code=0)
                if hostile_checker:
                    return replace(result, exit_code=1)
                return result

        return Tampering(engine.client(), "ichain-runtime:bookworm", gpus=[])


def _wait_state(m, task_id, states, timeout=240):
    deadline = time.monotonic() + timeout
    while m.market.task(task_id).state not in states:
        assert time.monotonic() < deadline, m.market.task(task_id)
        time.sleep(0.2)


def test_full_task_with_a_pass_pays_provider_and_drawn_validator(local_market, tmp_path):
    m = local_market
    p1, p2 = m.provider(1).start(), m.provider(2).start()
    m.wait_registered(2)
    stakes = {p.account.address: m.market.provider(p.account.address).stake for p in (p1, p2)}
    requester = m.requester(5)
    task_id = requester.submit(
        EXAMPLES / "mlp-numpy",
        p1.account.address,
        PAY,
        validator_fee=FEE,
        execute_window=300,
        review_window=300,
    )
    assert m.market.task(task_id).validator is None  # drawn when the result is committed
    outcome = requester.follow(task_id, tmp_path / "result", rating=4)
    assert outcome.ok, outcome
    assert m.market.task(task_id).validator == p2.account.address  # the only eligible party of the pool
    assert json.loads((tmp_path / "result" / "metrics.json").read_text())["accuracy"] > 0.9
    t = m.market.task(task_id)
    assert t.state is TaskState.CLOSED and t.rated
    assert m.market.provider(p1.account.address).stake == stakes[p1.account.address] + PAY
    assert m.market.provider(p2.account.address).stake == stakes[p2.account.address] + FEE
    r = m.market.rating(p1.account.address)
    assert (r.validated, r.passes, r.count, r.rated_weight) == (1, 1, 1, PAY)
    assert "my own check" not in p1.log()  # its pre-check passed


def test_lying_provider_fails_validation_refund_and_slash(local_market, tmp_path):
    """The provider below tampers with its result and skips its own check; the validator (a
    separate headless process) runs `check` and fails it; no appeal; after the appeal window the
    requester is refunded and the provider's lock is slashed. The requester never gets the key."""
    m = local_market
    validator = m.provider(2).start()
    m.wait_registered(1)
    liar, stop = in_process_provider(m, 1, _TamperingSandbox(liar=True), tmp_path, appeal=False)
    stake_before = m.market.provider(liar.me).stake
    requester = m.requester(5)
    task_id = requester.submit(
        EXAMPLES / "digits", liar.me, PAY, validator_fee=FEE, execute_window=300, review_window=300
    )
    try:
        _wait_state(m, task_id, {TaskState.FAILED})
    finally:
        stop.set()
    validator.wait_log("verdict: FAIL")
    m.chain.advance_time(301)
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.state is TaskState.REJECTED and not outcome.ok
    assert m.market.provider(liar.me).stake == stake_before - m.market.lock_for(PAY)
    assert not m.market.events("KeyReleased", 0, {"taskId": task_id})
    assert m.market.credits(requester.me) == 0  # refund withdrawn
    with pytest.raises(ContractRevert, match="Rejected"):
        requester.market.rate(task_id, 1).send()


def test_wrong_fail_is_appealed_and_overturned(local_market, tmp_path):
    """A validator the requester named fails an honest result; the provider (whose own check
    passed) appeals; a drawn validator passes it; the provider is paid, the first validator slashed."""
    m = local_market
    p1, p3 = m.provider(1).start(), m.provider(3).start()
    m.wait_registered(2)
    hostile, stop = in_process_provider(m, 2, _TamperingSandbox(hostile_checker=True), tmp_path)
    hostile_stake = m.market.provider(hostile.me).stake
    requester = m.requester(5)
    try:
        task_id = requester.submit(
            quick_task(tmp_path / "t"),
            p1.account.address,
            PAY,
            validator=hostile.me,
            validator_fee=FEE,
            execute_window=300,
            review_window=300,
        )
        outcome = requester.follow(task_id, tmp_path / "result")
    finally:
        stop.set()
    assert outcome.ok, outcome
    t = m.market.task(task_id)
    assert t.first_validator == hostile.me and t.validator == p3.account.address
    assert m.market.provider(hostile.me).stake == hostile_stake + FEE - m.market.lock_for(PAY)
    assert "appealed" in p1.log() and "verdict: PASS" in p3.log()
    assert json.loads((tmp_path / "result" / "answer.json").read_text())["value"] == 332833500


def test_a_copied_envelope_does_not_make_a_provider_run_someone_elses_task(local_market, tmp_path):
    """Issue 9's replay: Y copies X's provider envelope and task root into a task of its own. The
    envelope is bound to X's task id and address: it does not open, and the provider declines."""
    m = local_market
    p1 = m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
    x = m.requester(5)
    x_task = x.submit(
        quick_task(tmp_path / "private"),
        p1.account.address,
        PAY,
        validator_fee=FEE,
        execute_window=300,
        review_window=300,
    )
    created = m.market.events("TaskCreated", 0, {"taskId": x_task})[0].args
    envelope = m.market.events("ProviderAssigned", 0, {"taskId": x_task})[0].args["envelope"]
    y = m.requester(6)
    from ichain_tui.chain.wallet import public_key

    tx = y.market.create_task(
        provider=p1.account.address,
        payment=PAY,
        validator_fee=FEE,
        task_root=bytes(created["taskRoot"]),
        requester_key=public_key(y.market.account),
        execute_window=300,
        review_window=300,
        provider_envelope=bytes(envelope),
    ).send()
    y_task = y.market.task_id_of(tx)
    _wait_state(m, y_task, {TaskState.CANCELLED})
    p1.wait_log("no envelope for me", timeout=30)
    assert x.follow(x_task, tmp_path / "x-result").ok

    # A task root the provider already executed is refused even with a valid envelope.
    from ichain_tui.agents import envelopes as env
    from ichain_tui.transfer.locator import FileRef

    record = x.journal.get(x_task)
    x.resume_hosting(x_task)
    ref = FileRef(record["task_root"], bytes.fromhex(record["task_key"]), "direct", x.host.address)
    expected = x.market.task_count() + 1
    sealed = env.seal_refs(
        x.market, x.market.provider(p1.account.address).public_key, [ref], expected, "provider"
    )
    tx = x.market.create_task(
        provider=p1.account.address,
        payment=PAY,
        validator_fee=FEE,
        task_root=bytes.fromhex(record["task_root"]),
        requester_key=public_key(x.market.account),
        execute_window=300,
        review_window=300,
        provider_envelope=sealed,
        expected_id=expected,
    ).send()
    again = x.market.task_id_of(tx)
    _wait_state(m, again, {TaskState.CANCELLED})
    # the provider logs its decline once the transaction is mined: the chain can show it first
    p1.wait_log(f"already executed for task {x_task}", timeout=30)


def test_silent_validator_cannot_keep_the_provider_from_its_pay(local_market, tmp_path):
    """The drawn validator is registered but never runs. Nobody else can be drawn to replace it;
    at the fixed bound the provider claims by revealing the key, and the requester decrypts."""
    from eth_account import Account

    from ichain_tui.chain.wallet import public_key

    m = local_market
    ghost = m.market.as_account(Account.from_key(m.keys[2]))
    ghost.register_provider(public_key(ghost.account), 10**16, "cpu=1", 5 * 10**17).send()
    p1 = m.provider(1).start()
    m.wait_registered(2)
    requester = m.requester(5)
    task_id = requester.submit(
        quick_task(tmp_path / "t"),
        p1.account.address,
        PAY,
        validator_fee=FEE,
        execute_window=120,
        review_window=120,
    )
    p1.wait_log("submitted")
    p1.wait_log("drawn")
    assert m.market.task(task_id).validator == ghost.account.address  # the only one to draw
    m.chain.advance_time(4 * 120 + 1)  # past the check bound: nobody else can be drawn for it
    outcome = requester.follow(task_id, tmp_path / "result", rating=3)
    assert outcome.ok, outcome
    assert "claimed" in p1.log()
    assert m.market.provider(ghost.account.address).stake == 5 * 10**17 - m.market.lock_for(PAY)
    assert m.market.rating(p1.account.address).count == 0  # not validated: not counted


def test_two_requesters_at_once(local_market, tmp_path):
    m = local_market
    for i in (1, 2, 3):
        m.provider(i).start()
    m.wait_registered(3)
    outcomes = {}

    def run(index):
        requester = m.requester(index)
        provider = m.providers[index - 5].account.address
        task_id = requester.submit(
            quick_task(tmp_path / f"t{index}"),
            provider,
            PAY,
            validator_fee=FEE,
            execute_window=300,
            review_window=300,
        )
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


def test_sigterm_with_two_tasks_running_lets_one_finish_and_hands_the_other_back(local_market, tmp_path):
    """Two slots busy at SIGTERM with `--grace 20`: the task that ends within the grace is
    committed (and paid on its verdict); the one that cannot is handed back with a full refund;
    no sandbox of the provider is left."""
    m = local_market
    p1 = m.provider(1, slots=2).start("--grace", "20")
    m.provider(2).start()
    m.wait_registered(2)
    short, slow = m.requester(5), m.requester(6)
    kw = {"validator_fee": FEE, "execute_window": 300, "review_window": 300}
    slow_id = slow.submit(quick_task(tmp_path / "slow", sleep=120), p1.account.address, PAY, **kw)
    short_id = short.submit(quick_task(tmp_path / "short", sleep=8), p1.account.address, PAY, **kw)
    deadline = time.monotonic() + 60
    while (
        sum(
            1
            for c in sandbox_containers(mine=False)
            if labels_of(c).get("org.ichain.sandbox.pid") == str(p1.proc.pid)
            and labels_of(c).get("org.ichain.sandbox.mode") == "execute"
        )
        < 2
    ):
        assert time.monotonic() < deadline, p1.log()
        time.sleep(0.2)
    assert p1.terminate(timeout=90) == 0
    assert m.market.task(slow_id).state is TaskState.CANCELLED  # handed back: refunded in full
    assert m.market.credits(slow.me) == PAY + FEE
    assert "declined: provider shutting down" in p1.log()
    assert m.market.task(short_id).state is not TaskState.ASSIGNED  # its result was committed
    assert short.follow(short_id, tmp_path / "result").ok
    assert not [
        c
        for c in sandbox_containers(mine=False)
        if labels_of(c).get("org.ichain.sandbox.pid") == str(p1.proc.pid)
    ]


def test_full_task_over_onion_services(tor_network, sandbox, tmp_path):
    """Providers and requester host their files behind onion services of the private Tor network
    and fetch through its SOCKS port, one isolated circuit per chunk."""
    from ichain_tui.transfer.fetcher import Fetcher

    socks = f"127.0.0.1:{tor_network.client.socks_port}"
    with Devnet(accounts=10) as devnet:
        m = LocalMarket(devnet, tmp_path)
        try:
            for i in (1, 2):
                p = m.provider(i)
                p.env.update(
                    {
                        "ICHAIN_TRANSPORT": "tor",
                        "ICHAIN_TOR_CONTROL_PORT": str(tor_network.service.control_port),
                        "ICHAIN_TOR_SOCKS": socks,
                    }
                )
                p.start()
            m.wait_registered(2)
            requester = m.requester(5)
            requester.host.stop()
            # the requester's host over Tor, built as the TUI and the commands build theirs
            tor_settings = Settings(
                transport="tor", tor_control_port=tor_network.service.control_port, tor_socks=socks
            )
            requester.host = open_host(tor_settings, requester.me)
            assert requester.host.address.endswith(".onion:80"), requester.host.address
            m.hosts.append(requester.host)
            requester.fetcher = Fetcher(socks=requester.host.transport.socks)
            task_id = requester.submit(
                quick_task(tmp_path / "t"),
                m.providers[0].account.address,
                PAY,
                validator_fee=FEE,
                execute_window=300,
                review_window=300,
            )
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
    m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(5)
    folder = quick_task(tmp_path / "t")
    (folder / "escape").symlink_to("/etc/passwd")
    balance = m.chain.balance(requester.me)
    with pytest.raises(TransferError, match="symbolic link"):
        requester.submit(folder, p1.account.address, PAY, validator_fee=FEE)
    assert m.market.task_count() == 0
    assert m.chain.balance(requester.me) == balance


def test_a_provider_that_declines_named_validators_costs_the_requester_nothing(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1)
    p1.env["ICHAIN_NAMED_VALIDATORS"] = "decline"
    p1.start()
    p2 = m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(5)
    task_id = requester.submit(
        quick_task(tmp_path / "t"),
        p1.account.address,
        PAY,
        validator=p2.account.address,
        validator_fee=FEE,
        execute_window=300,
        review_window=300,
    )
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.state is TaskState.CANCELLED
    assert "accepts only drawn validators" in p1.log()
    assert m.market.provider(p1.account.address).locked == 0 == m.market.provider(p2.account.address).locked


def test_a_provider_withholding_the_validators_envelope_is_failed_not_paid(local_market, tmp_path):
    """A provider that commits but never gives the validator the references must not make an honest
    validator look silent (forfeiting its stake to the provider) and then claim unvalidated: the
    validator fails the result before its deadline."""
    from ichain_tui.agents.provider import ProviderAgent
    from ichain_tui.sandbox import engine
    from ichain_tui.sandbox.runner import Sandbox

    class Withholding(ProviderAgent):
        def _validator_envelope(self, task, validator):
            return b""

        def _send_envelope(self, task):
            return None

    m = local_market
    validator = m.provider(2).start()
    m.wait_registered(1)
    from eth_account import Account

    from ichain_tui.agents.hosting import Host

    market = m.market.as_account(Account.from_key(m.keys[1]))
    host = Host()
    m.hosts.append(host)
    liar = Withholding(
        market,
        Sandbox(engine.client(), "ichain-runtime:bookworm", gpus=[]),
        host,
        tmp_path / "liar",
        rate=10**16,
        stake=5 * 10**17,
        hardware=HardwareProfile(cpus=1),
        appeal=False,
    )
    liar.start_providing()
    stop = threading.Event()
    threading.Thread(target=liar.run, args=(stop,), daemon=True).start()
    validator_stake = m.market.provider(validator.account.address).stake
    requester = m.requester(5)
    task_id = requester.submit(
        quick_task(tmp_path / "t"), liar.me, PAY, validator_fee=FEE, execute_window=300, review_window=120
    )
    try:
        _wait_state(m, task_id, {TaskState.VALIDATING})
        deadline = time.monotonic() + 60
        while m.market.task(task_id).validator is None:  # drawn in the provider's next transaction
            assert time.monotonic() < deadline, m.market.task(task_id)
            time.sleep(0.2)
        m.chain.advance_time(100)  # into the last quarter of the verdict window
        _wait_state(m, task_id, {TaskState.FAILED}, timeout=60)
    finally:
        stop.set()
    validator.wait_log("no envelope from the provider", timeout=30)  # printed once the verdict is mined
    assert m.market.provider(validator.account.address).stake == validator_stake + FEE
