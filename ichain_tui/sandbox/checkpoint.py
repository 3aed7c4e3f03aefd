"""Provides `CheckpointSaver`: a long run's checkpoints outlive it. The task keeps them in
`$ICHAIN_CHECKPOINT` (`/out/.checkpoint`, inside its output cap); they are copied to a folder of
the provider's every few seconds and at the end of the run, atomically (a crash mid-copy leaves
the previous one), and copied into the next run's area, which starts with `ICHAIN_RESUME=1`.

A save never waits on the task: the copy (`outputfs.export`) opens files non-blocking, counts
apparent sizes against the output cap and stops at the deadline it is given (the run's time
limit), so leases, FIFOs, sparse or huge files and many files in the folder cannot hold the
provider past the limit; a save that cannot finish keeps the previous checkpoint."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from . import outputfs
from .engine import SandboxError

CHECKPOINT_NAME = ".checkpoint"
CHECKPOINT_EVERY_S = 5.0
FINAL_SAVE_S = 60.0  # the save after the run ends (the task is gone: only the size takes time)


class CheckpointSaver:
    """Copies a run's `/out/.checkpoint` to a folder that outlives it, and back into the next run."""

    def __init__(
        self,
        folder: Path,
        spent_s: float,
        on_saved: Callable[[float], object] | None,
        max_files: int,
        max_bytes: int,
    ) -> None:
        self.folder, self.spent_s, self.on_saved = folder, spent_s, on_saved
        self.max_files, self.max_bytes = max_files, max_bytes
        self.area: Path | None = None
        self.started = time.monotonic()

    def restore(self, area: Path, uid: int, gid: int) -> dict[str, str]:
        """Put the saved checkpoint in the new run's area; the environment that tells the task."""
        self.area, self.started = area, time.monotonic()
        inside = area / CHECKPOINT_NAME
        resume = self.folder.is_dir() and any(self.folder.iterdir())
        if resume:
            outputfs.export(self.folder, inside, self.max_files, self.max_bytes)
        else:
            inside.mkdir()
        if os.geteuid() == 0:  # the task's user writes there
            for path in [inside, *inside.rglob("*")]:
                os.chown(path, uid, gid, follow_symlinks=False)
        env = {"ICHAIN_CHECKPOINT": f"/out/{CHECKPOINT_NAME}"}
        if resume:
            env["ICHAIN_RESUME"] = "1"
        return env

    def save(self, deadline: float | None = None) -> None:
        """Copy what the task keeps there now (regular files and folders only) over the saved one,
        atomically: a crash mid-copy leaves the previous checkpoint. Done by `deadline`
        (time.monotonic()) or not at all."""
        if self.area is None or not (self.area / CHECKPOINT_NAME).is_dir():
            return
        spent = self.spent_s + (time.monotonic() - self.started)
        fresh = self.folder.with_name(self.folder.name + ".new")
        old = self.folder.with_name(self.folder.name + ".old")
        shutil.rmtree(fresh, ignore_errors=True)
        try:
            outputfs.export(self.area / CHECKPOINT_NAME, fresh, self.max_files, self.max_bytes, deadline)
        except (OSError, SandboxError):
            shutil.rmtree(fresh, ignore_errors=True)
            return  # the task was writing it: the next save takes it
        shutil.rmtree(old, ignore_errors=True)
        if self.folder.exists():
            self.folder.rename(old)
        fresh.rename(self.folder)
        shutil.rmtree(old, ignore_errors=True)
        if self.on_saved is not None:
            self.on_saved(spent)
