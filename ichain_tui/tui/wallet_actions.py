"""Provides `WalletActions`: the Wallet tab's and the network's actions of the app — choose a
network (c: the connect dialog, saved in the config file), unlock, create or import an account
(offline too: a new user has no node yet), and withdraw credits after the confirm dialog."""

from __future__ import annotations

from textual import work

from ..chain.wallet import Wallet
from ..errors import IchainError, one_line
from .base import AppBase
from .format import eth, short
from .messages import Done
from .screens.connect import ConnectChoice, ConnectScreen
from .screens.unlock import Credentials, UnlockScreen
from .screens.wallet import WalletPane


class WalletActions(AppBase):
    """The wallet and network actions, part of `IchainApp`."""

    def action_choose_network(self) -> None:
        """c: choose a network (and market); saved in the config file, then connect to it."""
        s = self.session
        choice = self.network_choice
        network = choice.network if choice else s.chain.url or s.chain.kind if s else self.settings.network
        market = choice.market if choice else (s.market.address if s else self.settings.market)
        keystores = self.recent_keystores()
        address = s.address if s and s.address else (keystores[0] if keystores else None)
        self.open_modal(
            ConnectScreen(
                network,
                choice.chain_id if choice else self.settings.chain_id,
                market,
                address,
                self._not_connected,
            ),
            self._network_chosen,
        )

    def recent_keystores(self) -> list[str]:
        """The keystores on this machine (no chain needed)."""
        return [e.address for e in Wallet().entries()]

    def _network_chosen(self, choice: ConnectChoice | None) -> None:
        if choice is None:
            return
        from ..config import save

        try:
            save({"network": choice.network, "chain_id": choice.chain_id, "market": choice.market or ""})
        except IchainError as exc:
            self.notify(one_line(exc), title="Network", severity="error")
            return
        self.network_choice = choice
        if self.provider_stop is not None:
            self.provider_stop.set()
        old, self.session = self.session, None
        if old is not None:
            old.close()
        self._not_connected, self._node = None, None
        self._show_status()  # connecting…
        self.connect()

    def action_unlock(self) -> None:
        s = self._need_session()
        if s is None:
            return
        if not s.keystores():
            self.notify("no keystore yet: n creates one, i imports a key", severity="warning")
            return
        self.open_modal(
            UnlockScreen(
                "unlock",
                s.settings.account or s.keystores()[0],
                s.keystores(),
                act=lambda c: self.wallet_job("unlock", c),
            ),
            self._wallet_done,
        )

    def action_new_account(self) -> None:
        # a wallet needs no chain: a new user can create one before any node answers
        self.open_modal(UnlockScreen("new", act=lambda c: self.wallet_job("new", c)), self._wallet_done)

    def action_import_key(self) -> None:
        self.open_modal(UnlockScreen("import", act=lambda c: self.wallet_job("import", c)), self._wallet_done)

    def wallet_job(self, what: str, creds: Credentials) -> Done:
        """Open, create or import a keystore (on the dialog's thread: it takes seconds). A wrong
        password or key raises `IchainError`, which the dialog shows before asking again."""
        s = self.session
        if s is None:  # not connected: the keystore is written now, unlocked once connected (u)
            if what == "unlock":
                raise IchainError("not connected yet: u unlocks once a node answers (c chooses one)")
            wallet = Wallet()
            entry = (
                wallet.create(creds.password)
                if what == "new"
                else wallet.import_private_key(creds.private_key or "", creds.password)
            )
            return Done(f"keystore for {entry.address} saved; u unlocks it once connected", "Wallet")
        if what == "unlock":
            address = s.unlock(creds.password, creds.address)
        elif what == "new":
            address = s.create_account(creds.password)
        else:
            address = s.import_private_key(creds.private_key or "", creds.password)
        return Done(f"unlocked {address}", "Wallet")

    def _wallet_done(self, done: object) -> None:
        if not isinstance(done, Done):
            return
        self.notify(done.text, title=done.title)
        if self.session is None:  # listed at once, before any node answers
            self.query_one(WalletPane).show_offline(
                self.recent_keystores(), self._not_connected or "connecting…"
            )
        else:
            self.action_refresh()

    @work(thread=True, exclusive=True, group="wallet", exit_on_error=False, description="Withdraw")
    def action_withdraw(self) -> None:
        s = self.session
        if s is None or s.address is None:
            raise IchainError("unlock a wallet first (u)")
        amount = s.credits()
        if amount == 0:
            raise IchainError("nothing to withdraw: no credits (refunds and returned fees land there)")
        self.confirm_then_send(
            s.market.withdraw(),
            "Withdraw your credits?",
            [f"{eth(amount, 6)} from the market to {short(s.address)}"],
            Done(f"withdrew {eth(amount, 6)}", "Wallet"),
        )
