"""Issue 25: a focus model a keyboard user can trust. Letters typed in a field stay in the field;
Esc leaves it (the footer says "Leave field" exactly while a field has the focus) and letters act
again; after a dialog the focus does not go back into the field; a value-moving dialog ignores an
Enter that arrives as it opens (meant for the screen behind it)."""

from __future__ import annotations

import time

from textual.widgets import Input, TabbedContent
from tui_harness import build_market, make_session
from tui_screens import settle, wait_for

from ichain_tui.chain.types import GasPreview
from ichain_tui.tui.app import IchainApp
from ichain_tui.tui.screens.confirm import ARM_S, ConfirmScreen
from ichain_tui.tui.screens.help import HelpScreen


def _app(tmp_path) -> IchainApp:
    chain, market, _ = build_market()
    return IchainApp(lambda: make_session(tmp_path, chain, market), refresh_seconds=0, start_folder=tmp_path)


def _footer_keys(app) -> set[str]:
    """The descriptions of the keys the footer offers now."""
    return {b.binding.description for b in app.active_bindings.values() if b.enabled and b.binding.show}


async def test_letters_type_in_a_field_esc_leaves_it_and_then_letters_act(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        tabs = app.query_one(TabbedContent)
        assert tabs.active == "submit"
        field = next(i for i in app.query(Input) if i.id and i.id != "folder-path")
        field.focus()
        field.value = ""
        await pilot.pause()
        assert "Leave field" in _footer_keys(app)  # the visible editing mode
        await pilot.press("t", "k")
        assert field.value == "tk" and tabs.active == "submit"  # typed, no tab switched
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is None and "Leave field" not in _footer_keys(app)
        await pilot.press("t")
        assert tabs.active == "transfers" and field.value == "tk"


async def test_after_a_dialog_the_focus_is_not_back_in_the_field(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        field = next(i for i in app.query(Input) if i.id and i.id != "folder-path")
        field.focus()
        await pilot.pause()
        before = field.value
        app.open_modal(HelpScreen([]))
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), 5, "help closed")
        await pilot.pause(0.2)
        assert not isinstance(app.focused, Input)
        await pilot.press("k")
        assert app.query_one(TabbedContent).active == "tasks" and field.value == before


async def test_an_enter_as_the_value_dialog_opens_is_not_taken_a_later_one_is(tmp_path):
    app = _app(tmp_path)
    answers = []
    preview = GasPreview("refund", 50_000, 2 * 10**9, 10**9, 10**9, 0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_modal(ConfirmScreen("Refund?", preview, ["task 1"]), answers.append)
        await pilot.press("enter")  # the stray one, queued behind the dialog
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and answers == []
        assert "press Enter/y again" in str(app.screen.query_one(".hint").render())
        time.sleep(ARM_S)
        await pilot.press("enter")
        await wait_for(pilot, lambda: answers == [True], 5, "the confirmed answer")
