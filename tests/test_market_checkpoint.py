"""A provider that dies mid-run (SIGKILL): left dead, the requester gets everything back after
the deadline; restarted, it resumes the task — from its last checkpoint instead of from zero when
the task keeps one (ICHAIN_RESUME=1, the time already spent counting toward its limit) — and the
requester gets a checked result, committed once."""

from __future__ import annotations

import json
import time

from market_helpers import quick_task
from sandbox_helpers import counting_task, labels_of, sandbox_containers

from ichain_tui.chain.types import TaskState, ValidatorMode

PAY = 2 * 10**16
FEE = PAY // 10  # the market's least validator fee (minFeeBps 1,000)
STEPS = 24


def resumable_task(root):
    return counting_task(root, STEPS, 0.5)


def test_a_provider_killed_mid_run_resumes_each_task_from_its_checkpoint(local_market, tmp_path):
    """Two tasks run at once in two slots; the provider is killed; restarted, each resumes from
    its own last checkpoint and both requesters get checked results."""
    m = local_market
    p1 = m.provider(1, slots=2).start()
    m.wait_registered(1)
    requesters = [m.requester(5), m.requester(6)]
    task_ids = [
        r.submit(resumable_task(tmp_path / f"task-{i}"), p1.account.address, 10**16, mode=ValidatorMode.NONE)
        for i, r in enumerate(requesters)
    ]
    deadline = time.monotonic() + 90
    while len(list(p1.home.rglob("checkpoint/step"))) < 2:  # the first copy out of each running task
        assert time.monotonic() < deadline, p1.log()
        time.sleep(0.2)
    p1.kill()
    saved = {
        int(path.parts[-3].removeprefix("task-")): int(path.read_text())
        for path in p1.home.rglob("checkpoint/step")
    }
    assert sorted(saved) == sorted(task_ids)
    p1.start()  # same home: journal, checkpoint folders
    for i, (r, task_id) in enumerate(zip(requesters, task_ids, strict=True)):
        outcome = r.follow(task_id, tmp_path / f"result-{i}", rating=None)
        assert outcome.ok, outcome
        result = json.loads((tmp_path / f"result-{i}" / "result.json").read_text())
        assert result["steps"] == STEPS and result["resumed_from"] >= saved[task_id] > 0
    assert p1.log().count("s of its limit spent") >= 2


def test_provider_killed_mid_execution_deadline_refund(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    p2 = m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(5)
    balance_before = m.chain.balance(requester.me)
    task_id = requester.submit(
        quick_task(tmp_path / "slow", sleep=120),
        p1.account.address,
        PAY,
        validator_fee=FEE,
        execute_window=120,
        review_window=120,
    )
    p1.wait_log("executing")
    p1.kill()
    m.chain.advance_time(121)
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.state is TaskState.EXPIRED
    assert m.market.credits(requester.me) == 0  # the refund was withdrawn
    spent = balance_before - m.chain.balance(requester.me)
    assert spent < 10**16  # only gas: the whole escrow came back
    assert m.market.provider(p1.account.address).locked == 0
    assert m.market.task(task_id).validator is None  # drawn only for a result: nobody was locked
    assert m.market.provider(p2.account.address).locked == 0


def test_provider_restarted_mid_task_resumes_and_completes(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
    stake = m.market.provider(p1.account.address).stake
    requester = m.requester(5)
    task_id = requester.submit(
        quick_task(tmp_path / "t", sleep=3),
        p1.account.address,
        PAY,
        validator_fee=FEE,
        execute_window=300,
        review_window=300,
    )
    p1.wait_log("executing")
    p1.kill()
    p1.start()  # same home: same keystore and journal
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.ok, outcome
    assert json.loads((tmp_path / "result" / "answer.json").read_text())["value"] == 332833500
    assert m.market.provider(p1.account.address).stake == stake + PAY
    assert p1.log().count("submitted") == 1
    assert not [
        c
        for c in sandbox_containers(mine=False)
        if labels_of(c).get("org.ichain.sandbox.pid") == str(p1.proc.pid)
    ]
