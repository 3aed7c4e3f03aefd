"""Issue 26: `ichain doctor` reports each real part of this machine as it is (checked here
against the machine itself: the engine, the image, gVisor, anvil, tor, the free disk), names the
exact fix and whether it needs root when a part is missing, and exits 1 only when a part the
settings need is missing. The demo's chain choice follows what is installed and what was asked."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import docker
import pytest

from ichain_tui.chain.devnet import anvil_binary
from ichain_tui.commands.demo import choose_chain
from ichain_tui.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _doctor(tmp_path, **env):
    result = subprocess.run(
        [sys.executable, "-m", "ichain_tui.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ICHAIN_HOME": str(tmp_path / "home"), **env},
    )
    report = json.loads(result.stdout)
    return result.returncode, report, {p["name"]: p for p in report["parts"]}


def test_doctor_reports_each_part_as_the_machine_has_it(tmp_path, sandbox):
    code, report, parts = _doctor(tmp_path)
    dc = docker.from_env()
    assert (
        parts["docker engine"]["status"] == "ok"
        and dc.version()["Version"] in parts["docker engine"]["detail"]
    )
    has_image = bool(dc.images.list(name="ichain-runtime"))
    assert (parts["runtime image"]["status"] == "ok") == has_image
    registered = "runsc" in (dc.info().get("Runtimes") or {})
    assert (parts["gvisor (runsc)"]["status"] == "ok") == registered
    assert parts["anvil"]["status"] == "ok" and anvil_binary() in parts["anvil"]["detail"]
    assert (parts["tor"]["status"] == "ok") == bool(shutil.which("tor") and shutil.which("tor-gencert"))
    assert parts["embedded chain"]["status"] == "ok"
    assert parts["package index"]["status"] == "off" and "package_index" in parts["package index"]["fix"]
    free_mb = shutil.disk_usage(tmp_path).free // 2**20
    shown = int(parts["free disk"]["detail"].split("data ")[1].split(" MiB")[0].replace(",", ""))
    assert abs(shown - free_mb) <= max(64, free_mb // 100)
    assert code == 0 and report["ok"] is True
    assert all(set(p) >= {"status", "detail", "fix", "needs_root", "required", "ok"} for p in parts.values())


def test_a_missing_engine_is_named_with_its_root_fix_and_fails(tmp_path):
    code, report, parts = _doctor(tmp_path, DOCKER_HOST=f"unix://{tmp_path}/none.sock")
    engine = parts["docker engine"]
    assert engine["status"] == "missing" and engine["needs_root"] and engine["required"]
    assert engine["fix"].startswith("as root: apt-get install -y docker.io")
    assert "scripts/start-dockerd.sh" in engine["fix"]  # this is a checkout: its own script is named
    assert (
        parts["runtime image"]["status"] == "missing"
        and "ichain image build" in parts["runtime image"]["fix"]
    )
    assert code == 1 and report["ok"] is False


def test_tor_is_required_only_when_transfers_go_through_it(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    code, _, parts = _doctor(tmp_path, PATH=str(empty))
    assert parts["tor"]["status"] == "missing" and not parts["tor"]["required"]
    assert parts["tor"]["fix"] == "as root: apt-get install -y tor (./install.sh does it)"
    assert code == 0
    code, _, parts = _doctor(tmp_path, PATH=str(empty), ICHAIN_TRANSPORT="tor")
    assert parts["tor"]["required"] and not parts["tor"]["ok"] and code == 1


def test_a_set_package_index_that_does_not_answer_is_missing(tmp_path):
    code, _, parts = _doctor(tmp_path, ICHAIN_PACKAGE_INDEX="http://127.0.0.1:9/simple")
    assert parts["package index"]["status"] == "missing" and code == 1
    (tmp_path / "simple").mkdir()
    (tmp_path / "simple" / "index.html").write_text("<html></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index = f"http://127.0.0.1:{server.server_port}/simple"
        code, _, parts = _doctor(tmp_path, ICHAIN_PACKAGE_INDEX=index)
    finally:
        server.shutdown()
    assert parts["package index"]["status"] == "ok" and "answers 200" in parts["package index"]["detail"]


def test_the_demo_chooses_its_chain_from_what_is_installed_and_asked(monkeypatch):
    assert choose_chain("embedded") == ("embedded", "asked for with --network embedded")
    kind, why = choose_chain(None)
    assert kind == "anvil" and anvil_binary() in why
    with pytest.raises(ConfigError, match="--network takes embedded or local here"):
        choose_chain("http://127.0.0.1:8545")
    monkeypatch.setattr("ichain_tui.chain.devnet.CONTRACTS_DIR", Path("/nonexistent"))
    monkeypatch.setenv("PATH", "/nonexistent")
    kind, why = choose_chain(None)
    assert kind == "embedded" and "npm install -g @foundry-rs/anvil" in why
    with pytest.raises(Exception, match="--network local needs anvil: npm install -g @foundry-rs/anvil"):
        choose_chain("local")


def test_the_human_report_has_one_line_per_part(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ichain_tui.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ICHAIN_HOME": str(tmp_path / "home"), "DOCKER_HOST": f"unix://{tmp_path}/x.sock"},
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 10 and lines[-1] == "2 needed part(s) missing" and out.returncode == 1
    assert (
        lines[0].startswith("missing  docker engine")
        and "→ as root: apt-get install -y docker.io" in lines[0]
    )
    assert "Traceback" not in out.stderr


def test_image_build_without_debootstrap_says_the_one_line_it_needs(tmp_path, monkeypatch, sandbox):
    from ichain_tui.sandbox import image
    from ichain_tui.sandbox.engine import SandboxError

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(image, "DEBOOTSTRAP_SBIN", tmp_path / "debootstrap")
    with pytest.raises(SandboxError) as refused:
        image.build_image(sandbox.dc, "ichain-never-built:test")
    assert str(refused.value) == "image build needs debootstrap: as root: apt-get install -y debootstrap"
    assert not image.has_image(sandbox.dc, "ichain-never-built:test")
