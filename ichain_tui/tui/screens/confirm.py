"""Provides `ConfirmScreen`: the gas and cost preview of a transaction before it is sent."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ...amounts import format_gwei
from ...chain.types import GasPreview
from ..format import eth

ARM_S = 0.5  # Enter/y pressed sooner after the dialog opened were meant for the screen behind it


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

    def on_mount(self) -> None:
        self.opened = time.monotonic()

    @property
    def armed(self) -> bool:
        """Keys typed before the dialog was up (a stray Enter queued behind a slow worker) never
        send value: only a key pressed `ARM_S` after it opened does."""
        return time.monotonic() - getattr(self, "opened", time.monotonic()) >= ARM_S

    def action_confirm(self) -> None:
        if not self.armed:
            self.query_one(".hint", Label).update("just opened: press Enter/y again to send · Esc/n cancel")
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
