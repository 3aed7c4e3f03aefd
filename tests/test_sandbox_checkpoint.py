"""Checkpoints of long runs: a task keeps them in $ICHAIN_CHECKPOINT (inside its output cap);
the sandbox copies them out while it runs and at the end, a run stopped half way is resumed by
the next one from its last checkpoint with ICHAIN_RESUME=1, the time already spent comes off the
limit, and the checkpoint is not part of the result."""

from __future__ import annotations

import json
import threading

from sandbox_helpers import counting_task

from ichain_tui.sandbox.taskspec import load_task

STEPS = 16


def task_spec(root):
    return load_task(counting_task(root, STEPS, 0.25))


def test_a_stopped_run_is_resumed_from_its_checkpoint(sandbox, tmp_path):
    spec = task_spec(tmp_path / "task")
    checkpoint = tmp_path / "checkpoint"
    saved: list[float] = []
    cancel = threading.Event()
    threading.Timer(2.0, cancel.set).start()
    first = sandbox.execute(
        spec, tmp_path / "out1", checkpoint=checkpoint, on_saved=saved.append, cancel=cancel
    )
    assert first.cancelled
    reached = int((checkpoint / "step").read_text())
    assert 2 <= reached < STEPS and saved and 1.5 < saved[-1] < 10

    second = sandbox.execute(spec, tmp_path / "out2", checkpoint=checkpoint, spent_s=saved[-1])
    assert second.ok, second.reason
    result = json.loads((tmp_path / "out2" / "result.json").read_text())
    assert result == {"resumed_from": reached, "steps": STEPS}
    assert not (tmp_path / "out2" / ".checkpoint").exists()  # not part of the result


def test_time_already_spent_comes_off_the_limit(sandbox, tmp_path):
    spec = task_spec(tmp_path / "task")
    run = sandbox.execute(spec, tmp_path / "out", checkpoint=tmp_path / "checkpoint", spent_s=58.5)
    assert run.timed_out and run.wall_s < 5  # 60 s limit, 58.5 s of it spent before
