"""Issues 13 and 26: the wheel is the app. It is built from the checkout, installed in a clean
virtual environment (dependencies from the machine's package index), and run from an empty folder
outside the checkout with an empty ICHAIN_HOME and no anvil: the contracts and the example tasks
come from inside the installed package, and `ichain demo --headless` runs the whole market on the
embedded chain to `RESULT ok`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, cwd, env=None, timeout=600, ok=True):
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if ok:
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
    # no anvil anywhere on PATH (nor a checkout to find one in): the demo must pick the embedded chain
    env = {"ICHAIN_HOME": str(tmp_path / "home"), "PYTHONPATH": "", "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    ichain = venv / "bin" / "ichain"

    version = _run([ichain, "--version"], cwd=outside, env=env).stdout
    assert re.fullmatch(r"ichain \S+, contracts [0-9a-f]{12} \(solc 0\.8\.\d+, cancun\)\n", version), version
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

    demo = _run([ichain, "demo", "--headless"], cwd=outside, env=env, timeout=300)
    lines = demo.stdout.splitlines()
    assert lines[0].startswith("[chain]     embedded chain"), lines[:3]
    assert "no anvil installed (npm install -g @foundry-rs/anvil" in lines[0], lines[0]
    assert "install.sh" not in demo.stdout + demo.stderr  # a wheel's user has no checkout
    assert "[market]    3 providers registered" in lines
    assert any(line.startswith("[result]    decrypted into") and "accuracy 0.9" in line for line in lines)
    assert lines[-1] == "RESULT ok", demo.stdout[-2000:]
    assert not list(outside.iterdir())  # nothing left in the user's folder

    no_docker = {**env, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    refused = _run([ichain, "demo", "--headless"], cwd=outside, env=no_docker, timeout=60, ok=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "apt-get install -y docker.io" in refused.stderr, (
        refused.stderr
    )
    assert "install.sh" not in refused.stderr and "start-dockerd" not in refused.stderr

    image = _run([ichain, "image", "build"], cwd=outside, env=env).stdout  # the command ships too
    assert image.strip().splitlines()[-1] == "ichain-runtime:bookworm"
