"""Provides `staged`: the task and result folders of a `check` run laid out under one neutral,
per-task path, so a `check` cannot tell whether the provider (its pre-check) or a validator runs
it: both see the same mount sources in `/proc/self/mountinfo`, never a host path that names a
role, a task id or a user's home.

Files are hard-linked when the folders share a filesystem (no copy of large data), else copied;
the mounts are read-only, so a linked file cannot be changed through them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..process import pid_alive
from .engine import SandboxError

PREFIX = "ichain-run-"
OWNER = ".owner"  # pid of the run using the folder (outside what is mounted into the container)


def stage_name(*parts: object) -> str:
    """A name both roles derive from the same public facts (chain, market, task id, result root)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


def _link_tree(src: Path, dest: Path) -> None:
    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    shutil.copytree(src, dest, symlinks=False, copy_function=link)
    os.chmod(dest, 0o755)


def _claim(root: Path, patience: float = 300.0) -> None:
    """Create `root` for this run. A folder left by a run that died is removed; one of a live
    run (a provider's pre-check and a validator's check of the same task on one machine share the
    name) is waited for, never pulled from under its container."""
    deadline = time.monotonic() + patience
    while True:
        if root.is_symlink():
            raise SandboxError(f"refusing a symlink at {root}")
        try:
            os.mkdir(root, 0o755)
            (root / OWNER).write_text(str(os.getpid()))
            return
        except FileExistsError:
            pass
        if not _owner_alive(root):
            shutil.rmtree(root, ignore_errors=True)  # a run that crashed before its cleanup
            continue
        if time.monotonic() > deadline:
            raise SandboxError(f"{root} is in use by another run")
        time.sleep(0.2)


def _owner_alive(root: Path) -> bool:
    try:
        pid = int((root / OWNER).read_text())
    except (OSError, ValueError):  # being created right now, or from before owners were written
        try:
            return time.time() - root.stat().st_mtime < 5
        except OSError:
            return False
    return pid_alive(pid)


@contextlib.contextmanager
def staged(
    task_folder: Path, result_folder: Path | None, name: str, base: Path | None = None
) -> Iterator[tuple[Path, Path | None]]:
    """Yield (task, out) laid out as <base>/ichain-run-<name>/{task,out}; removed afterwards.
    Without `result_folder` only the task is staged (an `execute`, whose /out is its own area)."""
    root = Path(base or tempfile.gettempdir()) / f"{PREFIX}{name}"
    _claim(root)
    try:
        os.chmod(root, 0o755)
        _link_tree(Path(task_folder), root / "task")
        if result_folder is None:
            yield root / "task", None
        else:
            _link_tree(Path(result_folder), root / "out")
            yield root / "task", root / "out"
    finally:
        shutil.rmtree(root, ignore_errors=True)
