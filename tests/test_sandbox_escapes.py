"""Issue 10, under both container runtimes (runc and gVisor's runsc): the kernel enforces the
output caps, nothing special leaves the output area, the seccomp profile refuses io_uring, ptrace
and namespaces, and /proc does not describe the host."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from sandbox_helpers import make_task, sandbox_containers

from ichain_tui.sandbox import outputfs
from ichain_tui.sandbox.runner import RunResult
from ichain_tui.sandbox.taskspec import load_task

pytestmark = pytest.mark.skipif(not outputfs.kernel_quota_available(), reason="needs root and loop devices")

MiB = 1024 * 1024


def test_fallocate_past_the_cap_is_refused_by_the_kernel(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os
        fd = os.open("/out/big", os.O_WRONLY | os.O_CREAT)
        try:
            os.posix_fallocate(fd, 0, 2 << 30)
            print("allocated 2 GiB")
        except OSError as exc:
            print("refused:", exc.strerror)
        st = os.fstat(fd)
        print("on disk", st.st_blocks * 512)
    """,
        "output_mb = 1\ntime_limit = 60\n",
    )
    run = isolated.execute(load_task(task), tmp_path / "out")
    assert "allocated 2 GiB" not in run.stdout_tail, run.as_dict()
    assert run.stdout_tail[0] == "refused: No space left on device"
    assert int(run.stdout_tail[1].split()[-1]) <= 1 * MiB  # nothing allocated past the cap


def test_a_fast_writer_never_gets_past_the_cap(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os
        block = b"x" * (1 << 16)
        written = 0
        with open("/out/fast", "wb", buffering=0) as f:
            try:
                while True:
                    written += f.write(block)
            except OSError:
                pass
        print("written", written)
    """,
        "output_mb = 16\ntime_limit = 60\n",
    )
    run = isolated.execute(load_task(task), tmp_path / "out")
    written = int(run.stdout_tail[-1].split()[-1])
    assert written <= 16 * MiB, written
    assert run.output_exceeded and not run.ok and list((tmp_path / "out").iterdir()) == []


def test_empty_files_count_against_the_file_cap(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os
        made = 0
        try:
            for i in range(30_000):
                os.mkdir(f"/out/d{i}") if i % 2 else open(f"/out/f{i}", "w").close()
                made += 1
        except OSError as exc:
            print("stopped:", exc.strerror)
        print("made", made)
    """,
        "time_limit = 120\n",
    )
    run = isolated.execute(load_task(task), tmp_path / "out")
    assert run.stdout_tail[0] == "stopped: No space left on device", run.as_dict()
    assert int(run.stdout_tail[-1].split()[-1]) <= isolated.max_output_files
    assert run.output_exceeded and not run.ok


def test_only_plain_files_and_folders_leave_the_output_area(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os, socket, stat
        open("/out/plain.txt", "w").write("data")
        open("/out/tool.sh", "w").write("#!/bin/sh\\n")
        os.chmod("/out/tool.sh", 0o4777)  # setuid and world-writable
        os.mkfifo("/out/fifo")
        s = socket.socket(socket.AF_UNIX); s.bind("/out/sock")
        os.symlink("/etc/passwd", "/out/link")
        os.mkdir("/out/sub", 0o777)
        open("/out/sub/inner.txt", "w").write("x")
        print("made")
    """,
        "time_limit = 60\n",
    )
    out = tmp_path / "out"
    run = isolated.execute(load_task(task), out)
    assert run.ok, run.as_dict()
    assert sorted(p.name for p in out.iterdir()) == ["plain.txt", "sub", "tool.sh"]
    # gVisor keeps FIFOs and sockets inside its own kernel: they never reach the area at all
    assert "link" in run.dropped and set(run.dropped) <= {"fifo", "link", "sock"}
    modes = {
        p.name: stat.S_IMODE(p.stat().st_mode) for p in [out / "plain.txt", out / "tool.sh", out / "sub"]
    }
    assert modes == {"plain.txt": 0o644, "tool.sh": 0o755, "sub": 0o755}
    assert stat.S_IMODE(out.stat().st_mode) & 0o002 == 0  # never world-writable on the host
    assert (out / "plain.txt").stat().st_uid == os.getuid()


SYSCALLS = """
    import ctypes, errno, os
    libc = ctypes.CDLL(None, use_errno=True)
    def call(name, *args):
        number = {"ptrace": 101, "io_uring_setup": 425, "unshare": 272, "clone": 56, "bpf": 321,
                  "keyctl": 250, "userfaultfd": 323}[name]
        result = libc.syscall(number, *args)
        return "refused" if result == -1 and ctypes.get_errno() in (errno.EPERM, errno.ENOSYS) else f"allowed {result}"
    params = ctypes.create_string_buffer(120)
    print("ptrace", call("ptrace", 16, 1, 0, 0))            # PTRACE_ATTACH to pid 1
    print("io_uring", call("io_uring_setup", 8, params))
    print("userns", call("unshare", 0x10000000))            # CLONE_NEWUSER
    print("mountns", call("clone", 0x00020000 | 17, 0, 0, 0, 0))  # CLONE_NEWNS | SIGCHLD
    print("bpf", call("bpf", 0, 0, 0))
    print("keyctl", call("keyctl", 0, 0, 0))
    print("userfaultfd", call("userfaultfd", 0))
    for kind, mode in (("chardev", 0o020666), ("blockdev", 0o060666)):
        made = []
        for folder in ("/out", "/tmp"):  # a host folder, and gVisor's own tmpfs
            try:
                os.mknod(f"{folder}/{kind}", mode, os.makedev(1, 3))
                made.append(folder)
            except OSError as exc:
                if exc.errno != errno.EPERM:
                    made.append(exc.strerror)
        print(kind, f"allowed {made}" if made else "refused")
    os.mkfifo("/out/fifo")  # FIFOs stay allowed
    print("fifo", "made" if os.path.exists("/out/fifo") else "missing")
    print("cmdline", repr(open("/proc/cmdline").read()))
    for number, line in enumerate(open("/proc/self/mountinfo").read().splitlines()):
        print(f"mount{number}", line)
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="system call numbers are x86_64's")
def test_seccomp_refuses_io_uring_ptrace_and_namespaces_and_proc_is_masked(isolated, tmp_path):
    task = make_task(tmp_path, SYSCALLS, "time_limit = 60\n")
    run = isolated.execute(load_task(task), tmp_path / "out")
    assert run.ok, run.as_dict()
    lines = dict(line.split(" ", 1) for line in run.stdout_tail)
    assert lines["fifo"] == "made"
    for name in (
        "ptrace",
        "io_uring",
        "userns",
        "mountns",
        "bpf",
        "keyctl",
        "userfaultfd",
        "chardev",
        "blockdev",
    ):
        assert lines[name] == "refused", (name, lines[name])
    # masked under runc; gVisor answers from its own kernel, which knows nothing of the host's
    assert lines["cmdline"] in ("''", repr("BOOT_IMAGE=/vmlinuz-4.4.0-gvisor quiet\n"))
    mountinfo = " | ".join(v for k, v in lines.items() if k.startswith("mount") and k != "mountns")
    assert " /task " in mountinfo and " /out " in mountinfo
    for host_path in (str(tmp_path), os.path.expanduser("~") + "/", str(Path(__file__).resolve().parents[1])):
        assert host_path not in mountinfo, host_path


def test_a_fork_bomb_at_its_time_limit_says_the_process_limit_was_reached():
    killed = RunResult("execute", None, 30.0, 0, False, True, True, False, False, 0, 0, 0)
    assert killed.reason == "killed at the time limit (process limit reached)"


def test_execute_and_check_silent_for_75_s_both_run_to_their_end(sandbox, tmp_path):
    """Real training is often silent for minutes; no client-side read timeout may end a run
    (runc: one runtime is enough for a 75 s wait; the stream code is the same for both)."""
    isolated = sandbox
    task = make_task(
        tmp_path,
        """
        import sys, time
        from pathlib import Path
        time.sleep(75)
        if sys.argv[1] == "execute":
            (Path(sys.argv[2]) / "done.txt").write_text("ok")
        else:
            print("PASS" if (Path(sys.argv[2]) / "done.txt").read_text() == "ok" else "FAIL")
    """,
        "time_limit = 150\n",
    )
    spec = load_task(task)
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "done.txt").write_text("ok")
    runs = {}
    checker = threading.Thread(target=lambda: runs.update(check=isolated.check(spec, prepared)))
    checker.start()
    runs["execute"] = isolated.execute(spec, tmp_path / "out")
    checker.join()
    assert runs["execute"].ok and runs["execute"].wall_s >= 75, runs["execute"].as_dict()
    assert (tmp_path / "out" / "done.txt").read_text() == "ok"
    assert runs["check"].ok and runs["check"].stdout_tail == ["PASS"] and runs["check"].wall_s >= 75
    assert not sandbox_containers()


def test_output_areas_of_dead_processes_are_unmounted_and_removed(tmp_path):
    area = outputfs.OutputArea(MiB, 100, 65534, 65534, base=tmp_path)
    assert os.path.ismount(area.root)
    dead = tmp_path / f"{outputfs.PREFIX}999999-deadbeef"  # left by a process that is gone
    os.mkdir(dead)
    (tmp_path / f"{outputfs.PREFIX}999999-deadbeef.img").write_bytes(b"x")
    assert outputfs.sweep_stale(tmp_path) == 1  # ours is alive and stays
    assert not dead.exists() and not (tmp_path / f"{outputfs.PREFIX}999999-deadbeef.img").exists()
    assert os.path.ismount(area.root)
    area.close()
    assert not area.root.exists() and not os.path.ismount(area.root)
