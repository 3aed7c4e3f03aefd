"""Helpers for sandbox tests: the real engine and image, and throwaway task folders."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from ichain_tui.sandbox import engine
from ichain_tui.sandbox.engine import LABEL


def make_task(root: Path, code: str, toml: str = "") -> Path:
    folder = root / "task"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.py").write_text(textwrap.dedent(code))
    if toml:
        (folder / "ichain.toml").write_text(textwrap.dedent(toml))
    return folder


def sandbox_containers(mine: bool = True) -> list:
    """Sandbox containers on the engine; `mine`: only those this test process started (test files
    run in parallel worker processes that share the one engine)."""
    found = engine.client().containers.list(all=True, sparse=True, filters={"label": LABEL})
    if mine:
        found = [c for c in found if labels_of(c).get(f"{LABEL}.pid") == str(os.getpid())]
    return found


def executing_in(pid: int) -> int:
    """Sandbox containers of process `pid` (a headless provider) running an `execute` now."""
    return sum(
        1
        for c in sandbox_containers(mine=False)
        if labels_of(c).get(f"{LABEL}.pid") == str(pid)
        and labels_of(c).get(f"{LABEL}.mode") == "execute"
        and c.attrs.get("State") == "running"
    )


def labels_of(container) -> dict:
    """The labels of a container from a sparse list (no inspect: it may be gone meanwhile)."""
    return container.attrs.get("Labels") or {}


def runtime_sandbox():
    """A Sandbox on the local engine with the runtime image, no GPU (for in-process agents)."""
    from ichain_tui.sandbox import engine
    from ichain_tui.sandbox.runner import Sandbox

    return Sandbox(engine.client(), "ichain-runtime:bookworm", gpus=[])


def counting_task(root: Path, steps: int, pause: float) -> Path:
    """A task that counts to `steps`, one every `pause` seconds, keeping the count as its
    checkpoint (written atomically) and starting from it when resumed; the result says where it
    started. `check` passes when the count is complete."""
    root.mkdir(parents=True)
    (root / "task.py").write_text(
        textwrap.dedent(f"""
        import json, os, sys, time
        from pathlib import Path
        mode, out = sys.argv[1], Path(sys.argv[2])
        if mode == "check":
            sys.exit(0 if json.loads((out / "result.json").read_text())["steps"] == {steps} else 1)
        ck = Path(os.environ["ICHAIN_CHECKPOINT"])
        start = int((ck / "step").read_text()) if os.environ.get("ICHAIN_RESUME") == "1" else 0
        step = start
        while step < {steps}:
            time.sleep({pause})
            step += 1
            (ck / "step.tmp").write_text(str(step))
            os.replace(ck / "step.tmp", ck / "step")  # atomic: a copy never sees half a file
            print("step", step, flush=True)
        (out / "result.json").write_text(json.dumps({{"resumed_from": start, "steps": step}}))
    """)
    )
    (root / "ichain.toml").write_text("time_limit = 60\nmemory_mb = 128\noutput_mb = 4\n")
    return root
