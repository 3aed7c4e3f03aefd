"""Issue 23, items 2 and 3, under both runtimes: what a file claims is what it costs (a sparse
file counts by its apparent size and the export never writes past the cap), and nothing a task
does to its checkpoint folder (write leases, FIFOs, many files) holds the provider past the time
limit: the task is killed within its limit + 5 s."""

from __future__ import annotations

import time

import pytest
from sandbox_helpers import make_task

from ichain_tui.sandbox import outputfs
from ichain_tui.sandbox.taskspec import load_task

pytestmark = pytest.mark.skipif(not outputfs.kernel_quota_available(), reason="needs root and loop devices")

MiB = 1024 * 1024


def _blocks_under(path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def test_sparse_files_count_by_their_apparent_size_and_nothing_past_the_cap_is_written(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os
        with open("/out/holes", "wb") as f:
            f.truncate(4 << 30)
        with open("/out/one-byte-at-the-end", "wb") as f:
            f.seek((1 << 30) - 1)
            f.write(b"x")
        print("sparse files made")
    """,
        "output_mb = 1\ntime_limit = 60\n",
    )
    out = tmp_path / "out"
    run = isolated.execute(load_task(task), out)
    assert run.stdout_tail == ["sparse files made"], run.as_dict()
    assert run.output_exceeded and not run.ok and run.reason == "refused: output over the size cap"
    assert _blocks_under(out) <= 1 * MiB  # was 5,120 MiB of real blocks


def test_a_sparse_checkpoint_is_not_saved_past_the_cap(isolated, tmp_path):
    task = make_task(
        tmp_path,
        """
        import os, time
        with open(os.path.join(os.environ["ICHAIN_CHECKPOINT"], "holes"), "wb") as f:
            f.truncate(2 << 30)
        print("ready", flush=True)
        time.sleep(7)
    """,
        "output_mb = 1\ntime_limit = 30\n",
    )
    saved = tmp_path / "checkpoint"
    isolated.execute(load_task(task), tmp_path / "out", checkpoint=saved)
    assert _blocks_under(tmp_path) <= 2 * MiB
    assert not (saved / "holes").exists()


HOLD_CHECKPOINT = """
    import fcntl, os, signal, time
    ck = os.environ["ICHAIN_CHECKPOINT"]
    F_SETLEASE = 1024
    signal.signal(signal.SIGIO, signal.SIG_IGN)  # a lease-break notice changes nothing here
    held = []
    for i in range(4):
        path = os.path.join(ck, f"leased-{i}")
        with open(path, "wb") as f:
            f.write(b"x" * 1000)
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
            fcntl.fcntl(fd, F_SETLEASE, fcntl.F_WRLCK)
            print("lease", i, flush=True)
        except OSError as exc:
            print("no lease", i, exc.strerror, flush=True)
        held.append(fd)
    os.mkfifo(os.path.join(ck, "fifo"))
    for i in range(300):
        try:  # a file replaced by a FIFO between the copier's look and its open
            os.replace(os.path.join(ck, "fifo"), os.path.join(ck, "swap")) if i % 2 else None
            os.mkfifo(os.path.join(ck, "fifo")) if i % 2 else None
        except OSError:
            pass
        for j in range(50):
            open(os.path.join(ck, f"many-{i}-{j}"), "wb").close() if i < 20 else None
        time.sleep(0.1)
    time.sleep(600)
"""


def test_leases_fifos_and_many_files_in_the_checkpoint_cannot_hold_the_run_past_its_limit(isolated, tmp_path):
    task = make_task(tmp_path, HOLD_CHECKPOINT, "output_mb = 16\ntime_limit = 10\n")
    started = time.monotonic()
    run = isolated.execute(load_task(task), tmp_path / "out", checkpoint=tmp_path / "checkpoint")
    took = time.monotonic() - started
    assert run.timed_out, run.as_dict()
    assert took <= 10 + 5, f"killed after {took:.1f} s for a 10 s limit (was 185 s with 4 leases)"
    assert any(line.startswith(("lease", "no lease")) for line in run.stdout_tail)
