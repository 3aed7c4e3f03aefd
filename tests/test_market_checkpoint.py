"""A provider killed mid-run (SIGKILL) and restarted resumes the task from its last checkpoint
instead of from zero: the task sees ICHAIN_RESUME=1 and its checkpoint, the time already spent
counts toward its limit, and the requester gets a checked result."""

from __future__ import annotations

import json
import time

from sandbox_helpers import counting_task

from ichain_tui.chain.types import ValidatorMode

PAY = 10**16
STEPS = 24


def resumable_task(root):
    return counting_task(root, STEPS, 0.5)


def test_a_provider_killed_mid_run_resumes_from_the_checkpoint(local_market, tmp_path):
    m = local_market
    p1 = m.provider(1).start()
    m.wait_registered(1)
    requester = m.requester(5)
    task_id = requester.submit(
        resumable_task(tmp_path / "task"), p1.account.address, PAY, mode=ValidatorMode.NONE
    )
    p1.wait_log("executing")
    deadline = time.monotonic() + 60
    while not list(p1.home.rglob("checkpoint/step")):  # the first copy out of the running task
        assert time.monotonic() < deadline, p1.log()
        time.sleep(0.2)
    p1.kill()
    saved = int(next(p1.home.rglob("checkpoint/step")).read_text())
    p1.start()  # same home: journal, checkpoint folder
    outcome = requester.follow(task_id, tmp_path / "result", rating=None)
    assert outcome.ok, outcome
    result = json.loads((tmp_path / "result" / "result.json").read_text())
    assert result["steps"] == STEPS and result["resumed_from"] >= saved > 0
    assert "resuming" in p1.log() and "s of its limit spent" in p1.log()
