"""Runs the real `ichain` command line in a subprocess and checks its contract with users."""

from __future__ import annotations

import os
import subprocess
import sys


def ichain(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 120):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ichain_tui.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
    )


def assert_clean_failure(result) -> None:
    """Bad input: non-zero exit, one line on stderr, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ichain: ")
