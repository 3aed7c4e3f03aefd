"""Provides `ConfirmScreen`: the gas and cost preview of a transaction before it is sent."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ...amounts import format_gwei
from ...chain.types import GasPreview
from ..format import eth


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("enter,y", "confirm", "Send", id="confirm.send"),
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, title: str, preview: GasPreview, lines: list[str]) -> None:
        super().__init__()
        self.title_text, self.preview, self.lines = title, preview, lines

    def compose(self) -> ComposeResult:
        p = self.preview
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="title")
            yield Static(
                "\n".join(
                    [
                        *self.lines,
                        f"{p.action}: gas {p.gas:,} (limit), max fee {format_gwei(p.max_fee_per_gas)} gwei",
                        f"value sent        {eth(p.value, 6)}",
                        f"gas, expected     {eth(p.expected_cost, 6)}",
                        f"gas, at most      {eth(p.max_cost, 6)}",
                        f"total at most     {eth(p.value + p.max_cost, 6)}",
                    ]
                ),
                id="preview",
            )
            yield Label("Enter/y send · Esc/n cancel", classes="hint")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
