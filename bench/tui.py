"""The TUI on a crowded market: an anvil with 1,000 providers and 10,000 tasks (bench/big_market.py,
about three minutes to send), then the real app, headless (Textual's `run_test`), at 120x40.

- pools_open_s: from the app's start to the pool viewer holding every task and provider (connect,
  the whole history's logs, 1,000 ratings, 11,000 rows), timed in the app where the rows are put
  (a test loop polling every 10 ms took the worker's GIL and added about a second). Target <= 2.
- pools_update_s: one new task on the chain to its row in the open viewer (the viewer looks for a
  new block each second, so up to ~1 s of it is the wait for the next look).
- keypress_to_paint_ms: median over 60 cursor moves in the provider picker (1,000 rows) from the
  key to the first screen update composed after it (`App._display`, where a terminal would be
  written; Pilot's own waiting afterwards is not counted); p90 alongside. Target (median) <= 50.
- pools_scroll_ms: the same for 30 page-downs through the 10,000-task table.
- quit_s (node up / node killed): `ichain demo`'s whole shutdown with 3 provider processes on
  anvil, from `q` to the shell's prompt (the app closed, the providers and anvil stopped); once
  with the node answering, once after anvil was killed. Target <= 2 each. `--quit-only` runs
  just these.

Last line JSON.

    python bench/tui.py [--providers 1000] [--tasks 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from big_market import PAYMENT, key, populate

from ichain_tui.chain.devnet import Devnet


def painting_app(base):
    """`base` recording when each screen update is composed (what a terminal would be sent)."""

    class Painting(base):
        CSS_PATH = Path(sys.modules[base.__module__].__file__).with_name(base.CSS_PATH)
        painted: list[float]

        def _display(self, screen, renderable) -> None:
            if renderable is not None:
                self.painted.append(time.perf_counter())
            super()._display(screen, renderable)

    return Painting


async def press_timed(pilot, key_name: str) -> float:
    """From the key to the first screen update composed after it, in ms (the test harness's
    own waiting after that is not counted)."""
    app = pilot.app
    app.painted = []
    started = time.perf_counter()
    await pilot.press(key_name)
    await pilot.pause()
    after = [t for t in app.painted if t >= started]
    if not after:
        raise SystemExit(f"no screen update after {key_name}")
    return (after[0] - started) * 1000


async def drive(url: str, market: str, tasks: int, providers: int) -> dict[str, float]:
    from ichain_tui.chain.wallet import Wallet
    from ichain_tui.config import Settings
    from ichain_tui.session import Session
    from ichain_tui.tui.app import IchainApp
    from ichain_tui.tui.screens.picker import PickerScreen
    from ichain_tui.tui.screens.pools import PoolsPane

    home = Path(tempfile.mkdtemp(prefix="ichain-bench-tui-"))
    os.environ["ICHAIN_HOME"] = str(home)
    wallet = Wallet(home / "keystores")
    requester = key("requester-1")  # funded, no tasks of its own
    wallet.import_private_key(requester.key.hex(), "bench-password")

    def session() -> Session:  # locked, as the app starts (unlocking is the user's scrypt second)
        return Session(Settings(network=url, market=market), wallet=wallet)

    app = painting_app(IchainApp)(session, refresh_seconds=1.0)
    app.painted = []
    filled: list[float] = []  # when the viewer first held every row (taken in the app, not polled)
    show = PoolsPane.show

    def timed_show(pane, *args, **kwargs):
        show(pane, *args, **kwargs)
        full = pane.query_one("#pool-tasks").row_count >= tasks
        if not filled and full and pane.query_one("#pool-providers").row_count >= providers:
            filled.append(time.perf_counter())

    PoolsPane.show = timed_show  # the bench's own probe: polling often would slow the app down
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#pool-tasks")
        registered = app.query_one("#pool-providers")
        while not filled:
            await pilot.pause(0.25)
            if time.perf_counter() - started > 120:
                raise SystemExit(
                    f"the pools did not fill: {table.row_count} tasks, {registered.row_count} providers"
                )
        pools_open_s = filled[0] - started
        PoolsPane.show = show

        # one new task, seen by the open viewer
        s = app.session
        s.unlock("bench-password")
        provider = next(c for c in s.providers() if c.provider.available)
        from ichain_tui.chain.types import ValidatorMode
        from ichain_tui.chain.wallet import public_key

        created = time.perf_counter()
        s.market.create_task(
            provider=provider.address,
            payment=PAYMENT,
            mode=ValidatorMode.NONE,
            task_root=os.urandom(32),
            requester_key=public_key(requester),
        ).send()
        while table.row_count < tasks + 1:
            await pilot.pause(0.01)
        pools_update_s = time.perf_counter() - created

        table.focus()
        scroll = [await press_timed(pilot, "pagedown") for _ in range(30)]

        await pilot.press("s")
        await pilot.press("a")  # the provider picker
        while not isinstance(app.screen, PickerScreen):
            await pilot.pause(0.01)
        picker_table = app.screen.query_one("#providers")
        while picker_table.row_count == 0:
            await pilot.pause(0.01)
        moves = [await press_timed(pilot, "down") for _ in range(60)]
        await pilot.press("escape")
    return {
        "pools_open_s": round(pools_open_s, 2),
        "pools_update_s": round(pools_update_s, 2),
        "keypress_to_paint_ms": round(statistics.median(moves), 1),
        "keypress_to_paint_p90_ms": round(sorted(moves)[int(len(moves) * 0.9)], 1),
        "picker_rows": picker_table.row_count,
        "pools_scroll_ms": round(statistics.median(scroll), 1),
    }


async def demo_quit(kill_node: bool) -> float:
    """Seconds from q to everything of `ichain demo` stopped (what the demo does after its TUI)."""
    from ichain_tui.agents.localnet import LocalMarket
    from ichain_tui.bundled import examples_dir
    from ichain_tui.commands.demo import QUIT_GRACE_S, demo_app

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["ICHAIN_HOME"] = str(base / "home")
        devnet = Devnet(accounts=5).start()
        market = LocalMarket(devnet, base)
        for i in (1, 2, 3):
            market.provider(i).start()
        market.wait_registered(3, timeout=120)
        app = demo_app(market, examples_dir() / "tasks" / "digits", base / "kept")
        async with app.run_test(size=(80, 24)) as pilot:
            while app.session is None or app.session.address is None:
                await pilot.pause(0.1)
            await pilot.pause(1.0)
            if kill_node:
                devnet.process.kill()
                await pilot.pause(2.0)
            start = time.monotonic()
            await pilot.press("q")
        market.close(QUIT_GRACE_S)
        devnet.stop()
        return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--url", help="an anvil already populated by big_market.populate (with --market)")
    parser.add_argument("--market", help="its market address")
    parser.add_argument("--quit-only", action="store_true", help="only the demo's quit_s figures")
    args = parser.parse_args()
    quits = {
        "quit_s_node_up": round(asyncio.run(demo_quit(False)), 2),
        "quit_s_node_killed": round(asyncio.run(demo_quit(True)), 2),
    }
    print(f"quit: {quits}", flush=True)
    if args.quit_only:
        print(json.dumps(quits))
        return
    if args.url:
        figures = {"providers": args.providers, "tasks": args.tasks}
        result = asyncio.run(drive(args.url, args.market, args.tasks, args.providers))
    else:
        with Devnet() as node:
            market, figures = populate(node.url, args.providers, args.tasks)
            print(f"populated: {figures}", flush=True)
            result = asyncio.run(drive(node.url, market, args.tasks, args.providers))
    print(json.dumps({**figures, **result, **quits}))


if __name__ == "__main__":
    main()
