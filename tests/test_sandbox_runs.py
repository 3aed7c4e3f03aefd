"""Runs against the real Docker engine: examples pass, tampering fails, hostile tasks stay inside."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import assert_clean_failure, ichain
from sandbox_helpers import make_task, sandbox_containers

from ichain_tui.sandbox.taskspec import load_task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tasks"


@pytest.mark.parametrize("name", ["digits", "mlp-numpy"])
def test_examples_execute_then_check(sandbox, tmp_path, name):
    spec = load_task(EXAMPLES / name)
    lines = []
    ex = sandbox.execute(spec, tmp_path / "out", on_line=lambda stream, line: lines.append(line))
    assert ex.ok, ex.as_dict()
    assert ex.output_bytes > 0 and ex.peak_memory_bytes > 1_000_000
    assert any("accuracy" in line for line in lines)
    check = sandbox.check(spec, tmp_path / "out")
    assert check.ok, check.as_dict()
    assert check.stdout_tail[-1] == "PASS"


def test_tampered_digits_result_fails_check(sandbox, tmp_path):
    spec = load_task(EXAMPLES / "digits")
    out = tmp_path / "out"
    assert sandbox.execute(spec, out).ok
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["accuracy"] = min(1.0, metrics["accuracy"] + 0.02)
    (out / "metrics.json").write_text(json.dumps(metrics))
    check = sandbox.check(spec, out)
    assert not check.ok and check.exit_code == 1
    assert any("differs from the claim" in line for line in check.stdout_tail)


def test_tampered_mlp_weights_fail_check(sandbox, tmp_path):
    import zipfile

    spec = load_task(EXAMPLES / "mlp-numpy")
    out = tmp_path / "out"
    assert sandbox.execute(spec, out).ok
    with zipfile.ZipFile(out / "weights.npz") as z:
        members = {name: z.read(name) for name in z.namelist()}
    w2 = bytearray(members["w2.npy"])
    w2[-2] ^= 0x01  # nudge the last float64 of w2 (little-endian, high mantissa bits)
    members["w2.npy"] = bytes(w2)
    with zipfile.ZipFile(out / "weights.npz", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    check = sandbox.check(spec, out)
    assert not check.ok and any("differs from the recomputed" in line for line in check.stdout_tail)


def test_network_is_unreachable(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import socket, sys
        refused = 0
        for host in ("172.17.0.1", "127.0.0.1", "192.0.2.1"):
            try:
                socket.create_connection((host, 22), timeout=2).close()
                print("CONNECTED", host)
            except OSError as exc:
                refused += 1
                print("refused", host, exc.__class__.__name__)
        print("interfaces", [n for _, n in socket.if_nameindex()])
        sys.exit(0 if refused == 3 else 1)
    """,
        "time_limit = 30\n",
    )
    result = isolated.execute(load_task(task), tmp_path / "out")
    assert result.ok, result.as_dict()
    assert not any("CONNECTED" in line for line in result.stdout_tail)
    assert result.stdout_tail[-1] == "interfaces ['lo']"


def test_fork_bomb_is_stopped_by_the_pids_limit(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os, sys, time
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except OSError as exc:
            print("fork refused after", children, "children:", exc)
            sys.exit(3)
    """,
        "pids = 32\ntime_limit = 30\n",
    )
    result = isolated.execute(load_task(task), tmp_path / "out")
    assert result.exit_code == 3, result.as_dict()
    children = int(result.stdout_tail[-1].split()[3])
    assert children < 32, result.stdout_tail
    if isolated.runtime == "runc":  # under gVisor the limit is enforced inside, unseen by the host cgroup
        assert result.pids_limit_hit and "process limit" in result.reason
    assert not sandbox_containers()


def test_memory_hog_is_killed_and_reported_oom(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        blocks = []
        for _ in range(2048):
            blocks.append(bytearray(1024 * 1024))  # touches every page: 2 GB in all
        print("allocated 2 GB")
    """,
        "memory_mb = 256\ntime_limit = 60\n",
    )
    result = isolated.execute(load_task(task), tmp_path / "out")
    assert result.oom_killed and not result.ok, result.as_dict()
    assert result.reason == "killed: out of memory"
    assert "allocated 2 GB" not in result.stdout_tail
    assert result.peak_memory_bytes <= 256 * 1024 * 1024 * 1.05


def test_writes_outside_out_are_refused_and_user_is_not_root(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os, sys
        failures = []
        for path in ("/evil", "/task/evil", "/etc/passwd", "/var/tmp/evil", "/usr/evil", "/out/../evil"):
            try:
                with open(path, "a") as f:
                    f.write("x")
                failures.append(path)
            except OSError:
                pass
        with open("/out/ok.txt", "w") as f:
            f.write("fine")
        import ctypes
        status = open("/proc/self/status").read()
        cap_eff = [l for l in status.splitlines() if l.startswith("CapEff")][0].split()[1]
        no_new_privs = ctypes.CDLL(None).prctl(39, 0, 0, 0, 0)  # PR_GET_NO_NEW_PRIVS
        print("uid", os.getuid(), "capeff", cap_eff, "nonewprivs", no_new_privs, "wrote", failures)
        sys.exit(1 if failures or os.getuid() == 0 or int(cap_eff, 16) or no_new_privs != 1 else 0)
    """,
        "time_limit = 30\n",
    )
    result = isolated.execute(load_task(task), tmp_path / "out")
    assert result.ok, result.as_dict()
    assert "uid 0 " not in result.stdout_tail[-1]
    assert (tmp_path / "out" / "ok.txt").read_text() == "fine"
    assert not (tmp_path / "evil").exists() and not (task / "evil").exists()


def test_sleeper_is_killed_at_its_limit_and_its_container_is_gone(isolated, tmp_path):
    task = make_task(
        tmp_path, "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n", "time_limit = 3\n"
    )
    result = isolated.execute(load_task(task), tmp_path / "out")
    assert result.timed_out and result.exit_code is None and not result.ok
    assert 3 <= result.wall_s < 10
    assert result.stdout_tail == ["sleeping"]
    assert not sandbox_containers()


def test_100_mb_of_stdout_is_captured_bounded(sandbox, tmp_path):
    task = make_task(
        tmp_path,
        """
        import sys
        line = ("x" * 99 + "\\n").encode()
        block = line * 10000
        for _ in range(100):
            sys.stdout.buffer.write(block)
        sys.stdout.buffer.write(b"last line\\n")
    """,
        "time_limit = 120\n",
    )
    result = sandbox.execute(load_task(task), tmp_path / "out")
    assert result.ok, result.reason
    assert result.stdout_bytes >= 100_000_000
    assert len(result.stdout_tail) <= 200 and result.stdout_tail[-1] == "last line"
    assert all(len(line) <= 4096 for line in result.stdout_tail)


def test_huge_output_is_refused_at_the_cap(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os
        chunk = os.urandom(1 << 20)
        with open("/out/big.bin", "wb") as f:
            for _ in range(2000):
                f.write(chunk)
        print("wrote 2 GB")
    """,
        "output_mb = 8\ntime_limit = 120\nmemory_mb = 256\n",
    )
    out = tmp_path / "out"
    result = isolated.execute(load_task(task), out)
    assert result.output_exceeded and not result.ok, result.as_dict()
    assert result.reason == "refused: output over the size cap"
    assert list(out.iterdir()) == []


def test_stale_containers_of_dead_processes_are_reaped(sandbox, tmp_path):
    from ichain_tui.sandbox.engine import LABEL, reap_stale

    stale = sandbox.dc.containers.create(
        sandbox.image, ["sleep", "60"], labels={LABEL: "1", f"{LABEL}.pid": "999999"}, network_mode="none"
    )
    mine = sandbox.dc.containers.create(
        sandbox.image,
        ["sleep", "60"],
        labels={LABEL: "1", f"{LABEL}.pid": str(os.getpid())},
        network_mode="none",
    )
    try:
        assert reap_stale(sandbox.dc) == 1
        ids = {c.id for c in sandbox_containers(mine=False)}
        assert stale.id not in ids and mine.id in ids
    finally:
        mine.remove(force=True)


def test_task_try_cli_reports_both_runs(tmp_path):
    result = ichain("task", "try", str(EXAMPLES / "digits"), "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] and [r["mode"] for r in data["runs"]] == ["execute", "check"]
    assert all(r["exit_code"] == 0 and r["wall_s"] > 0 for r in data["runs"])


def test_task_try_bad_input_is_one_line(tmp_path):
    assert_clean_failure(ichain("task", "try", str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    assert_clean_failure(ichain("task", "try", str(tmp_path / "empty")))
    bad = make_task(tmp_path, "print(1)\n", "time_limit = [\n")
    assert_clean_failure(ichain("task", "try", str(bad)))
    good = make_task(tmp_path / "g", "print(1)\n")
    no_engine = ichain("task", "try", str(good), env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert_clean_failure(no_engine)
    assert "Docker engine" in no_engine.stderr
    failing = make_task(tmp_path / "f", "import sys\nsys.exit(4)\n")
    result = ichain("task", "try", str(failing))
    assert result.returncode == 1 and "exit code 4" in result.stdout
