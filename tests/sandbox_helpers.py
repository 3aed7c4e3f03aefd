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


def labels_of(container) -> dict:
    """The labels of a container from a sparse list (no inspect: it may be gone meanwhile)."""
    return container.attrs.get("Labels") or {}


def runtime_sandbox():
    """A Sandbox on the local engine with the runtime image, no GPU (for in-process agents)."""
    from ichain_tui.sandbox import engine
    from ichain_tui.sandbox.runner import Sandbox

    return Sandbox(engine.client(), "ichain-runtime:bookworm", gpus=[])
