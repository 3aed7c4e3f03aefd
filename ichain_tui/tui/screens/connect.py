"""Provides `ConnectScreen`: choose a network (a preset, or any JSON-RPC URL) and optionally the
market's address; says how to have a node there and how an address there gets ETH. It returns a
`ConnectChoice`; the app saves it in the config file and connects again."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from ...networks import PRESETS, NetworkPreset, preset, preset_for


@dataclass(frozen=True)
class ConnectChoice:
    network: str
    chain_id: int | None
    market: str | None


class ConnectScreen(ModalScreen[ConnectChoice | None]):
    BINDINGS = [
        Binding("ctrl+s", "connect", "Connect", id="connect.send"),
        Binding("escape", "cancel", "Cancel", id="connect.cancel"),
    ]

    def __init__(
        self, network: str, chain_id: int | None, market: str | None, address: str | None, reason: str | None
    ) -> None:
        """The current settings, the unlocked (or first) address for the funding hint, and why
        the last connection failed (None: it did not)."""
        super().__init__()
        self.current = preset_for(network, chain_id)
        self.network, self.market, self.address, self.reason = network, market, address, reason

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label("Connect to a network", classes="title")
            if self.reason:
                yield Static(f"[b]now:[/] {self.reason}", id="connect-reason")
            yield Select(
                [(p.label, p.key) for p in PRESETS], value=self.current.key, allow_blank=False, id="preset"
            )
            with Horizontal(classes="field"):
                yield Label("JSON-RPC URL")
                yield Input(
                    value=self.network if self.current.key in ("sepolia", "custom") else "",
                    placeholder="https://…",
                    id="url",
                )
            with Horizontal(classes="field"):
                yield Label("market address")
                yield Input(
                    value=self.market or "",
                    placeholder="0x… (empty: the one recorded for the chain)",
                    id="market",
                )
            yield Static(id="connect-help")
            yield Static("", id="connect-error", classes="error")
            yield Label(
                "Enter in a field or Ctrl+S saves it in the config file and connects · Esc cancels",
                classes="hint",
            )

    def on_mount(self) -> None:
        self._explain(self.current)
        self.query_one(Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._explain(preset(str(event.value)))

    def _explain(self, chosen: NetworkPreset) -> None:
        self.query_one("#url", Input).disabled = bool(chosen.url)
        funds = chosen.funds.format(address=self.address or "YOUR-ADDRESS")
        self.query_one("#connect-help", Static).update(f"node:  {chosen.start}\nfunds: {funds}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_connect()

    def action_connect(self) -> None:
        chosen = preset(str(self.query_one(Select).value))
        url = chosen.url or self.query_one("#url", Input).value.strip()
        market = self.query_one("#market", Input).value.strip() or None
        error = _check(url, market)
        if error:
            self.query_one("#connect-error", Static).update(error)
            return
        self.dismiss(ConnectChoice(url, chosen.chain_id, market))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _check(url: str, market: str | None) -> str | None:
    """One line for what cannot be a network or market address, before anything is saved."""
    if url not in ("local", "embedded") and not url.startswith(("http://", "https://")):
        return "the JSON-RPC URL must start with http:// or https://"
    if market is not None:
        digits = market.removeprefix("0x")
        if (
            len(digits) != 40
            or not market.startswith("0x")
            or any(c not in "0123456789abcdefABCDEF" for c in digits)
        ):
            return "the market address must be 0x and 40 hex digits"
    return None
