"""Provides `ProviderPane`: the provider dashboard — providing on/off, current task, earnings, log."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, RichLog, Static

from ..format import eth


class ProviderPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Provider dashboard", classes="title")
        yield Static("providing: off", id="provider-status")
        yield RichLog(id="provider-log", max_lines=500, wrap=True)
        yield Label(
            "o toggles providing on this machine (Docker sandbox, direct transport) · "
            "e edits the provider policy",
            classes="hint",
        )

    def show(self, providing: bool, current: int | None, earned: int, stake: int) -> None:
        state = "[b green]on[/]" if providing else "[b]off[/]"
        task = f"task {current}" if current is not None else "idle"
        self.query_one("#provider-status", Static).update(
            f"providing: {state} · {task} · credits {eth(earned, 6)} · stake {eth(stake, 4)}"
        )

    def log_line(self, text: str) -> None:
        self.query_one(RichLog).write(text)
