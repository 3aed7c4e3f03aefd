"""A provider killed mid-run (SIGKILL) and restarted resumes the task from its last checkpoint
instead of from zero: the task sees ICHAIN_RESUME=1 and its checkpoint, the time already spent
counts toward its limit, and the requester gets a checked result."""

from __future__ import annotations

import json
import textwrap
import time

from ichain_tui.chain.types import ValidatorMode

PAY = 10**16
STEPS = 24


def resumable_task(root):
    root.mkdir()
    (root / "task.py").write_text(
        textwrap.dedent(f"""
        import json, os, sys, time
        from pathlib import Path
        mode, out = sys.argv[1], Path(sys.argv[2])
        if mode == "check":
            sys.exit(0 if json.loads((out / "result.json").read_text())["steps"] == {STEPS} else 1)
        ck = Path(os.environ["ICHAIN_CHECKPOINT"])
        start = int((ck / "step").read_text()) if os.environ.get("ICHAIN_RESUME") == "1" else 0
        step = start
        while step < {STEPS}:
            time.sleep(0.5)
            step += 1
            (ck / "step.tmp").write_text(str(step))
            os.replace(ck / "step.tmp", ck / "step")
        (out / "result.json").write_text(json.dumps({{"resumed_from": start, "steps": step}}))
    """)
    )
    (root / "ichain.toml").write_text("time_limit = 120\nmemory_mb = 128\noutput_mb = 4\n")
    return root


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
