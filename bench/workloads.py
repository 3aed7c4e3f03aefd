"""A real ML workload through the market: examples/tasks/torch-digits (a small CNN in PyTorch on
CPU, its own requirements.txt) with a package index served on 127.0.0.1 from this machine's
package mirror (PyTorch 2.13 CPU from /opt/wheels, the rest from /opt/pypi).

1. deps: the task's image built from the runtime image (download + install without network),
   then asked for again (reused): deps_build_s, deps_cached_s (target <= 1), torch_image_mb;
   a tiny requirements.txt (six) for the mechanism alone: deps_small_build_s.
2. bare: execute + check of the task in the sandbox, timed (the floor the market adds to).
3. market: anvil, two provider processes with the same package index (one runs the task, the
   other is drawn as its validator), a requester submitting the task and following it to the
   decrypted result: torch_task_e2e_overhead_s (market end to end minus the bare work the
   parties do in it: execute, the provider's own check and the validator's check; target <= 5);
   progress_latency_s (median delay from the task printing an ICHAIN_PROGRESS line to the
   requester receiving it; target <= 3).

Last line JSON.

    python bench/workloads.py [--skip-market]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ichain_tui.sandbox import deps

TASK = ROOT / "examples" / "tasks" / "torch-digits"
MIRROR = Path("/opt/pypi")
TORCH_WHEELS = Path("/opt/wheels")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def build_index(root: Path) -> Path:
    """A PEP 503 index: every project of the mirror, and torch from the CPU wheels."""
    simple = root / "simple"
    simple.mkdir(parents=True)
    (root / "files").symlink_to(MIRROR / "files")
    (root / "extra").mkdir()
    for project in (MIRROR / "simple").iterdir():
        if project.name != "torch":
            (simple / project.name).symlink_to(project)
    links = []
    for wheel in sorted(TORCH_WHEELS.glob("torch-*.whl")):
        (root / "extra" / wheel.name).symlink_to(wheel)
        links.append(f'<a href="../../extra/{wheel.name}">{wheel.name}</a>')
    (simple / "torch").mkdir()
    (simple / "torch" / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")
    return root


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/simple/"


def deps_figures(sandbox, index_url: str, work: Path) -> dict:
    from ichain_tui.sandbox.taskspec import load_task

    spec = load_task(TASK)
    requirements = deps.requirements_of(TASK)
    tag = deps.deps_tag(sandbox.dc.images.get(sandbox.image).id, requirements)
    try:
        sandbox.dc.images.remove(tag, force=True)  # measured from nothing
    except Exception:
        pass
    started = time.monotonic()
    assert sandbox.image_for(spec) == tag
    build = time.monotonic() - started
    started = time.monotonic()
    assert sandbox.image_for(spec) == tag
    cached = time.monotonic() - started
    size = sandbox.dc.images.get(tag).attrs["Size"] - sandbox.dc.images.get(sandbox.image).attrs["Size"]
    small = work / "small"
    small.mkdir()
    (small / "task.py").write_text("import six\n")
    (small / "requirements.txt").write_text(f"six==1.17.0\n# {time.time_ns()}\n")
    started = time.monotonic()
    small_tag = sandbox.image_for(load_task(small))
    small_build = time.monotonic() - started
    sandbox.dc.images.remove(small_tag, force=True)
    return {
        "deps_build_s": round(build, 1),
        "deps_cached_s": round(cached, 3),
        "torch_image_mb": round(size / 2**20),
        "deps_small_build_s": round(small_build, 2),
    }


def bare_figures(sandbox, work: Path) -> dict:
    from ichain_tui.sandbox.taskspec import load_task

    spec = load_task(TASK)
    lines: list[str] = []
    started = time.monotonic()
    run = sandbox.execute(spec, work / "bare", on_line=lambda stream, line: lines.append(line))
    execute = time.monotonic() - started
    if not run.ok:
        raise SystemExit(f"execute failed: {run.reason}\n" + "\n".join(lines[-10:]))
    started = time.monotonic()
    check = sandbox.check(spec, work / "bare")
    check_s = time.monotonic() - started
    if not check.ok:
        raise SystemExit(f"check failed: {check.reason}")
    metrics = json.loads((work / "bare" / "metrics.json").read_text())
    return {
        "bare_execute_s": round(execute, 1),
        "bare_check_s": round(check_s, 1),
        "test_accuracy": round(metrics["test_accuracy"], 4),
        "progress_lines": sum(1 for line in lines if line.startswith("ICHAIN_PROGRESS")),
    }


def market_figures(index_url: str, work: Path, bare_s: float) -> dict:
    from ichain_tui.agents.localnet import LocalMarket
    from ichain_tui.chain.devnet import Devnet
    from ichain_tui.chain.types import ValidatorMode

    with Devnet(accounts=8) as devnet:
        market = LocalMarket(devnet, work / "market")
        try:
            provider = market.provider(1)
            validator = market.provider(2)  # the pool a validator is drawn from
            for party in (provider, validator):
                party.env.update(ICHAIN_PACKAGE_INDEX=index_url, ICHAIN_MAX_MEMORY_MB="4096")
                party.start()
            market.wait_registered(2)
            events: list[tuple[float, object]] = []
            requester = market.requester(5, report=lambda e: events.append((time.time(), e)))
            started = time.monotonic()
            task_id = requester.submit(
                TASK, provider.account.address, 10**16, mode=ValidatorMode.RANDOM, validator_fee=10**15
            )
            outcome = requester.follow(task_id, work / "market-result", rating=None)
            e2e = time.monotonic() - started
            if not outcome.ok:
                raise SystemExit(f"market run failed: {outcome.message}\n{provider.log()[-2000:]}")
        finally:
            market.close()
    progress = [(at, e) for at, e in events if getattr(e, "kind", "") == "progress"]
    delays = [at - e.data["progress"]["t"] for at, e in progress if "t" in e.data["progress"]]  # type: ignore[attr-defined]
    return {
        "torch_task_e2e_s": round(e2e, 1),
        "torch_task_e2e_overhead_s": round(e2e - bare_s, 1),
        "progress_seen": len(progress),
        "progress_latency_s": round(statistics.median(delays), 2) if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-market", action="store_true")
    args = parser.parse_args()
    from ichain_tui.config import Settings
    from ichain_tui.sandbox import engine
    from ichain_tui.sandbox.runner import Sandbox

    work = Path(tempfile.mkdtemp(prefix="ichain-workloads-"))
    os.environ.setdefault("ICHAIN_HOME", str(work / "home"))
    server, index_url = serve(build_index(work / "index"))
    try:
        sandbox = Sandbox(engine.client(), Settings().docker_image, gpus=[], package_index=index_url)
        figures = deps_figures(sandbox, index_url, work)
        print(f"deps: {figures}", flush=True)
        bare = bare_figures(sandbox, work)
        print(f"bare: {bare}", flush=True)
        figures.update(bare)
        if not args.skip_market:
            # the market's parties do execute, the provider's own check, the validator's check
            bare_work = bare["bare_execute_s"] + 2 * bare["bare_check_s"]
            market = market_figures(index_url, work, bare_work)
            figures.update(market)
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
