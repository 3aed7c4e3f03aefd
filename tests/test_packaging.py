"""Issue 13: the wheel is the app. It is built from the checkout, installed in a clean virtual
environment (dependencies from the machine's package index), and run from outside the checkout:
the contracts and the example tasks come from inside the installed package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, cwd, env=None, timeout=600):
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, (cmd, result.stdout[-2000:], result.stderr[-2000:])
    return result


def test_the_wheel_installs_in_a_clean_venv_and_runs_from_its_own_files(tmp_path, sandbox):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, ROOT], cwd=tmp_path)
    (wheel,) = wheels.glob("ichain_tui-*.whl")
    venv = tmp_path / "venv"
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv], cwd=tmp_path)
    _run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", f"{wheel}[embedded]"],
        cwd=tmp_path,
        timeout=900,
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"ICHAIN_HOME": str(tmp_path / "home"), "PYTHONPATH": ""}
    ichain = venv / "bin" / "ichain"

    version = _run([ichain, "--version"], cwd=outside, env=env).stdout
    assert version.startswith("ichain ")
    where = _run(
        [venv / "bin" / "python", "-c", "import ichain_tui, sys; print(ichain_tui.__file__)"],
        cwd=outside,
        env=env,
    ).stdout.strip()
    package = Path(where).parent
    assert str(package).startswith(str(venv)), where  # not the checkout
    info = json.loads(
        _run([ichain, "chain", "info", "--network", "embedded", "--json"], cwd=outside, env=env).stdout
    )
    assert info["network"] == "embedded" and info["block"] == 0
    digits = package / "examples" / "tasks" / "digits"
    tried = json.loads(_run([ichain, "task", "try", digits, "--json"], cwd=outside, env=env).stdout)
    assert tried["ok"] and [r["mode"] for r in tried["runs"]] == ["execute", "check"], tried
    assert (package / "contracts" / "Marketplace.json").is_file()
