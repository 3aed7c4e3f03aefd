"""Provides `LogScreen` (key `l`): the full text of what went wrong in this session — each failed
action's whole message, the traceback of an unexpected error, and the agents' error events —
where notifications show only one line."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, RichLog


class LogScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,l,q", "close", "Close", id="log.close")]

    def __init__(self, entries: Iterable[str]) -> None:
        super().__init__()
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide log"):
            yield Label(f"Session log — {len(self.entries)} entries, newest last", classes="title")
            yield RichLog(id="session-log", wrap=True, markup=False, highlight=False, max_lines=4000)
            yield Label("↑↓ PgUp PgDn scroll · Esc/l close · the same text is in tui.log", classes="hint")

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for entry in self.entries or ["nothing went wrong in this session"]:
            log.write(entry)
        log.focus()

    def text(self) -> str:
        """What the log shows, as plain text (wrapped lines joined)."""
        return "\n".join(strip.text for strip in self.query_one(RichLog).lines)

    def action_close(self) -> None:
        self.dismiss(None)
