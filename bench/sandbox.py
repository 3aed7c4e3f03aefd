"""Sandbox overhead: a trivial task through the runner vs `python3 -c pass` in the same image.

Both sides start a fresh container; the runner adds its security policy, the exec, output
streaming, cgroup sampling and clean-up. Last line: JSON with `overhead_s` (target <= 1.0).

    python bench/sandbox.py [--runs 15]
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

from ichain_tui.config import Settings  # noqa: E402
from ichain_tui.sandbox import engine, image  # noqa: E402
from ichain_tui.sandbox.runner import Sandbox  # noqa: E402
from ichain_tui.sandbox.taskspec import load_task  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    dc = engine.client()
    name = Settings.load().docker_image
    image.ensure_image(dc, name, build=False)
    sandbox = Sandbox(dc, name, gpus=[])
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "task"
        task.mkdir()
        (task / "task.py").write_text("pass\n")
        spec = load_task(task)
        runner_times, bare_times = [], []
        for i in range(args.runs + 1):  # first round warms the page cache, not counted
            out = Path(tmp) / f"out{i}"
            t0 = time.perf_counter()
            result = sandbox.execute(spec, out)
            t1 = time.perf_counter()
            assert result.ok, result.as_dict()
            dc.containers.run(name, ["python3", "-c", "pass"], remove=True, network_mode="none")
            t2 = time.perf_counter()
            if i:
                runner_times.append(t1 - t0)
                bare_times.append(t2 - t1)
    runner = statistics.median(runner_times)
    bare = statistics.median(bare_times)
    print(f"{'':<28}{'median s':>10}{'min s':>10}{'max s':>10}")
    print(f"{'runner (trivial task)':<28}{runner:>10.3f}{min(runner_times):>10.3f}{max(runner_times):>10.3f}")
    print(f"{'docker run python3 -c pass':<28}{bare:>10.3f}{min(bare_times):>10.3f}{max(bare_times):>10.3f}")
    print(json.dumps({"overhead_s": round(runner - bare, 3), "runner_s": round(runner, 3), "bare_s": round(bare, 3),
                      "runs": args.runs}))


if __name__ == "__main__":
    main()
