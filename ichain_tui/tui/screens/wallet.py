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
    ) -> None:
        lines = [
            f"address   {address or 'locked — press u to unlock, n to create, i to import'}",
            f"network   {network} (chain id {chain_id})",
            f"balance   {eth(balance, 6)}",
            f"credits   {eth(credits, 6)}  (payments, fees and refunds waiting for withdraw)",
            f"keystores {len(keystores)}: " + (", ".join(keystores) if keystores else "none yet"),
        ]
        self.query_one("#wallet-info", Static).update("\n".join(lines))
