"""A new user's first run, driven by keys only at 80x24: no node answers, the TUI still opens and
says what to do; c chooses a network (a URL and the market), saved in the config file; the app
connects to it; a zero balance says how to get ETH on that chain."""

from __future__ import annotations

import argparse

from textual.widgets import Static
from tui_screens import settle, wait_for

from ichain_tui import locations
from ichain_tui.chain.wallet import Wallet
from ichain_tui.config import Settings
from ichain_tui.netutil import free_port
from ichain_tui.tui.app import build
from ichain_tui.tui.screens.connect import ConnectScreen

PASSWORD = "a-long-password"


def text(widget) -> str:
    return str(widget.render())


async def test_with_no_node_the_tui_opens_and_c_connects_to_a_chosen_url(anvil_parties, monkeypatch):
    p = anvil_parties
    monkeypatch.setenv("ICHAIN_RPC_PATIENCE_S", "1")
    dead = f"http://127.0.0.1:{free_port()}"
    app = build(argparse.Namespace(network=dead, account=None, market=None, folder=None))
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one("#status", Static)
        await wait_for(pilot, lambda: "not connected" in text(status), 30, "not connected")
        # at 80 columns: the state, the node's URL and the first thing to do (issue 25)
        assert dead in text(status) and "c network" in text(status), text(status)
        await pilot.press("w")
        wallet = app.query_one("#wallet-info", Static)
        assert "c chooses a network" in text(wallet) and "keystores 0" in text(wallet)

        # a wallet, offline
        await pilot.press("n", *PASSWORD, "enter")
        await wait_for(pilot, lambda: len(Wallet(locations.keystore_dir()).entries()) == 1, 60, "keystore")
        created = Wallet(locations.keystore_dir()).entries()[0].address
        await wait_for(pilot, lambda: created in text(wallet), 10, "the new keystore listed offline")
        await settle(pilot)

        # c: the last preset (any URL), the URL, the market, Enter
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectScreen), 5, "the connect dialog")
        assert "cannot reach the node" in text(app.screen.query_one("#connect-reason"))
        await pilot.press("enter", "end", "enter")  # open the list, last entry, choose it
        await pilot.pause()
        assert app.screen.query_one("#preset").value == "custom"
        await pilot.press("tab")

        await pilot.press(*"not-a-url", "enter")
        await pilot.pause()
        assert "http://" in text(app.screen.query_one("#connect-error"))  # refused in the form
        url_field = app.screen.query_one("#url")
        url_field.value = ""
        await pilot.press(*p.chain.url, "tab", *p.deployer.address, "enter")
        await wait_for(pilot, lambda: app.session is not None, 30, "the connection")
        await wait_for(pilot, lambda: "block" in text(status), 30, "the status line")
        assert p.chain.url.split("//")[1] in text(status) or "local" in text(status)

        saved = Settings.load()
        assert saved.network == p.chain.url and saved.market == p.deployer.address

        # unlock the new account: no ETH yet, the hint says how to get some here
        await pilot.press("u", *PASSWORD, "enter")
        await wait_for(pilot, lambda: app.session.address is not None, 30, "unlocked")
        await pilot.press("r")
        await wait_for(pilot, lambda: "no ETH yet" in text(wallet), 30, "the funds hint")
        assert f"ichain chain fund {app.session.address}" in text(wallet)
