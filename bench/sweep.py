"""Sweeps (issue 24): on anvil with 4 headless providers of 2 slots (and 2 queue places) each, a
4 x 4 grid of a sleep-bound task (about 20 s) over a 256 MB dataset (its own key, sealed once).

- `run_alone_s`: one run of the same task alone on a fresh provider (dataset fetched), end to end.
- `sweep_efficiency` = (2 rounds x `run_alone_s`) / the sweep's wall time (target >= 0.7: 16 runs
  on 8 slots are 2 rounds at best).
- `dataset_moved_ratio` = dataset bytes the requester's chunk server sent / (providers used x its
  sealed size) (target <= 1: once per provider).
- `sweep_requester_txs`: the requester's transactions for the whole sweep, from its nonce (target 2).
- A second sweep with one provider killed (SIGKILL) as the first round runs; the chain clock is
  moved past the dead provider's deadlines once nothing else is waiting: `runs_collected` (target
  16), `wei_lost` (target 0: balance before - after = paid runs' escrow + gas), `retries`.
- `sweep_view_update_ms`: the TUI's Sweep view, a run's progress report posted to its row
  repainted (median of 30; target <= 100).

Last line JSON with those keys.

    python bench/sweep.py [--dataset-mb 256] [--sleep 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def make_task(root: Path, sleep: float, dataset_mb: int) -> Path:
    """A task that reads its dataset's size, sleeps `sleep` seconds reporting progress, and writes
    metrics; its check recomputes the size."""
    root.mkdir(parents=True)
    data = root / "data"
    data.mkdir()
    chunk = os.urandom(1 << 20)
    with open(data / "blob.bin", "wb") as f:
        for _ in range(dataset_mb):
            f.write(chunk)
    (root / "task.py").write_text(
        f"""
import json, os, sys, time
from pathlib import Path
mode, out = sys.argv[1], Path(sys.argv[2])
size = sum(p.stat().st_size for p in Path(os.environ["ICHAIN_DATASET"]).rglob("*") if p.is_file())
params = json.loads(os.environ.get("ICHAIN_PARAMS") or "{{}}")
if mode == "execute":
    for step in range(1, 11):
        time.sleep({sleep} / 10)
        print("ICHAIN_PROGRESS " + json.dumps({{"epoch": step, "epochs": 10, "loss": params["lr"] / step}}), flush=True)
    (out / "metrics.json").write_text(json.dumps({{"loss": params["lr"] / 10, "size": size}}))
else:
    sys.exit(0 if json.loads((out / "metrics.json").read_text())["size"] == size else 1)
"""
    )
    (root / "ichain.toml").write_text(
        f'time_limit = {int(sleep) + 60}\nmemory_mb = 256\ncpus = 0.25\ndataset = "data"\n'
        '[sweep]\nlr = [0.4, 0.3, 0.2, 0.1]\nseed = [1, 2, 3, 4]\nmetric = "loss"\ngoal = "min"\n'
    )
    return root


def sweep(m, requester_index: int, folder: Path, base: Path, on_state=None, **spec_kw):
    from ichain_tui.agents.sweep import SweepRunner
    from ichain_tui.agents.sweep_spec import build
    from ichain_tui.sandbox.taskspec import load_task

    task = load_task(folder)
    requester = m.requester(requester_index)
    spec = build(task.sweep, **spec_kw)
    runner = SweepRunner.new(requester, folder, task, spec, base / f"results-{requester_index}")
    runner.host()
    runner.preview()
    return requester, runner


def gas_paid(m, address: str, start: int, end: int) -> int:
    w3 = m.chain.w3
    total = 0
    for number in range(start, end + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block.transactions:
            if tx["from"] == address:
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                total += receipt["gasUsed"] * receipt["effectiveGasPrice"]
    return total


def alone(m, folder: Path, base: Path) -> float:
    """One run on a provider of its own (its dataset fetched), submit to result."""
    _requester, runner = sweep(m, 9, folder, base, grid_args=["lr=0.4", "seed=1"])
    started = time.monotonic()
    state = runner.run()
    assert state.runs[0].status == "done", state.runs[0]
    return time.monotonic() - started


def nudge_past_the_dead(m, runner, dead: str, stop: threading.Event) -> None:
    """While the sweep waits only on the dead provider (its tasks, or validations it was drawn
    for), move the chain clock past the earliest such deadline."""
    from ichain_tui.agents.sweep_state import LIVE
    from ichain_tui.chain.types import TaskState

    while not stop.wait(3):
        live = [r for r in runner.state.runs if r.status == LIVE and r.task_id]
        if not live:
            continue
        tasks = [m.market.task(r.task_id) for r in live]
        waiting_on_dead = [
            t
            for t in tasks
            if (t.state is TaskState.ASSIGNED and t.provider == dead)
            or (t.state in (TaskState.VALIDATING, TaskState.APPEALED) and t.validator == dead)
        ]
        if waiting_on_dead and len(waiting_on_dead) == len(tasks):
            now = m.chain.timestamp()
            due = min(t.deadline for t in waiting_on_dead)
            if due >= now:
                m.chain.advance_time(due - now + 2)


async def view_update_ms() -> float:
    from tui_harness import build_market, market_app
    from tui_screens import example_sweep

    from ichain_tui.tui.screens.sweep import SweepScreen
    from ichain_tui.tui.sweep_actions import SweepChanged

    chain, m, _ = build_market()
    app = market_app(chain, m, Path(tempfile.mkdtemp()))
    samples = []
    async with app.run_test(size=(100, 30)) as pilot:
        state = example_sweep()
        app.push_screen(SweepScreen([state]))
        await pilot.pause(0.5)
        table = app.screen.query_one("#sweep-runs")
        run = state.runs[4]
        for i in range(30):
            run.progress = {"epoch": i % 20 + 1, "epochs": 20, "loss": 1.0 / (i + 1)}
            run.history.append(1.0 / (i + 1))
            wanted = f"{(i % 20 + 1) / 20:4.0%}"
            started = time.perf_counter()
            app.post_message(SweepChanged(state, 4))
            while wanted not in str(table.get_row_at(4)[4]):
                await asyncio.sleep(0.001)
            await pilot.pause()  # the frame with the new cell
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-mb", type=int, default=256)
    parser.add_argument("--sleep", type=float, default=20.0)
    args = parser.parse_args()
    os.environ["ICHAIN_HOME"] = tempfile.mkdtemp(prefix="ichain-sweep-home-")
    from market_helpers import LocalMarket

    from ichain_tui.chain.devnet import Devnet

    base = Path(tempfile.mkdtemp(prefix="ichain-sweep-"))
    folder = make_task(base / "task", args.sleep, args.dataset_mb)
    figures: dict[str, object] = {"sweep_view_update_ms": round(asyncio.run(view_update_ms()), 1)}
    print(f"view: {figures}", flush=True)
    with Devnet(accounts=12) as devnet:
        m = LocalMarket(devnet, base)
        try:
            providers = [m.provider(i, slots=2, queue=2).start() for i in (1, 2, 3, 4)]
            lone = m.provider(5, rate_eth="0.001", slots=1).start()  # the cheapest: the lone run goes there
            m.wait_registered(5)
            figures["run_alone_s"] = round(alone(m, folder, base), 1)
            print(f"alone: {figures}", flush=True)
            lone.terminate()  # out of the pool (it stops providing) for the sweeps

            requester, runner = sweep(m, 6, folder, base, max_parallel=16)
            nonce = m.chain.w3.eth.get_transaction_count(requester.me)
            started = time.monotonic()
            state = runner.run()
            wall = time.monotonic() - started
            assert all(r.status == "done" for r in state.runs), [r.status for r in state.runs]
            used = {a.provider for r in state.runs for a in r.attempts}
            moved = requester.host.server.sent_bytes(state.dataset["root"])
            figures.update(
                sweep_wall_s=round(wall, 1),
                sweep_efficiency=round(2 * figures["run_alone_s"] / wall, 2),  # type: ignore[operator]
                dataset_sealed_mb=round(state.dataset["sealed_bytes"] / 2**20, 1),
                providers_used=len(used),
                dataset_moved_ratio=round(moved / (len(used) * state.dataset["sealed_bytes"]), 2),
                sweep_requester_txs=m.chain.w3.eth.get_transaction_count(requester.me) - nonce,
            )
            print(f"sweep: {figures}", flush=True)

            requester, runner = sweep(m, 7, folder, base, max_parallel=16)
            balance = m.chain.balance(requester.me)
            start_block = m.chain.block_number()
            stop = threading.Event()
            dead = providers[3]
            killer = threading.Thread(target=lambda: (time.sleep(args.sleep / 2), dead.kill()), daemon=True)
            killer.start()
            nudger = threading.Thread(
                target=nudge_past_the_dead, args=(m, runner, dead.account.address, stop), daemon=True
            )
            nudger.start()
            state = runner.run()
            stop.set()
            paid = sum(a.payment + a.fee for r in state.runs for a in r.attempts if a.outcome == "paid")
            gas = gas_paid(m, requester.me, start_block, m.chain.block_number())
            figures.update(
                runs_collected=sum(
                    1
                    for r in state.runs
                    if r.status == "done" and Path(r.result_dir, "metrics.json").is_file()
                ),
                retries=sum(r.retries for r in state.runs),
                wei_lost=balance
                - m.chain.balance(requester.me)
                - paid
                - gas
                - m.market.credits(requester.me),
                credits_left=m.market.credits(requester.me),
            )
        finally:
            m.close(grace=10)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
