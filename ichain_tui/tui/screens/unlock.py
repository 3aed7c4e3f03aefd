"""Provides `UnlockScreen`: a modal asking for a keystore password (and a private key to import)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


@dataclass(frozen=True)
class Credentials:
    password: str
    private_key: str | None = None


class UnlockScreen(ModalScreen[Credentials | None]):
    """mode: unlock | new | import."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="unlock.cancel")]

    def __init__(self, mode: str, address: str | None = None) -> None:
        super().__init__()
        self.mode = mode
        self.address = address

    def compose(self) -> ComposeResult:
        title = {"unlock": f"Unlock {self.address or 'keystore'}", "new": "New account",
                 "import": "Import a private key"}[self.mode]
        with Vertical(id="dialog"):
            yield Label(title, classes="title")
            if self.mode == "import":
                yield Input(placeholder="private key (64 hex digits)", password=True, id="key")
            yield Input(placeholder="keystore password (8+ characters)", password=True, id="password")
            yield Label("Enter to confirm, Esc to cancel", classes="hint")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "key":
            self.query_one("#password", Input).focus()
            return
        key = self.query_one("#key", Input).value if self.mode == "import" else None
        self.dismiss(Credentials(self.query_one("#password", Input).value, key))

    def action_cancel(self) -> None:
        self.dismiss(None)
