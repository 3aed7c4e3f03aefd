"""Sandbox overhead per container runtime, and how far a task can write past its output cap.

Overhead: a trivial task through the runner vs `docker run python3 -c pass` in the same image
and runtime. Both start a fresh container; the runner adds its security policy, the per-run
output filesystem, the neutral staging, output streaming, cgroup sampling and clean-up.

Overshoot: a task with `output_mb = 16` writes as fast as it can (64 KiB writes), then tries to
fallocate 2 GiB; the figure is what it got onto the disk beyond 16 MiB (kernel-enforced caps: 0).
A second task with `output_mb = 1` makes a 4 GiB sparse file and a 1 GiB file with one byte at its
end; its figure is what the export wrote to the provider's disk beyond 1 MiB, under each runtime
(the export counts apparent sizes: 0). `output_overshoot_mb` is the larger of the two.

Last line: JSON with `overhead_s` per runtime (target: runc <= 0.5) and `output_overshoot_mb`
(target <= 1).

    python bench/sandbox.py [--runs 15] [--runtimes runc,runsc]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ichain_tui.config import Settings
from ichain_tui.sandbox import engine, image
from ichain_tui.sandbox.runner import Sandbox
from ichain_tui.sandbox.taskspec import load_task

WRITER = """
import os, sys
written = 0
block = b"x" * (1 << 16)
with open("/out/fast", "wb", buffering=0) as f:
    try:
        while True:
            written += f.write(block)
    except OSError:
        pass
fd = os.open("/out/alloc", os.O_WRONLY | os.O_CREAT)
try:
    os.posix_fallocate(fd, 0, 2 << 30)
except OSError:
    pass
on_disk = sum(os.stat(p).st_blocks * 512 for p in ("/out/fast", "/out/alloc"))
print("written", written, "on_disk", on_disk)
"""


def overhead(dc, name: str, runtime: str, runs: int, tmp: Path) -> dict:
    sandbox = Sandbox(dc, name, gpus=[], runtime=runtime)
    task = tmp / "trivial"
    task.mkdir(exist_ok=True)
    (task / "task.py").write_text("pass\n")
    spec = load_task(task)
    runner_times, bare_times = [], []
    for i in range(runs + 1):  # first round warms the page cache, not counted
        out = tmp / f"out-{runtime}-{i}"
        t0 = time.perf_counter()
        result = sandbox.execute(spec, out)
        t1 = time.perf_counter()
        assert result.ok, result.as_dict()
        dc.containers.run(name, ["python3", "-c", "pass"], remove=True, network_mode="none", runtime=runtime)
        t2 = time.perf_counter()
        if i:
            runner_times.append(t1 - t0)
            bare_times.append(t2 - t1)
    return {
        "runner": statistics.median(runner_times),
        "bare": statistics.median(bare_times),
        "runner_min": min(runner_times),
        "runner_max": max(runner_times),
    }


def overshoot(dc, name: str, tmp: Path) -> float:
    sandbox = Sandbox(dc, name, gpus=[])
    task = tmp / "writer"
    task.mkdir(exist_ok=True)
    (task / "task.py").write_text(WRITER)
    (task / "ichain.toml").write_text("output_mb = 16\ntime_limit = 120\n")
    run = sandbox.execute(load_task(task), tmp / "writer-out")
    words = run.stdout_tail[-1].split()
    on_disk = max(int(words[1]), int(words[3]))
    print(
        f"fast writer with output_mb = 16: wrote {int(words[1]) / 2**20:.2f} MiB, {int(words[3]) / 2**20:.2f} MiB "
        f"on disk with the 2 GiB fallocate; kernel caps: {sandbox.kernel_quota}; refused: {run.output_exceeded}"
    )
    return max(0.0, (on_disk - 16 * 2**20) / 2**20)


SPARSE = """
with open("/out/holes", "wb") as f:
    f.truncate(4 << 30)
with open("/out/one-byte-at-the-end", "wb") as f:
    f.seek((1 << 30) - 1)
    f.write(b"x")
"""


def sparse_overshoot(dc, name: str, runtime: str, tmp: Path) -> float:
    sandbox = Sandbox(dc, name, gpus=[], runtime=runtime)
    task = tmp / "sparse"
    task.mkdir(exist_ok=True)
    (task / "task.py").write_text(SPARSE)
    (task / "ichain.toml").write_text("output_mb = 1\ntime_limit = 60\n")
    out = tmp / f"sparse-out-{runtime}"
    run = sandbox.execute(load_task(task), out)
    written = sum(p.stat().st_blocks * 512 for p in out.rglob("*") if p.is_file())
    print(
        f"sparse files (5 GiB apparent) with output_mb = 1, {runtime}: {written / 2**20:.2f} MiB written "
        f"by the export; refused: {run.output_exceeded}"
    )
    return max(0.0, (written - 2**20) / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--runtimes", default="runc,runsc")
    args = parser.parse_args()
    dc = engine.client()
    name = Settings.load().docker_image
    image.ensure_image(dc, name, build=False)
    wanted = [r for r in args.runtimes.split(",") if r]
    missing = [r for r in wanted if r not in engine.runtimes(dc)]
    if missing:
        print(f"not registered with dockerd, skipped: {', '.join(missing)}")
    figures: dict = {"overhead_s": {}}
    print(f"{'':<34}{'median s':>10}{'min s':>10}{'max s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in (r for r in wanted if r not in missing):
            o = overhead(dc, name, runtime, args.runs, Path(tmp))
            print(
                f"{'runner, ' + runtime:<34}{o['runner']:>10.3f}{o['runner_min']:>10.3f}{o['runner_max']:>10.3f}"
            )
            print(f"{'docker run python3 -c pass, ' + runtime:<34}{o['bare']:>10.3f}")
            figures["overhead_s"][runtime] = round(o["runner"] - o["bare"], 3)
            figures[f"runner_s_{runtime}"] = round(o["runner"], 3)
            figures[f"bare_s_{runtime}"] = round(o["bare"], 3)
        dense = overshoot(dc, name, Path(tmp))
        sparse = max(sparse_overshoot(dc, name, r, Path(tmp)) for r in wanted if r not in missing)
        figures["sparse_overshoot_mb"] = round(sparse, 3)
        figures["output_overshoot_mb"] = round(max(dense, sparse), 3)
    figures["runs"] = args.runs
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
