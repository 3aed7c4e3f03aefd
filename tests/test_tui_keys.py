"""Pilot tests of the TUI's keys and dialogs on a real chain: the palette, the keystore picker, one
modal at a time, the confirm dialog before every value move, help from the bindings, the session
log, the footer of the tab in front, the keymap setting and the status line."""

from __future__ import annotations

import pytest
from tui_harness import PASSWORD, build_market, make_session, market_app
from tui_screens import settle as settle_workers
from tui_screens import wait_for

from ichain_tui.tui.app import IchainApp
from ichain_tui.tui.screens.confirm import ConfirmScreen
from ichain_tui.tui.screens.picker import PickerScreen


@pytest.fixture(scope="module")
def market():
    return build_market()


async def settle(pilot, app, seconds: float = 10.0) -> None:
    """Wait until none of the app's own workers runs (chain calls are in threads)."""
    await settle_workers(pilot, seconds)


async def test_the_palette_lists_every_action_before_anything_is_typed_each_name_once(tmp_path):
    """Issue 11: Ctrl+P shows every action at once; no two entries share a name."""
    from textual.command import CommandList, CommandPalette

    chain, market, _ = build_market()
    app = IchainApp(lambda: make_session(tmp_path, chain, market), refresh_seconds=0, start_folder=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+p")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, CommandPalette)
                and app.screen.query_one(CommandList).option_count >= 15
            ),
            20,
            "the palette's entries",
        )
        options = app.screen.query_one(CommandList)
        names = [
            str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)
        ]
        ours = [n for n in names if "tab" in n or n.startswith(("Pick", "Send", "Unlock", "Provider policy"))]
        assert {"Provider tab", "Pick provider", "Pick validator", "Send task (gas preview first)"} <= set(
            ours
        ), names
        assert len(ours) == len(set(ours)), names


async def test_u_unlocks_the_keystore_picked_not_always_the_first(market, tmp_path):
    """Issue 11: with two keystores, u offers both; the second one picked is the one unlocked."""
    from textual.widgets import Select
    from tui_harness import key

    from ichain_tui.chain.wallet import Wallet

    chain, m, accounts = market
    wallet = Wallet(tmp_path / "keystores")
    wallet.import_private_key("0x" + key("requester").hex(), PASSWORD)
    wallet.import_private_key("0x" + key("bob").hex(), PASSWORD)
    second = accounts["bob"].address
    app = IchainApp(lambda: make_session(tmp_path, chain, m, unlocked=False), refresh_seconds=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("u")
        await pilot.pause()
        picker = app.screen.query_one("#keystore", Select)
        assert {str(v) for _, v in picker._options} >= {accounts["requester"].address, second}
        picker.value = second
        await pilot.press(*PASSWORD, "enter")
        # opening a keystore takes seconds on purpose, longer on a loaded machine
        await wait_for(pilot, lambda: app.session.address is not None, 60, "unlocked")
        assert app.session.address == second


async def test_a_modal_asked_for_while_another_is_open_waits_its_turn_and_comes_once(market, tmp_path):
    """Issue 11: a background worker's rating prompt does not land on top of the picker the user
    is in (and eat its Esc); it comes after, once, however often it was asked for."""
    from ichain_tui.tui.screens.rating import RatingScreen

    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("s", "a")
        await settle(pilot, app)
        assert isinstance(app.screen, PickerScreen)
        app.open_modal(RatingScreen(7, None))
        app.open_modal(RatingScreen(7, None))
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen) and len(app.screen_stack) == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RatingScreen), 10, "the rating prompt")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.pause()
        assert len(app.screen_stack) == 1  # the second request was the same prompt: shown once


async def test_refund_and_withdraw_move_value_only_after_the_gas_preview_is_confirmed(tmp_path):
    """Every value-moving action of the TUI goes through the confirm dialog with its gas and cost:
    a refund from the task detail and W (withdraw credits); Esc leaves the chain untouched."""
    from tui_harness import WINDOW

    from ichain_tui.chain.types import TaskState
    from ichain_tui.tui.screens.tasks import TaskDetailScreen

    chain, m, accounts = build_market()  # its own chain: time moves forward here
    me = accounts["requester"].address
    chain.advance_time(WINDOW + 60)  # task 3's provider missed its deadline: a refund is open
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.query_one("#pool-tasks").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskDetailScreen), 10, "the task detail")
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
            10,
            "the refund preview",
        )
        assert "refund: gas" in str(app.screen.query_one("#preview").render())
        await pilot.press("escape")
        await settle(pilot, app)
        assert m.task(3).state is TaskState.ASSIGNED and m.credits(me) == 0
        app.query_one("#pool-tasks").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskDetailScreen), 10, "the task detail")
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
            10,
            "the refund preview",
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: m.task(3).state is TaskState.EXPIRED, 20, "the refund")
        credits = m.credits(me)
        assert credits == m.task(3).payment + m.task(3).validator_fee
        await settle(pilot, app)
        await pilot.press("w", "W")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
            10,
            "the withdraw preview",
        )
        assert "withdraw: gas" in str(app.screen.query_one("#preview").render())
        await pilot.press("escape")
        await settle(pilot, app)
        assert m.credits(me) == credits
        await pilot.press("W")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
            10,
            "the withdraw preview",
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: m.credits(me) == 0, 20, "the withdrawal")
        await settle(pilot, app)
        await pilot.press("W")  # nothing left: one line, no dialog
        await settle(pilot, app)
        assert not isinstance(app.screen, ConfirmScreen)


async def test_help_is_generated_from_the_bindings_and_l_shows_the_full_text_of_errors(market, tmp_path):
    from ichain_tui.tui.app import ActionCommands
    from ichain_tui.tui.screens.help import HelpScreen
    from ichain_tui.tui.screens.log import LogScreen

    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 10, "the help")
        text = str(app.screen.query_one("#help-keys").render())
        for binding in app.BINDINGS:  # every key of the app, under the name the palette uses
            assert ActionCommands.NAMES.get(binding.id, binding.description) in text, binding
        assert "Refund" in text and "Filter" in text and "⏎/y" in text  # and of the dialogs
        await pilot.press("escape")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), 10, "the log")
        await pilot.pause(0.2)
        assert "nothing went wrong" in app.screen.text()
        await pilot.press("escape")
        await pilot.press("s", "b")  # no provider picked yet: an error, one line in a toast
        await settle(pilot, app)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), 10, "the log")
        await pilot.pause(0.2)
        shown = " ".join(app.screen.text().split())  # wrapped to the dialog's width
        assert "Validators: pick a provider first (a): a validator must be someone else" in shown


async def test_the_footer_and_the_keys_follow_the_tab_and_rest_under_a_dialog(market, tmp_path):
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)

    def offered() -> set[str]:
        return {b.binding.id for b in app.screen.active_bindings.values() if b.enabled and b.binding.id}

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert {"submit.send", "wallet.withdraw", "provider.toggle"}.isdisjoint(offered())
        await pilot.press("a")  # Pools tab: picking a provider is the Submit tab's
        await settle(pilot, app)
        assert not isinstance(app.screen, PickerScreen)
        await pilot.press("s")
        await pilot.pause()
        assert {"submit.pick", "submit.validator", "submit.send"} <= offered()
        assert "wallet.withdraw" not in offered()
        await pilot.press("w")
        await pilot.pause()
        assert {"wallet.new", "wallet.import", "wallet.withdraw"} <= offered()
        await pilot.press("v")
        await pilot.pause()
        assert {"provider.toggle", "provider.policy"} <= offered() and "submit.send" not in offered()
        await pilot.press("question_mark")
        await pilot.pause()
        under_dialog = offered()
        assert "tab.pools" not in under_dialog and "provider.toggle" not in under_dialog
        await pilot.press("p")  # under the help: the tab keys rest
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "provider"


async def test_a_keymap_in_the_settings_rebinds_keys_by_binding_id(market, tmp_path):
    from ichain_tui.config import Settings

    settings = Settings.load(
        tmp_path / "none.toml", env={"ICHAIN_KEYMAP": '{"tab.pools": "f2", "help": "f1"}'}
    )
    chain, m, _ = market
    app = IchainApp(lambda: make_session(tmp_path, chain, m), refresh_seconds=0, keymap=settings.keymap)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("w", "f2")
        assert app.query_one("TabbedContent").active == "pools"
        await pilot.press("f1")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        assert "f1" in str(app.screen.query_one("#help-keys").render()).lower()  # help names the new key


async def test_the_status_line_shows_the_block_and_says_when_it_is_old(market, tmp_path):
    from ichain_tui.tui.format import block_age

    assert block_age(1_000, 1_030) == "" and block_age(1_000, 1_000 + 300) == " (5 min old)"
    assert block_age(1_000, 1_000 + 7_300) == " (2 h old)" and block_age(2_000, 1_000) == ""
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        status = str(app.query_one("#status").render())
        assert f"block {chain.block_number()}" in status and "ETH" in status
        assert "credits" not in status  # none: the line keeps to 80 columns


async def test_x_withdraws_the_free_stake_only_after_the_preview(tmp_path):
    """Issue 11: the provider's stake comes back through the same confirm dialog (what stays
    locked by open tasks is said and kept)."""
    from tui_harness import PASSWORD, key

    from ichain_tui.chain.wallet import Wallet
    from ichain_tui.config import Settings
    from ichain_tui.session import Session

    chain, m, accounts = build_market()
    alice = accounts["alice"].address
    wallet = Wallet(tmp_path / "keystores")
    wallet.import_private_key("0x" + key("alice").hex(), PASSWORD)

    def session():
        s = Session(Settings(network="embedded"), chain=chain, market_address=m.address, wallet=wallet)
        s.unlock(PASSWORD)
        return s

    before = m.provider(alice)
    assert before.locked > 0 and before.free_stake > 0  # alice holds an open task
    app = IchainApp(session, refresh_seconds=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("v", "x")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed, 10, "the stake preview"
        )
        text = str(app.screen.query_one("#preview").render())
        assert "withdrawStake: gas" in text and "stays locked" in text
        await pilot.press("escape")
        await settle(pilot, app)
        assert m.provider(alice).stake == before.stake
        await pilot.press("x")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed, 10, "the stake preview"
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: m.provider(alice).stake == before.locked, 20, "the withdrawal")


async def test_at_80x24_one_toast_at_a_time(market, tmp_path):
    chain, m, _ = market
    for size, shown in (((80, 24), ["event 2"]), ((120, 40), ["event 0", "event 1", "event 2"])):
        app = market_app(chain, m, tmp_path)
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            for n in range(3):
                app.notify(f"event {n}")
            await pilot.pause()
            assert [n.message for n in app._notifications] == shown, size  # a big terminal has room
