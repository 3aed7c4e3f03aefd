"""Pilot tests of the TUI on a real chain: keyboard-only flows, errors as notifications."""

from __future__ import annotations

import re
import threading
import time

import pytest
from tui_harness import PASSWORD, build_market, make_session, market_app
from tui_screens import settle as settle_workers
from tui_screens import wait_for

from ichain_tui.tui.app import IchainApp
from ichain_tui.tui.screens.confirm import ConfirmScreen
from ichain_tui.tui.screens.picker import PickerScreen
from ichain_tui.tui.screens.pools import PoolsPane
from ichain_tui.tui.screens.unlock import UnlockScreen


@pytest.fixture(scope="module")
def market():
    return build_market()


async def settle(pilot, app, seconds: float = 10.0) -> None:
    """Wait until none of the app's own workers runs (chain calls are in threads)."""
    await settle_workers(pilot, seconds)


async def test_pools_show_tasks_and_providers(market, tmp_path):
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(PoolsPane)
        tasks = pane.query_one("#pool-tasks")
        assert tasks.row_count == 3
        assert pane.query_one("#pool-providers").row_count == 3
        status = str(app.query_one("#status").render())
        assert "embedded" in status and "ETH" in status


async def test_keys_switch_tabs_and_open_the_picker(market, tmp_path):
    chain, m, accounts = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        for key, tab in (
            ("w", "wallet"),
            ("t", "transfers"),
            ("k", "tasks"),
            ("v", "provider"),
            ("p", "pools"),
        ):
            await pilot.press(key)
            assert app.query_one("TabbedContent").active == tab
        await pilot.press("s", "a")
        await settle(pilot, app)
        assert isinstance(app.screen, PickerScreen)
        table = app.screen.query_one("DataTable")
        assert table.row_count == 3
        first = table.coordinate_to_cell_key((0, 0)).row_key.value
        assert first == accounts["alice"].address  # best rated first
        await pilot.press("o")  # sort by price: carol is cheapest
        assert table.coordinate_to_cell_key((0, 0)).row_key.value == accounts["carol"].address
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one("SubmitPane").provider == accounts["carol"].address


async def test_a_wrong_password_is_said_in_the_dialog_which_asks_again(market, tmp_path):
    """Issue 25: opening a keystore takes seconds; the dialog says "checking…" meanwhile, and a
    wrong password is said in the dialog, which stays open for the next try."""
    chain, m, _ = market
    app = IchainApp(lambda: make_session(tmp_path, chain, m, unlocked=False), refresh_seconds=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        opened = threading.Event()
        real_unlock = app.session.unlock

        def slow_unlock(*args, **kwargs):
            opened.wait(30)
            return real_unlock(*args, **kwargs)

        app.session.unlock = slow_unlock
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockScreen), 10, "the unlock dialog")
        await pilot.pause()
        await pilot.press(*"notthepassword", "enter")
        hint = app.screen.query_one("#unlock-hint")
        await wait_for(pilot, lambda: "checking" in str(hint.render()), 10, "checking…")
        assert app.screen.query_one("#password").disabled
        opened.set()
        await wait_for(pilot, lambda: "wrong password" in str(hint.render()), 30, "the refusal")
        assert isinstance(app.screen, UnlockScreen)
        password = app.screen.query_one("#password")
        await wait_for(pilot, lambda: app.screen.focused is password, 10, "the password field focused")
        assert password.value == "" and not password.disabled
        await pilot.press(*PASSWORD, "enter")
        await wait_for(pilot, lambda: app.session.address is not None, 30, "unlocked")
        await wait_for(pilot, lambda: not isinstance(app.screen, UnlockScreen), 10, "the dialog closed")
        await wait_for(
            pilot, lambda: any("unlocked" in n.message for n in app._notifications), 10, "the toast"
        )


async def test_submit_without_a_folder_explains_what_to_do(market, tmp_path):
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("s", "ctrl+s")
        await settle(pilot, app)
        assert any("choose a task folder" in n.message for n in app._notifications)


async def test_ui_answers_keys_while_a_slow_chain_call_is_in_flight(market, tmp_path):
    chain, m, _ = market

    def slow_session():
        session = make_session(tmp_path, chain, m)
        real_pools = session.pools

        def pools():
            time.sleep(3)  # a slow RPC node
            return real_pools()

        session.pools = pools
        return session

    app = IchainApp(slow_session, refresh_seconds=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, 10, "connection")
        app.action_refresh()
        await pilot.pause(0.2)
        assert any(w.is_running and w.group == "refresh" for w in app.workers)
        await pilot.press("w")
        await pilot.pause()
        # the key was handled while the 3 s call still blocks its worker (no wall-clock bound:
        # timing belongs to bench/tui.py, and a loaded CI machine stretched one to 1.04 s)
        assert app.query_one("TabbedContent").active == "wallet"
        assert any(w.is_running and w.group == "refresh" for w in app.workers)
        await settle(pilot, app)


async def test_enter_on_a_task_opens_its_detail(market, tmp_path):
    from ichain_tui.tui.screens.tasks import TaskDetailScreen

    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.query_one("#pool-tasks").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskDetailScreen), 10, "the task detail")
        assert app.screen.shown.task_id == 3  # first row: the pending task
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TaskDetailScreen)


async def test_provider_dashboard_toggles_providing_on_the_chain(sandbox, tmp_path):
    """`o` on the dashboard runs the same ProviderAgent as `ichain provide --headless`."""
    from tui_harness import build_market as fresh_market

    from ichain_tui.tui.screens.provider import ProviderPane

    chain, m, accounts = fresh_market()
    me = accounts["requester"].address
    app = IchainApp(
        lambda: make_session(tmp_path, chain, m), refresh_seconds=0, sandbox_factory=lambda: sandbox
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("o")  # not on the Provider tab: not offered there, nothing happens
        await settle(pilot, app)
        assert not isinstance(app.screen, ConfirmScreen) and not m.provider(me).registered
        await pilot.press("v", "o")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen) and not m.provider(me).registered  # stake moves only now
        await pilot.press("escape")
        await settle(pilot, app)
        assert not m.provider(me).registered
        await pilot.press("o")
        await settle(pilot, app)
        await wait_for(pilot, lambda: getattr(app.screen, "armed", False), 5, "the dialog ready for keys")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: m.provider(me).registered and "on" in str(app.query_one("#provider-status").render()),
            20,
            "the provider to start",
        )
        info = m.provider(me)
        assert info.available and info.stake == 5 * 10**16 and info.hardware.cpus > 0
        log = app.query_one(ProviderPane).query_one("#provider-log")
        assert any("registered" in str(line) for line in log.lines)
        await pilot.press("o")
        await wait_for(pilot, lambda: not m.provider(me).available, 20, "the provider to stop")
        await settle(pilot, app)
        assert "off" in str(app.query_one("#provider-status").render())


def visible_columns(table) -> list[str]:
    """The labels of the columns wholly on screen without scrolling sideways."""
    x, shown = 0, []
    for column in table.ordered_columns:
        x += column.get_render_width(table)
        if x <= table.scrollable_content_region.width:
            shown.append(str(column.label))
    return shown


async def test_the_validator_can_be_drawn_named_or_none(market, tmp_path):
    """Protocol v2's three choices from the Submit tab: b opens the validator picker with
    "random draw" and "none" first, then the eligible named validators, then, greyed with the
    reason and refused on Enter, those that cannot be (the provider, the requester). At 80x24
    the columns a choice rests on (rating, free stake, the reason) are all on screen."""
    chain, m, accounts = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("s")
        pane = app.query_one("SubmitPane")
        assert pane.validator == "random"
        await pilot.press("b")  # no provider yet: one clear line, no picker
        await settle(pilot, app)
        assert not isinstance(app.screen, PickerScreen)
        await pilot.press("a")
        await settle(pilot, app)
        await pilot.press("enter")  # alice, the best rated
        await pilot.pause()
        assert pane.provider == accounts["alice"].address
        await pilot.press("b")
        await settle(pilot, app)
        assert isinstance(app.screen, PickerScreen)
        table = app.screen.query_one("DataTable")
        keys = [table.coordinate_to_cell_key((row, 0)).row_key.value for row in range(table.row_count)]
        assert keys[:2] == ["random", "none"]
        assert set(keys[2:4]) == {accounts["bob"].address, accounts["carol"].address}
        assert keys[4:] == [accounts["alice"].address]  # greyed, last, with the reason
        note = next(c.key for c in table.ordered_columns if str(c.label) == "note")
        assert str(table.get_cell(accounts["alice"].address, note)) == "the task's provider"
        assert {"address", "rating", "free stake", "note"} <= set(visible_columns(table))
        assert "1 greyed" in str(app.screen.query_one("#picker-hint").render())
        table.move_cursor(row=4)
        await pilot.press("enter")  # refused: the picker stays, a line says why
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        assert any("cannot be chosen: the task's provider" in n.message for n in app._notifications)
        table.move_cursor(row=0)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert pane.validator == "none"
        await pilot.press("b")
        await settle(pilot, app)
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert pane.validator in (accounts["bob"].address, accounts["carol"].address)
        assert "may decline" in str(pane.query_one("#validator-info").render())


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_narrow_terminals_keep_every_tab_and_the_key_columns(market, tmp_path, size):
    """Issue 25: at 60x20 and 80x24 all six tabs are on the tab bar and the pools' provider table
    shows rating, rate, free stake and free slots before the provider's long hardware text."""
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        tabs = list(app.query("Tab"))
        assert len(tabs) == 6 and all(t.region.right <= size[0] for t in tabs)
        if size[0] < 76:
            assert "(" not in tabs[0].label.plain  # the short labels, key letter underlined
        table = app.query_one("#pool-providers")
        assert {"provider", "rating", "rate/h", "free stake", "slots"} <= set(visible_columns(table))
        await pilot.press("v")  # the last tab is reachable and shown
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "provider"


async def test_the_provider_policy_is_edited_and_saved_from_the_dashboard(market, tmp_path, monkeypatch):
    """Issue 10: v then e opens the provider policy; Ctrl+S writes it to the config file; a bad
    value is one clear notification and nothing is written."""
    from ichain_tui import locations
    from ichain_tui.tui.screens.policy import PolicyScreen

    monkeypatch.setenv("ICHAIN_HOME", str(tmp_path / "home"))
    chain, m, _accounts = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("v", "e")
        await pilot.pause()
        assert isinstance(app.screen, PolicyScreen)
        await pilot.press(*"2048")  # the first field: memory per task
        app.screen.query_one("#policy-container_runtime").value = "kata"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PolicyScreen)
        assert not locations.config_file().exists()  # refused: nothing written
        await pilot.press("e")
        await pilot.pause()
        await pilot.press(*"2048")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert locations.config_file().read_text() == "max_memory_mb = 2048\n"


async def test_any_folder_can_be_typed_checked_and_is_remembered(market, tmp_path):
    """Issue 11 (in part): the user's own task folder, anywhere: typed into the path field (→
    completes), checked before anything is sent (a bad one is one line in the form), the tree
    climbs with Backspace, and the folder is remembered for the next session."""
    from sandbox_helpers import make_task

    from ichain_tui.recent import RecentFolders
    from ichain_tui.tui.screens.submit import SubmitPane, TaskFolders

    own = make_task(tmp_path / "work" / "mine", "print('mine')\n", "time_limit = 30\n")
    broken = make_task(tmp_path / "work" / "broken", "print(1)\n", "memory_mb = 'lots'\n")
    chain, m, _accounts = market
    app = IchainApp(lambda: make_session(tmp_path, chain, m), refresh_seconds=0, start_folder=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("s")
        pane = app.query_one(SubmitPane)
        field = pane.query_one("#folder-path")
        field.focus()
        field.value = str(tmp_path / "work" / "mi")
        await pilot.pause(0.3)
        await pilot.press("end", "right")  # → accepts the completion
        assert field.value == str(own.parent) + "/"
        await pilot.press("t")
        await pilot.pause(0.3)
        await pilot.press("end", "right")
        assert field.value == str(own) + "/"
        await pilot.press("enter")
        await settle(pilot, app)
        assert pane.folder == own.resolve()
        assert "limits: 30 s" in str(pane.query_one("#task-info").render())
        assert app.focused is pane.query_one(TaskFolders)  # the keys act again after Enter
        field.focus()
        field.value = str(broken)
        await pilot.press("enter")
        await settle(pilot, app)
        assert pane.folder is None
        problem = str(pane.query_one("#task-info").render())
        assert "memory_mb must be an integer" in problem and "\n" not in problem.strip()
        field.focus()
        field.value = str(tmp_path / "nowhere")
        await pilot.press("enter")
        await pilot.pause()
        assert "no folder at" in str(pane.query_one("#task-info").render())
        tree = pane.query_one(TaskFolders)
        tree.focus()
        before = tree.path
        await pilot.press("backspace")
        await pilot.pause()
        assert tree.path == before.resolve().parent
    assert RecentFolders().load()[0] == own.resolve()


def test_ichain_path_and_ichain_submit_path_open_the_tui_on_that_folder(tmp_path):
    from ichain_tui.cli import _folder_argument, build_parser

    parser = build_parser()
    argv = ["--network", "embedded", str(tmp_path)]
    assert _folder_argument(argv, parser) == str(tmp_path) and argv == ["--network", "embedded"]
    assert _folder_argument(["task", "list"], parser) is None
    args = parser.parse_args(["submit", str(tmp_path)])
    assert args.command == "submit" and args.folder == str(tmp_path)


async def test_bad_amounts_in_the_submit_form_are_one_clear_line(market, tmp_path):
    """Issue 11 (in part): a payment of -1 or 1e400, or a window that is not a number, is one
    line naming the field, never a library dump."""
    from sandbox_helpers import make_task

    from ichain_tui.tui.screens.submit import SubmitPane

    own = make_task(tmp_path / "mine", "print('mine')\n", "time_limit = 30\n")
    chain, m, _accounts = market
    app = IchainApp(lambda: make_session(tmp_path, chain, m), refresh_seconds=0, start_folder=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("s")
        pane = app.query_one(SubmitPane)
        pane.query_one("#folder-path").value = str(own)
        pane.query_one("#folder-path").focus()
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("a")
        await settle(pilot, app)
        await pilot.press("enter")
        await pilot.pause()
        for field, value, told in (
            ("#payment", "-1", "payment cannot be negative"),
            ("#payment", "1e400", "payment is larger than any market can hold"),
            ("#payment", "0.02", None),
            ("#execute-window", "soon", "execute window must be a whole number"),
        ):
            pane.query_one(field).value = value
            if told is None:
                continue
            app._notifications.clear()
            await pilot.press("ctrl+s")
            await settle(pilot, app)
            messages = [n.message for n in app._notifications]
            assert any(told in msg for msg in messages), messages
            assert all("\n" not in msg and len(msg) < 200 for msg in messages), messages


async def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(market, tmp_path):
    import logging

    from ichain_tui import logs

    path = logs.setup("tui", directory=tmp_path / "logs")
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)

        def broken():
            raise KeyError("boom\nsecond line")

        app.run_worker(broken, thread=True, exit_on_error=False, description="Broken")
        await settle(pilot, app)
        messages = [n.message for n in app._notifications]
        assert any(msg.startswith("unexpected KeyError") and "\n" not in msg for msg in messages), messages
    root = logging.getLogger("ichain_tui")
    for handler in list(root.handlers):
        handler.flush()
        if getattr(handler, "ichain_log", False):
            root.removeHandler(handler)
            handler.close()
    text = path.read_text()
    assert "Broken failed" in text and "Traceback" in text and "KeyError" in text


async def test_a_new_user_can_create_a_wallet_before_any_node_answers(tmp_path):
    """Issue 11 (in part): with no chain reachable, w then n still creates a keystore."""
    from ichain_tui import locations
    from ichain_tui.chain.errors import NodeUnreachable
    from ichain_tui.chain.wallet import Wallet

    def unreachable():
        raise NodeUnreachable("node unreachable at http://127.0.0.1:9")

    app = IchainApp(unreachable, refresh_seconds=0, start_folder=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.session is None
        await pilot.press("w", "n")
        await pilot.pause()
        await pilot.press(*"a-long-password", "enter")
        await wait_for(
            pilot, lambda: len(Wallet(locations.keystore_dir()).entries()) == 1, 60, "the keystore"
        )
    account = Wallet(locations.keystore_dir()).unlock("a-long-password")
    assert account.address == Wallet(locations.keystore_dir()).entries()[0].address


async def test_the_status_bar_says_when_the_node_is_away_and_r_reconnects(tmp_path):
    """Issues 11 and 14: not connected says why and that r retries; a node going away mid-session
    shows in the status bar (with the time of the last balance), not as a toast every refresh."""
    from eth_account import Account
    from rpc_proxy import SwitchableProxy
    from textual.widgets import Static

    from ichain_tui.chain.client import MarketClient
    from ichain_tui.chain.devnet import Devnet
    from ichain_tui.chain.errors import NodeUnreachable
    from ichain_tui.chain.network import connect
    from ichain_tui.chain.wallet import Wallet
    from ichain_tui.config import Settings
    from ichain_tui.session import Session

    with Devnet(accounts=2) as devnet:
        keys = devnet.dev_keys()
        market = MarketClient.deploy(connect(devnet.url), Account.from_key(keys[0]))
        proxy = SwitchableProxy("127.0.0.1", devnet.port)
        attempts = []

        def factory():
            attempts.append(1)
            if len(attempts) == 1:
                raise NodeUnreachable(f"cannot reach the node at {proxy.url}: connection refused")
            chain = connect(proxy.url, patience=1.5)
            wallet = Wallet(tmp_path / "keystores")
            wallet.import_private_key(keys[1], PASSWORD)
            session = Session(
                Settings(network=proxy.url), chain=chain, market_address=market.address, wallet=wallet
            )
            session.unlock(PASSWORD)
            return session

        app = IchainApp(factory, refresh_seconds=0, start_folder=tmp_path)
        try:
            async with app.run_test(size=(120, 30)) as pilot:
                status = app.query_one("#status", Static)
                await wait_for(pilot, lambda: "not connected" in str(status.render()), 20, "not connected")
                assert "r retries" in str(status.render())
                await pilot.press("r")
                await wait_for(
                    pilot, lambda: app.session is not None and "ETH" in str(status.render()), 30, "connected"
                )
                proxy.take_down()
                await pilot.press("r")
                await wait_for(pilot, lambda: "⚠ node" in str(status.render()), 30, "the node away")
                assert "balance as of" in str(status.render())
                # issue 25: at 80 columns the state, the time and the balance stay whole
                await pilot.resize_terminal(80, 24)
                await pilot.pause(0.2)
                app._show_status()
                shown = str(status.render())
                assert re.search(r"balance as of \d\d:\d\d:\d\d: [\d.]+ ETH", shown), shown
                assert len(shown) <= 78 and "⚠ node" in shown
                await pilot.resize_terminal(120, 30)
                await settle(pilot, app)
                await pilot.press("r")
                await settle(pilot, app)
                assert not [
                    n for n in app._notifications if "reach" in n.message
                ]  # the bar says it, no toasts
                proxy.bring_back()
                await pilot.press("r")
                await wait_for(
                    pilot,
                    lambda: "⚠" not in str(status.render()) and "ETH" in str(status.render()),
                    30,
                    "back",
                )
        finally:
            proxy.close()
