"""Provides `pid_alive`: whether a process of this machine still runs (for sweeping what a dead
process left behind: containers, output areas, staged folders, devnet caches)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
