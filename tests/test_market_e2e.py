"""The market end to end: headless providers as separate processes, requesters as agents, a real
anvil, the real Docker engine and direct transport on 127.0.0.1."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import ichain
from market_helpers import LocalMarket, quick_task
from sandbox_helpers import runtime_sandbox, sandbox_containers

from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.errors import ContractRevert
from ichain_tui.chain.types import TaskState

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


def _in_process_provider(m, key_index, sandbox, tmp_path, **kw):
    """A provider agent in this process (to give it a tampering sandbox or a policy)."""
    from eth_account import Account

    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.provider import ProviderAgent

    market = m.market.as_account(Account.from_key(m.keys[key_index]))
    host = Host("direct")
    m.hosts.append(host)
    agent = ProviderAgent(market, sandbox, host, tmp_path / f"agent-{key_index}", price=10**16, stake=5 * 10**17,
                          hardware="cpu=1", **kw)
    agent.start_providing()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    return agent, stop


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
    task_id = requester.submit(EXAMPLES / "mlp-numpy", p1.account.address, PAY, validator_fee=FEE,
                               execute_window=300, review_window=300)
    assert m.market.task(task_id).validator == p2.account.address  # the only eligible party of the pool
    outcome = requester.follow(task_id, tmp_path / "result", rating=4)
    assert outcome.ok, outcome
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
    liar, stop = _in_process_provider(m, 1, _TamperingSandbox(liar=True), tmp_path, appeal=False)
    stake_before = m.market.provider(liar.me).stake
    requester = m.requester(5)
    task_id = requester.submit(EXAMPLES / "digits", liar.me, PAY, validator_fee=FEE,
                               execute_window=300, review_window=300)
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
    hostile, stop = _in_process_provider(m, 2, _TamperingSandbox(hostile_checker=True), tmp_path)
    hostile_stake = m.market.provider(hostile.me).stake
    requester = m.requester(5)
    try:
        task_id = requester.submit(quick_task(tmp_path / "t"), p1.account.address, PAY, validator=hostile.me,
                                   validator_fee=FEE, execute_window=300, review_window=300)
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
    x_task = x.submit(quick_task(tmp_path / "private"), p1.account.address, PAY, validator_fee=FEE,
                      execute_window=300, review_window=300)
    created = m.market.events("TaskCreated", 0, {"taskId": x_task})[0].args
    envelope = m.market.events("ProviderAssigned", 0, {"taskId": x_task})[0].args["envelope"]
    y = m.requester(6)
    from ichain_tui.chain.wallet import public_key

    tx = y.market.create_task(provider=p1.account.address, payment=PAY, validator_fee=FEE,
                              task_root=bytes(created["taskRoot"]), requester_key=public_key(y.market.account),
                              execute_window=300, review_window=300, provider_envelope=bytes(envelope)).send()
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
    sealed = env.seal_refs(x.market, x.market.provider(p1.account.address).public_key, [ref], expected, "provider")
    tx = x.market.create_task(provider=p1.account.address, payment=PAY, validator_fee=FEE,
                              task_root=bytes.fromhex(record["task_root"]), requester_key=public_key(x.market.account),
                              execute_window=300, review_window=300, provider_envelope=sealed,
                              expected_id=expected).send()
    again = x.market.task_id_of(tx)
    _wait_state(m, again, {TaskState.CANCELLED})
    assert f"already executed for task {x_task}" in p1.log()


def test_provider_killed_mid_execution_deadline_refund(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
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
    assert m.market.provider(m.market.task(task_id).validator).locked == 0


def test_provider_restarted_mid_task_resumes_and_completes(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
    stake = m.market.provider(p1.account.address).stake
    requester = m.requester(5)
    task_id = requester.submit(quick_task(tmp_path / "t", sleep=3), p1.account.address, PAY, validator_fee=FEE,
                               execute_window=300, review_window=300)
    p1.wait_log("executing")
    p1.kill()
    p1.start()  # same home: same keystore and journal
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.ok, outcome
    assert json.loads((tmp_path / "result" / "answer.json").read_text())["value"] == 332833500
    assert m.market.provider(p1.account.address).stake == stake + PAY
    assert p1.log().count("submitted") == 1
    assert not [c for c in sandbox_containers() if c.labels.get("org.ichain.sandbox.pid") == str(p1.proc.pid)]


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
    task_id = requester.submit(quick_task(tmp_path / "t"), p1.account.address, PAY, validator_fee=FEE,
                               execute_window=120, review_window=120)
    assert m.market.task(task_id).validator == ghost.account.address
    p1.wait_log("submitted")
    m.chain.advance_time(2 * 120 + 1)
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
    m.provider(2).start()
    m.wait_registered(2)
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
    task_id = requester.submit(quick_task(tmp_path / "t"), p1.account.address, PAY, validator=p2.account.address,
                               validator_fee=FEE, execute_window=300, review_window=300)
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.state is TaskState.CANCELLED
    assert "accepts only drawn validators" in p1.log()
    assert m.market.provider(p1.account.address).locked == 0 == m.market.provider(p2.account.address).locked


def test_a_task_that_raises_something_unexpected_only_fails_itself(local_market, tmp_path):
    """Issue 10 (in part): an unexpected exception while handling one task quarantines that task
    (handed back, full refund) and the provider goes on serving the next one."""
    from ichain_tui.sandbox import engine
    from ichain_tui.sandbox.runner import Sandbox

    class Fragile(Sandbox):
        def execute(self, spec, out_dir, **kw):
            if (spec.folder / "boom").exists():
                raise RecursionError("maximum recursion depth exceeded")
            return super().execute(spec, out_dir, **kw)

    m = local_market
    m.provider(2).start()
    m.wait_registered(1)
    agent, stop = _in_process_provider(m, 1, Fragile(engine.client(), "ichain-runtime:bookworm", gpus=[]), tmp_path)
    requester = m.requester(5)
    try:
        bad = quick_task(tmp_path / "bad")
        (bad / "boom").write_text("x")
        first = requester.submit(bad, agent.me, PAY, validator_fee=FEE, execute_window=300, review_window=300)
        assert requester.follow(first, tmp_path / "r1").state is TaskState.CANCELLED
        second = requester.submit(quick_task(tmp_path / "good"), agent.me, PAY, validator_fee=FEE,
                                  execute_window=300, review_window=300)
        assert requester.follow(second, tmp_path / "r2").ok
    finally:
        stop.set()
    assert "RecursionError" in agent.journal.get(first)["quarantined"]


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
    host = Host("direct")
    m.hosts.append(host)
    liar = Withholding(market, Sandbox(engine.client(), "ichain-runtime:bookworm", gpus=[]), host, tmp_path / "liar",
                       price=10**16, stake=5 * 10**17, hardware="cpu=1", appeal=False)
    liar.start_providing()
    stop = threading.Event()
    threading.Thread(target=liar.run, args=(stop,), daemon=True).start()
    validator_stake = m.market.provider(validator.account.address).stake
    requester = m.requester(5)
    task_id = requester.submit(quick_task(tmp_path / "t"), liar.me, PAY, validator_fee=FEE,
                               execute_window=300, review_window=120)
    try:
        _wait_state(m, task_id, {TaskState.VALIDATING})
        m.chain.advance_time(100)  # into the last quarter of the verdict window
        _wait_state(m, task_id, {TaskState.FAILED}, timeout=60)
    finally:
        stop.set()
    assert "no envelope from the provider" in validator.log()
    assert m.market.provider(validator.account.address).stake == validator_stake + FEE


HOSTILE_TASKS = [
    # (name, ichain.toml text or "FOLDER", task.py body or None, what the requester is told)
    ("date-in-comparator", "[comparator]\nwhen = 1979-05-27T07:32:00Z\n", None, "no dates"),
    ("spec-is-a-folder", "FOLDER", None, "not a regular file"),
    ("200-kb-comparator", "[comparator]\nblob = '" + "x" * 200_000 + "'\n", None, "larger than 65536 bytes"),
    ("nested-toml", "x = " + "[" * 50_000 + "\n", None, "nested more than 32 levels"),
    ("asks-1-tib-memory", "memory_mb = 1048576\n", None, "memory 1048576 MB, this provider allows at most 2048 MB"),
    ("asks-65536-pids", "pids = 65536\n", None, "processes 65536, this provider allows at most"),
    ("asks-7-days", "time_limit = 604800\n", None, "wall time 604800 s, this provider allows at most"),
    ("asks-1-tib-output", "output_mb = 1048576\n", None, "output 1048576 MB, this provider allows at most"),
    ("tagged-image", 'image = "busybox:latest"\n', None, "image 'busybox:latest', this provider allows only"),
    ("result-2100-deep", "", "import os\nos.chdir(os.sys.argv[2])\nfor _ in range(2100):\n"
                             "    os.mkdir('a'); os.chdir('a')\n", "deeper than 64"),
]


def _wait_gone(folder: Path, pattern: str, what: str, timeout: float = 15) -> None:
    """The provider removes a declined task's files just after its decline is mined."""
    deadline = time.monotonic() + timeout
    while any(folder.glob(pattern)):
        assert time.monotonic() < deadline, f"{what}: {pattern} still in {folder}"
        time.sleep(0.1)


class _ServedAs:
    """A sealed file whose chunk server sends `raw` as its manifest (the root stays the real one)."""

    def __init__(self, sealed, raw: bytes) -> None:
        self.manifest = self
        self.root, self.chunks, self.key, self.directory = sealed.root, sealed.manifest.chunks, sealed.key, sealed.directory
        self._raw = raw

    def to_json(self) -> bytes:
        return self._raw

    def chunk_path(self, index):
        return self.directory / f"chunk-{index}.bin"


def _manifest_served_as(transform):
    from ichain_tui.transfer.manifest import seal_folder

    def forge(folder, directory, **kw):
        sealed = seal_folder(folder, directory, **kw)
        return _ServedAs(sealed, transform(sealed.manifest.to_json()))

    return forge


def _archive_with_a_300_character_name(folder, directory, **kw):
    import io
    import tarfile

    from ichain_tui.transfer.manifest import seal_stream

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("task.py", (Path(folder) / "task.py").read_bytes()), ("n" * 300, b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0, io.SEEK_END)
    total = buf.tell()
    import tempfile

    with tempfile.TemporaryFile() as plain:
        plain.write(buf.getvalue())
        return seal_stream(plain, total, directory, key=kw.get("key"))


HOSTILE_PACKAGES = [
    ("manifest-1e400", _manifest_served_as(lambda raw: raw.replace(b'"total_size": ', b'"total_size": 1e400, "x": ')),
     "total_size is not a size"),
    ("manifest-nested", _manifest_served_as(lambda raw: b"[" * 200_000), "nested more than 3 levels"),
    ("manifest-endless", _manifest_served_as(lambda raw: b" " * (2 << 20)), "larger than 1048576 bytes"),
    ("archive-300-character-name", _archive_with_a_300_character_name, "longer than 255 bytes"),
]


def test_hostile_tasks_are_declined_with_a_reason_and_the_provider_serves_the_next(local_market, tmp_path,
                                                                                 monkeypatch):
    """Issue 10: every trigger a hostile requester used to stop a provider with, sent in a row
    to one headless provider with a policy and a corrupt journal: malformed ichain.toml, limits
    above the policy, a tagged image, a result 2,100 folders deep, manifests with 1e400, 200 KB of
    nesting or no end, an archive with a 300-character name. Each is declined before it can cost
    anyone (full refund, the reason on the requester's side, the provider's files removed) and an
    honest task after them completes."""
    from ichain_tui.agents import requester as requester_module

    monkeypatch.setattr(requester_module, "load_task", lambda folder: None)  # a hostile requester skips it
    m = local_market
    provider = m.provider(1)
    provider.env.update(ICHAIN_MAX_MEMORY_MB="2048", ICHAIN_MAX_OUTPUT_MB="4096", ICHAIN_MAX_TIME_S="3600")
    journal = (provider.home / "data" / "journal" / f"provider-{provider.account.address.lower()}"
               / m.market.scope)
    journal.mkdir(parents=True)
    (journal / "task-98.json").write_text("")  # an empty record and a corrupt one: set aside, not fatal
    (journal / "task-99.json").write_text("{not json")
    provider.start()
    m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(5)
    before = m.market.chain.balance(requester.me)
    for name, toml, code, told in HOSTILE_TASKS:
        folder = quick_task(tmp_path / name)
        if code:
            (folder / "task.py").write_text(code)
        if toml == "FOLDER":
            (folder / "ichain.toml").unlink(missing_ok=True)
            (folder / "ichain.toml").mkdir()
            (folder / "ichain.toml" / "x").write_text("x")
        elif toml:
            (folder / "ichain.toml").write_text(toml)
        task_id = requester.submit(folder, provider.account.address, PAY, validator_fee=FEE, execute_window=300,
                                   review_window=300)
        outcome = requester.follow(task_id, tmp_path / f"result-{name}")
        assert outcome.state is TaskState.CANCELLED, (name, outcome)
        assert told in outcome.message, (name, outcome.message)
        assert str(provider.home) not in outcome.message, outcome.message  # no host path goes on chain
        _wait_gone(provider.home / "data" / "work", f"*/{m.market.scope}/task-{task_id}", name)  # files removed
    for name, forge, told in HOSTILE_PACKAGES:  # what a requester's own chunk server may send
        with monkeypatch.context() as patch:
            patch.setattr(requester_module, "seal_folder", forge)
            task_id = requester.submit(quick_task(tmp_path / name), provider.account.address, PAY,
                                       validator_fee=FEE, execute_window=300, review_window=300)
        outcome = requester.follow(task_id, tmp_path / f"result-{name}")
        assert outcome.state is TaskState.CANCELLED and told in outcome.message, (name, outcome.message)
        assert str(provider.home) not in outcome.message, outcome.message
    honest = requester.submit(quick_task(tmp_path / "honest"), provider.account.address, PAY, validator_fee=FEE,
                              execute_window=300, review_window=300)
    assert requester.follow(honest, tmp_path / "honest-result").ok
    log = provider.log()
    assert "Traceback" not in log and provider.proc.poll() is None, log[-2000:]
    spent = before - m.market.chain.balance(requester.me)
    assert spent < PAY + FEE + 10**16  # the declined tasks cost only gas; the honest one its price


def test_a_provider_loop_outlives_an_rpc_outage_and_says_so_once(local_market, tmp_path):
    """The node refuses every connection for a while: the provider's loop keeps running, reports
    the outage once (then only at 2, 4, 8... repeats) and serves a task once the node is back."""
    from eth_account import Account
    from rpc_proxy import SwitchableProxy

    from ichain_tui.agents.events import AgentEvent, Repeats
    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.provider import ProviderAgent
    from ichain_tui.chain.client import MarketClient
    from ichain_tui.chain.network import connect

    m = local_market
    host, port = m.url.removeprefix("http://").split(":")
    proxy = SwitchableProxy(host, int(port))
    events: list[AgentEvent] = []
    chain = connect(proxy.url, patience=3)  # (`rpc_patience_s`: each request retries 3 s, then one error)
    market = MarketClient(chain, m.address, Account.from_key(m.keys[1]))
    agent_host = Host("direct")
    m.hosts.append(agent_host)
    agent = ProviderAgent(market, runtime_sandbox(), agent_host, tmp_path / "agent", price=10**16, stake=5 * 10**17,
                          hardware="cpu=1", report=events.append)
    agent.start_providing()
    m.provider(2).start()
    m.wait_registered(2)
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,), kwargs={"interval": 0.2}, daemon=True)
    loop.start()
    try:
        proxy.take_down()
        deadline = time.monotonic() + 40  # each request retries a refused connection for 3 s first
        while time.monotonic() < deadline and (proxy.refused < 4 or not any(e.kind == "error" for e in events)):
            time.sleep(0.2)
        time.sleep(2)
        assert loop.is_alive()
        errors = [e for e in events if e.kind == "error"]
        kinds = {Repeats._normal(e.message.rsplit(" (", 1)[0]) for e in errors}
        # each kind of failure once, then at its 2nd, 4th, 8th... repeat: never once per pass
        assert 1 <= len(errors) <= len(kinds) * (1 + math.floor(math.log2(max(1, proxy.refused)))), \
            ([(e.kind, e.message) for e in events], proxy.refused)
        assert proxy.refused >= 4 and len(errors) < proxy.refused
        proxy.bring_back()
        requester = m.requester(5)
        task_id = requester.submit(quick_task(tmp_path / "t"), agent.me, PAY, validator_fee=FEE,
                                   execute_window=300, review_window=300)
        assert requester.follow(task_id, tmp_path / "result").ok
    finally:
        stop.set()
        proxy.close()


def test_a_redeployed_market_never_gets_the_old_markets_result_for_its_task_1(local_market, tmp_path):
    """Issue 14 (in part): task ids restart at 1 on a new market. A provider that left market A's
    task 1 open (result committed, journal and folders on disk) then serves market B's task 1
    from the same folders: it must run B's task, not commit A's result (which B's validator would
    fail, slashing an honest provider)."""
    from eth_account import Account

    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.provider import ProviderAgent
    from ichain_tui.chain.wallet import public_key

    a = local_market
    me = Account.from_key(a.keys[1])
    silent = Account.from_key(a.keys[2])  # A's validator never runs: A's task 1 stays open
    a.market.as_account(silent).register_provider(public_key(silent), 10**16, "cpu=1", 5 * 10**17).send()
    work = tmp_path / "provider-work"

    def agent_on(market):
        host = Host("direct")
        a.hosts.append(host)
        agent = ProviderAgent(market.as_account(me), runtime_sandbox(), host, work, price=10**16, stake=5 * 10**17,
                              hardware="cpu=1")
        agent.start_providing()
        return agent

    agent_a = agent_on(a.market)
    first = a.requester(5).submit(quick_task(tmp_path / "a-task"), me.address, PAY, validator_fee=FEE,
                                  execute_window=300, review_window=300)
    deadline = time.monotonic() + 120
    while a.market.task(first).state is not TaskState.VALIDATING:
        assert time.monotonic() < deadline, a.market.task(first)
        agent_a.step()
        time.sleep(0.2)
    assert first == 1

    b = LocalMarket(a.devnet, tmp_path / "b")  # a new deployment on the same chain
    try:
        b.provider(3).start()
        b.wait_registered(1)
        agent_b = agent_on(b.market)
        stop = threading.Event()
        threading.Thread(target=agent_b.run, args=(stop,), daemon=True).start()
        other = quick_task(tmp_path / "b-task")
        (other / "task.py").write_text((other / "task.py").read_text().replace("range(1000)", "range(2000)"))
        task_id = b.requester(6).submit(other, me.address, PAY, validator_fee=FEE, execute_window=300,
                                        review_window=300)
        assert task_id == 1
        outcome = b.requester(6).follow(task_id, tmp_path / "b-result")
        stop.set()
        assert outcome.ok, outcome
        assert json.loads((tmp_path / "b-result" / "answer.json").read_text())["value"] == sum(i * i for i in range(2000))
        assert b.market.provider(me.address).stake == 5 * 10**17 + PAY  # paid, never slashed
    finally:
        b.close()
