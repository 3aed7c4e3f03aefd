"""Provides `UnlockScreen`: a modal asking for a keystore password (and a private key to import)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select


@dataclass(frozen=True)
class Credentials:
    password: str
    private_key: str | None = None
    address: str | None = None  # which keystore to unlock (None: the configured or only one)


class UnlockScreen(ModalScreen[Credentials | None]):
    """mode: unlock | new | import."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="unlock.cancel")]

    def __init__(self, mode: str, address: str | None = None, choices: list[str] | None = None) -> None:
        """`choices`: the keystores to pick from when there is more than one (unlock mode)."""
        super().__init__()
        self.mode = mode
        self.address = address
        self.choices = choices or []

    def compose(self) -> ComposeResult:
        picking = self.mode == "unlock" and len(self.choices) > 1
        title = {
            "unlock": "Unlock a keystore" if picking else f"Unlock {self.address or 'keystore'}",
            "new": "New account",
            "import": "Import a private key",
        }[self.mode]
        with Vertical(id="dialog"):
            yield Label(title, classes="title")
            if picking:
                yield Select(
                    [(a, a) for a in self.choices],
                    value=self.address if self.address in self.choices else self.choices[0],
                    allow_blank=False,
                    id="keystore",
                )
            if self.mode == "import":
                yield Input(placeholder="private key (64 hex digits)", password=True, id="key")
            yield Input(placeholder="keystore password (8+ characters)", password=True, id="password")
            yield Label("Enter to confirm, Esc to cancel", classes="hint")

    def on_mount(self) -> None:
        self.query(Input).first().focus()  # the password; Shift+Tab reaches the keystore list

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "key":
            self.query_one("#password", Input).focus()
            return
        key = self.query_one("#key", Input).value if self.mode == "import" else None
        picked = self.query("#keystore")
        address = str(picked.first(Select).value) if picked else None
        self.dismiss(Credentials(self.query_one("#password", Input).value, key, address))

    def action_cancel(self) -> None:
        self.dismiss(None)
