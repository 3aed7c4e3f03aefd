"""Provides `WalletPane`: selected address, network, balance and credits (refreshing)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from ..format import eth


class WalletPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Wallet", classes="title")
        yield Static(id="wallet-info")
        yield Label(
            "u unlock · n new account · i import key · W withdraw credits · r refresh", classes="hint"
        )

    def show(
        self,
        address: str | None,
        network: str,
        chain_id: int,
        balance: int,
        credits: int,
        keystores: list[str],
        funds_hint: str = "",
    ) -> None:
        lines = [
            f"address   {address or 'locked — press u to unlock, n to create, i to import'}",
            f"network   {network} (chain id {chain_id})",
            f"balance   {eth(balance, 6)}",
            f"credits   {eth(credits, 6)}  (payments, fees and refunds waiting for withdraw)",
            f"keystores {len(keystores)}: " + (", ".join(keystores) if keystores else "none yet"),
        ]
        if address and balance == 0:
            lines.append("")
            lines.append(f"no ETH yet: {funds_hint}")
        self.query_one("#wallet-info", Static).update("\n".join(lines))

    def show_offline(self, keystores: list[str], reason: str) -> None:
        """Before any node answered: what is on this machine, and what to do next."""
        lines = [
            f"not connected: {reason}",
            "c chooses a network (a local devnet: `ichain devnet` in another terminal)",
            "",
            f"keystores {len(keystores)}: " + (", ".join(keystores) if keystores else "none yet"),
            "n creates an account and i imports a key now, offline; u unlocks once connected",
        ]
        self.query_one("#wallet-info", Static).update("\n".join(lines))
