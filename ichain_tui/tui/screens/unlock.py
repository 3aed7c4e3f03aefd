"""Provides `UnlockScreen`: a modal asking for a keystore password (and a private key to import).
Given an `act`, it stays open while that runs on a thread (opening a keystore takes seconds on
purpose), says "checking…" meanwhile, and on a wrong password says so and asks again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select

from ...errors import IchainError, one_line

HINT = "Enter to confirm, Esc to cancel"
log = logging.getLogger(__name__)
CHECKING = "checking… (a keystore is slow to open on purpose: a few seconds)"


@dataclass(frozen=True)
class Credentials:
    password: str
    private_key: str | None = None
    address: str | None = None  # which keystore to unlock (None: the configured or only one)


class UnlockScreen(ModalScreen[object]):
    """mode: unlock | new | import. Dismissed with what `act` returned (or, without an `act`,
    the `Credentials`), None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="unlock.cancel")]

    def __init__(
        self,
        mode: str,
        address: str | None = None,
        choices: list[str] | None = None,
        act: Callable[[Credentials], object] | None = None,
    ) -> None:
        """`choices`: the keystores to pick from when there is more than one (unlock mode).
        `act`: run on a thread with the credentials; an `IchainError` it raises is shown here."""
        super().__init__()
        self.mode = mode
        self.address = address
        self.choices = choices or []
        self.act = act
        self.checking = False

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
            yield Label(HINT, classes="hint", id="unlock-hint")

    def on_mount(self) -> None:
        self.query(Input).first().focus()  # the password; Shift+Tab reaches the keystore list

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "key":
            self.query_one("#password", Input).focus()
            return
        key = self.query_one("#key", Input).value if self.mode == "import" else None
        picked = self.query("#keystore")
        address = str(picked.first(Select).value) if picked else None
        creds = Credentials(self.query_one("#password", Input).value, key, address)
        if self.act is None:
            self.dismiss(creds)
            return
        if self.checking:
            return
        self.checking = True
        self.query_one("#unlock-hint", Label).update(CHECKING)
        for field in self.query(Input):
            field.disabled = True
        self._act(creds)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _act(self, creds: Credentials) -> None:
        assert self.act is not None
        try:
            result = self.act(creds)
        except IchainError as exc:
            self.app.call_from_thread(self._refused, one_line(exc))
            return
        except Exception as exc:  # never leave the dialog saying "checking…" for good
            log.exception("keystore action failed")
            self.app.call_from_thread(self._refused, f"failed: {one_line(exc)}")
            return
        self.app.call_from_thread(self.dismiss, result)

    def _refused(self, why: str) -> None:
        self.checking = False
        for field in self.query(Input):
            field.disabled = False
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()
        hint = self.query_one("#unlock-hint", Label)
        hint.update(f"{why} · {HINT}")
        hint.add_class("error")

    def action_cancel(self) -> None:
        if not self.checking:  # the keystore is being opened: it finishes, then Esc works again
            self.dismiss(None)
