"""Recipes that bring the TUI to each of its screens with deterministic data; used by the snapshot
tests and by scripts/screenshots.py (one SVG per screen)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from tui_harness import build_market, make_session

from ichain_tui.chain.errors import NodeUnreachable
from ichain_tui.chain.types import GasPreview
from ichain_tui.transfer.progress import ChunkProgress
from ichain_tui.tui import app as app_module
from ichain_tui.tui.app import IchainApp
from ichain_tui.tui.messages import ViewsRead
from ichain_tui.tui.screens.confirm import ConfirmScreen
from ichain_tui.tui.screens.rating import RatingScreen
from ichain_tui.tui.screens.transfers import TransfersPane
from ichain_tui.tui.screens.unlock import UnlockScreen

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tasks"
OURS = {
    "connect",
    "refresh",
    "wallet",
    "preview",
    "picker",
    "submit",
    "follow",
    "finalize",
    "detail",
    "task-action",
}
_MARKET = None


def market():
    global _MARKET
    if _MARKET is None:
        _MARKET = build_market()
    return _MARKET


class SnapshotApp(IchainApp):
    """The app with the block height in its status line pinned: the shared chain's height
    depends on which screens were drawn before, in whichever worker."""

    CSS_PATH = Path(app_module.__file__).with_name("app.tcss")  # relative paths follow the subclass

    def on_views_read(self, message: ViewsRead) -> None:
        message.wallet = replace(message.wallet, block=12, block_time=0)
        super().on_views_read(message)


def make_app(tmp: Path, screen: str = "") -> IchainApp:
    """The app a recipe starts from: connected to the shared market, or (first run) to no node."""
    if screen in OFFLINE:

        def unreachable():
            raise NodeUnreachable("cannot reach the node at http://127.0.0.1:8545: connection refused")

        return SnapshotApp(unreachable, start_folder=EXAMPLES, refresh_seconds=0)
    chain, m, _ = market()
    return SnapshotApp(lambda: make_session(tmp, chain, m), start_folder=EXAMPLES, refresh_seconds=0)


async def wait_for(pilot, predicate, seconds: float, what: str) -> None:
    """Let the app run until `predicate()` holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def settle(pilot, seconds: float = 15.0) -> None:
    app = pilot.app
    deadline = time.monotonic() + seconds
    await pilot.pause()
    while (
        app.session is None or any(w.is_running and w.group in OURS for w in app.workers)
    ) and time.monotonic() < deadline:
        await pilot.pause(0.05)
    await pilot.pause(0.1)


async def tab(pilot, key: str) -> None:
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)


async def pools(pilot):
    await tab(pilot, "p")


async def wallet(pilot):
    await tab(pilot, "w")


async def submit(pilot):
    await tab(pilot, "s")
    app = pilot.app
    app.preview_folder(EXAMPLES / "digits")
    await settle(pilot)
    _chain, m, accounts = market()
    info = m.provider(accounts["alice"].address)
    app.query_one("SubmitPane").show_provider(
        info.address, info.rate_per_hour, info.price_for(600), info.hardware
    )
    # the root changes with every sealing (fresh key): show a fixed one in pictures
    app.query_one("SubmitPane").show_task(
        EXAMPLES / "digits",
        app.preview.size,
        app.preview.chunks,
        "0" * 64,
        "limits: 300 s · 512 MB · 1 CPU · GPUs 0",
    )
    await pilot.pause()


async def transfers(pilot):
    await tab(pilot, "t")
    pane = pilot.app.query_one(TransfersPane)
    pane.ticker.pause()  # rates from the fixed times below, not from the clock
    pane.hosting("files are served at 127.0.0.1:40021 (0.0 s)")
    root = "ab" * 32
    upload = "ef" * 32
    pane.name_transfer(upload, "task 3 · task files to the provider", "up", 3)
    pane.update_chunk(ChunkProgress(upload, 0, 0, 2_097_152, "sending", direction="up"), now=100.0)
    pane.update_chunk(ChunkProgress(upload, 0, 1_048_576, 2_097_152, "sending", direction="up"), now=101.0)
    pane.update_chunk(ChunkProgress(upload, 0, 1_572_864, 2_097_152, "sending", direction="up"), now=102.5)
    pane.name_transfer("cd" * 32, "task 2 · result from its host")
    pane.update_chunk(ChunkProgress("cd" * 32, 0, 0, 1_048_576, "waiting"), now=95.0)
    pane.update_chunk(ChunkProgress("cd" * 32, 0, 1_048_576, 1_048_576, "verified"), now=95.5)
    pane.name_transfer(root, "task 3 · result from its host")
    states = [
        (0, 4_194_360, "verified"),
        (1, 3_100_000, "downloading"),
        (2, 1_200_000, "retrying"),
        (3, 0, "waiting"),
    ]
    for index, _, _ in states:
        pane.update_chunk(ChunkProgress(root, index, 0, 4_194_360, "waiting"), now=100.0)
    for index, done, state in states:
        pane.update_chunk(
            ChunkProgress(root, index, done, 4_194_360, state, 2 if state == "retrying" else 1), now=104.0
        )
    await pilot.pause()


async def tasks(pilot):
    await tab(pilot, "k")


async def provider(pilot):
    """The dashboard of a provider with 4 slots: two tasks running, one queued, one validation."""
    from ichain_tui.agents.jobs import JobView
    from ichain_tui.sandbox.runner import RunUsage
    from ichain_tui.tui.screens.provider import ProviderPane

    await tab(pilot, "v")
    pane = pilot.app.query_one(ProviderPane)
    pane.show(True, 7, 3 * 10**16, 5 * 10**17)
    pane.show_progress(7, {"epoch": 3, "loss": 0.412})
    pane.show_slots(
        [
            JobView("execute", 7, "executing", 0, (0,), 312.0, 7200.0, "epoch 3, loss 0.412", 2.0),
            JobView("execute", 9, "fetching", 1, (1,), 0.0, 3600.0, "", None),
            JobView("execute", 11, "waiting for a slot", None, (), 0.0, 600.0, "", None),
            JobView("validate", 8, "checking", None, (), 0.0, 0.0, "", None),
        ],
        4,
    )
    pane.show_usage(7, [RunUsage("execute", 312.0, 0.98, 812 * 2**20, 2048 * 2**20)])
    pane.show_earnings([10**16, 2 * 10**16])
    pane.log_line("[slot 0] task 7: executing (sandbox: 7200 s, 2048 MB, 1 CPU)")
    await pilot.pause()


def example_sweep(sweep_id: str = "3f9c21ab"):
    """A sweep of 6 runs in every state, with loss curves (deterministic data)."""
    from ichain_tui.agents.sweep_state import Attempt, Run, SweepState

    spec = {
        "grid": {"lr": [0.3, 0.1, 0.03], "seed": [1, 2]},
        "listed": [],
        "max_parallel": 8,
        "max_retries": 2,
        "budget_wei": 10**17,
        "metric": "loss",
        "goal": "min",
    }
    state = SweepState(sweep_id, "31337-0x5fbd", "0xa16B", "/home/ada/sweep-regression", spec, 1, 120)
    providers = ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"]
    for i, (lr, seed) in enumerate([(0.3, 1), (0.3, 2), (0.1, 1), (0.1, 2), (0.03, 1), (0.03, 2)]):
        run = Run(i, {"lr": lr, "seed": seed})
        curve = [round(3.0 * (1 - lr) ** step + 0.01 * seed, 4) for step in range(1, 21)]
        cost = 366666666666667
        if i < 3:
            run.status, run.history, run.metrics = "done", curve, {"loss": curve[-1]}
            run.attempts = [Attempt(i + 1, providers[i % 2], cost, cost // 10, outcome="paid")]
        elif i == 3:
            run.status, run.history, run.progress = (
                "live",
                curve[:12],
                {"epoch": 12, "epochs": 20, "loss": curve[11]},
            )
            run.attempts = [
                Attempt(4, providers[0], cost, cost // 10, outcome="cancelled"),
                Attempt(7, providers[1], cost, cost // 10),
            ]
        elif i == 4:
            run.status, run.history, run.progress = (
                "live",
                curve[:5],
                {"epoch": 5, "epochs": 20, "loss": curve[4]},
            )
            run.attempts = [Attempt(5, providers[0], cost, cost // 10)]
        else:
            run.status = "pending"
        state.runs.append(run)
    state.requester_txs = 2
    return state


async def sweep(pilot):
    """The Sweep view (S) of the example sweep."""
    from ichain_tui.tui.screens.sweep import SweepScreen

    await settle(pilot)
    pilot.app.push_screen(SweepScreen([example_sweep()]))
    await pilot.pause(0.3)


async def picker(pilot):
    await tab(pilot, "s")
    await pilot.press("a")
    await settle(pilot)


async def validator_picker(pilot):
    await tab(pilot, "s")
    await pilot.press("a")
    await settle(pilot)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press("b")
    await settle(pilot)


async def rating(pilot):
    await settle(pilot)
    result = Path("/home/ada/.local/share/ichain/work/results/31337-0x5FbD…0aa3/task-1")
    pilot.app.push_screen(RatingScreen(1, "0x3d8C0C9bFc8E0C9A3b5cB0b4E1fC5d2a0C2C0e2b", result))
    await pilot.pause()
    await pilot.press("4")
    await pilot.pause()


async def confirm(pilot):
    await settle(pilot)
    preview = GasPreview(
        "createTask", 162_988, 2_000_000_000, 1_000_000_000, 500_000_000, 21_000_000_000_000_000
    )
    pilot.app.push_screen(
        ConfirmScreen(
            "Create the task?",
            preview,
            [
                "task digits → provider 0x3d8C…0e2b",
                "payment 0.0200 ETH + validator fee 0.0010 ETH; windows 3600 s / 3600 s",
            ],
        )
    )
    await pilot.pause()


async def help_screen(pilot):
    await settle(pilot)
    await pilot.press("question_mark")
    await pilot.pause()


async def task_detail(pilot):
    from ichain_tui.tui.screens.tasks import TaskDetailScreen

    await tab(pilot, "p")
    pilot.app.open_task(1)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TaskDetailScreen), 10, "the task detail")
    await pilot.pause(0.1)


async def policy(pilot):
    from ichain_tui.tui.screens.policy import PolicyScreen

    await tab(pilot, "v")
    effective = {
        "max_memory_mb": 12000,
        "max_cpus": 2.0,
        "max_pids": 4096,
        "max_time_s": 86400.0,
        "max_output_mb": 16384,
        "max_output_files": 20000,
        "disk_reserve_mb": 4096,
        "allowed_images": "ichain-runtime:bookworm",
        "max_gpus": 0,
        "container_runtime": "runc",
    }
    pilot.app.push_screen(PolicyScreen({"max_memory_mb": 2048, "container_runtime": "runsc"}, effective))
    await pilot.pause()


async def session_log(pilot):
    """The log view with fixed entries (times would differ from run to run)."""
    from ichain_tui.tui.screens.log import LogScreen

    await settle(pilot)
    pilot.app.push_screen(
        LogScreen(
            [
                "14:02:11 Validators: pick a provider first (a): a validator must be someone else",
                "14:03:40 provider · task 7: declined: the task asks for 65536 MB of memory; this provider allows 12000",
                "14:05:02 Submit: unexpected KeyError: 'payment' (l shows the details)",
                "         Traceback (most recent call last):",
                '           File "submit_actions.py", line 122, in action_submit',
                "         KeyError: 'payment'",
            ]
        )
    )
    await pilot.pause()


async def first_run(pilot):
    """No node answers and no keystore yet: the Wallet tab says what to do."""
    await wait_for(pilot, lambda: pilot.app._not_connected is not None, 10, "not connected")
    await pilot.press("w")
    await pilot.pause()


async def connect_dialog(pilot):
    from ichain_tui.tui.screens.connect import ConnectScreen

    await wait_for(pilot, lambda: pilot.app._not_connected is not None, 10, "not connected")
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConnectScreen), 10, "the connect dialog")
    await pilot.pause()


async def unlock(pilot):
    await settle(pilot)
    pilot.app.push_screen(UnlockScreen("import"))
    await pilot.pause()


SCREENS = {
    "pools": pools,
    "wallet": wallet,
    "submit": submit,
    "transfers": transfers,
    "tasks": tasks,
    "provider": provider,
    "picker": picker,
    "sweep": sweep,
    "validator_picker": validator_picker,
    "rating": rating,
    "confirm": confirm,
    "help": help_screen,
    "task_detail": task_detail,
    "unlock": unlock,
    "policy": policy,
    "log": session_log,
    "first_run": first_run,
    "connect": connect_dialog,
}
OFFLINE = {"first_run", "connect"}
