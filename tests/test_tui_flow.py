"""The whole requester flow in the TUI, keyboard only, against real agents: anvil, two headless
provider processes, the real Docker engine, direct transport."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from market_helpers import LocalMarket
from tui_screens import OURS, wait_for

from ichain_tui import locations
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.network import connect
from ichain_tui.chain.types import TaskState
from ichain_tui.chain.wallet import Wallet
from ichain_tui.config import Settings
from ichain_tui.session import Session
from ichain_tui.tui.app import IchainApp
from ichain_tui.tui.screens.confirm import ConfirmScreen
from ichain_tui.tui.screens.picker import PickerScreen
from ichain_tui.tui.screens.rating import RatingScreen
from ichain_tui.tui.screens.transfers import TransfersPane

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tasks"
PASSWORD = "flowtestpassword"


async def idle(pilot) -> None:
    await wait_for(
        pilot,
        lambda: not any(w.is_running and w.group in OURS - {"follow"} for w in pilot.app.workers),
        30,
        "workers",
    )
    await pilot.pause(0.1)


async def test_requester_walks_a_task_from_folder_to_rating(sandbox, tmp_path):
    with Devnet(accounts=8) as devnet:
        market = LocalMarket(devnet, tmp_path)
        try:
            market.provider(1).start()
            market.provider(2).start()
            market.wait_registered(2)
            wallet = Wallet(tmp_path / "keystores")
            wallet.import_private_key(market.keys[5], PASSWORD)
            requester = Account.from_key(market.keys[5]).address

            def session():
                return Session(
                    Settings(network=devnet.url, chunks=2),
                    chain=connect(devnet.url),
                    market_address=market.address,
                    wallet=wallet,
                )

            app = IchainApp(session, start_folder=EXAMPLES, refresh_seconds=0)
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: app.session is not None, 20, "connection")
                await pilot.press("u")
                await pilot.pause()
                await pilot.press(*PASSWORD, "enter")
                # opening a keystore takes seconds on purpose, longer on a loaded machine
                await wait_for(pilot, lambda: app.session.address is not None, 60, "unlocked")
                await idle(pilot)
                assert app.session.address == requester

                await pilot.press("s")
                await pilot.pause()
                for _ in range(6):  # Tab until the folder tree has the focus
                    if app.focused is not None and app.focused.id == "folders":
                        break
                    await pilot.press("tab")
                assert app.focused.id == "folders"
                await pilot.press("down", "enter")  # examples/tasks -> digits
                await idle(pilot)
                assert app.query_one("SubmitPane").folder.name == "digits"

                await pilot.press("a")
                await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen), 20, "picker")
                await pilot.press("enter")
                await pilot.pause()
                provider = app.query_one("SubmitPane").provider
                assert provider in (market.providers[0].account.address, market.providers[1].account.address)

                await pilot.press("ctrl+s")
                await wait_for(
                    pilot,
                    lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
                    20,
                    "gas preview",
                )
                assert app.screen.preview.gas > 100_000
                await pilot.press("enter")

                await wait_for(
                    pilot,
                    lambda: isinstance(app.screen, RatingScreen) and app.screen.query("#rating-result"),
                    180,
                    "a pass and the rating (its dialog composed)",
                )
                pane = app.query_one(TransfersPane)
                bars = pane.chunks
                assert bars and all(p.state in ("verified", "sent") for p in bars.values())
                assert {t.direction for t in pane.transfers.values()} == {"up", "down"}  # task out, result in
                # the whole result path is in the dialog and the session log; the toast stays short
                kept = locations.work_dir() / "results" / market.market.scope / "task-1"
                assert str(kept) in str(app.screen.query_one("#rating-result").render())
                assert any(str(kept) in entry for entry in app.session_log)
                assert all(str(kept) not in n.message for n in app._notifications)
                await pilot.press("4", "enter")
                # the rating is a transaction: previewed like every other, sent only on Enter
                await wait_for(
                    pilot,
                    lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
                    20,
                    "the rating's preview",
                )
                assert 50_000 < app.screen.preview.gas < 200_000 and "Rate 4/5?" in app.screen.title_text
                assert any("already paid" in line for line in app.screen.lines)
                assert market.market.task(1).state is not TaskState.CLOSED  # nothing sent yet
                await pilot.press("enter")
                await wait_for(
                    pilot, lambda: market.market.task(1).state is TaskState.CLOSED, 60, "the rating"
                )
                await idle(pilot)

                rating = market.market.rating(provider)
                assert (rating.count, rating.average, rating.validated) == (1, 4, 1)
                assert not pane.transfers and "done" in str(pane.query_one("#total").render())  # task over
                assert (
                    locations.work_dir() / "results" / market.market.scope / "task-1" / "metrics.json"
                ).exists()
                app.exit()
        finally:
            market.close()
