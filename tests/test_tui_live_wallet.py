"""The wallet is live on anvil (issue 25): a balance funded without a new block (anvil's
setBalance mines none) is read on the app's timer, not only after `r`, and the status line does
not call a quiet devnet's old block stalled."""

from __future__ import annotations

from eth_account import Account
from tui_harness import PASSWORD
from tui_screens import settle, wait_for

from ichain_tui.agents.localnet import LocalMarket
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.network import connect
from ichain_tui.chain.wallet import Wallet
from ichain_tui.config import Settings
from ichain_tui.session import Session
from ichain_tui.tui import app as app_module
from ichain_tui.tui.app import IchainApp

ETH = 10**18


def text(widget) -> str:
    return str(widget.render())


async def test_a_balance_funded_without_a_block_shows_on_the_timer(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "FULL_READ_EVERY_S", 1.0)
    with Devnet(accounts=3) as devnet:
        market = LocalMarket(devnet, tmp_path)
        try:
            wallet = Wallet(tmp_path / "keystores")
            me = Account.create()
            wallet.import_private_key(me.key.hex(), PASSWORD)
            chain = connect(devnet.url)

            def session():
                s = Session(
                    Settings(network=devnet.url), chain=chain, market_address=market.address, wallet=wallet
                )
                s.unlock(PASSWORD)
                return s

            app = IchainApp(session, refresh_seconds=0.2)
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for(pilot, lambda: app.session is not None and app._wallet.address, 20, "unlocked")
                await settle(pilot)
                status = app.query_one("#status")
                assert "0.0000 ETH" in text(status)
                block = chain.block_number()
                chain.fund(me.address, 3 * ETH)
                assert chain.block_number() == block  # no block was mined for it
                await wait_for(pilot, lambda: "3.0000 ETH" in text(status), 10, "the new balance")
                devnet_block_time = chain.w3.eth.get_block("latest")["timestamp"]
                monkeypatch.setattr(app_module.time, "time", lambda: devnet_block_time + 600)
                app._show_status()
                assert "min old" not in text(status)  # a quiet devnet is not a stalled node
        finally:
            market.close()
