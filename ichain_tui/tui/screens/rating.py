"""Provides `RatingScreen`: rate the provider 1–5 with the number keys; Enter goes on to the
transaction's cost preview (the provider was paid already; a rating only writes the stars).
Opened when a result arrives, it also says where the result is (a toast would cover it)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class RatingScreen(ModalScreen[int | None]):
    BINDINGS = [
        *[Binding(str(n), f"set({n})", f"{n}★", show=False, id=f"rating.{n}") for n in range(1, 6)],
        Binding("enter", "confirm", "Confirm", id="rating.confirm"),
        Binding("escape", "cancel", "Later", id="rating.cancel"),
    ]
    rating: reactive[int] = reactive(5)

    def __init__(self, task_id: int, provider: str | None, result: Path | None = None) -> None:
        super().__init__()
        self.task_id, self.provider, self.result = task_id, provider, result

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Rate the provider of task {self.task_id}", classes="title")
            if self.result is not None:
                yield Static(f"result in {self.result}", id="rating-result", markup=False)
            yield Label(self.provider or "", classes="hint")
            yield Static(id="stars")
            yield Label("1–5 choose · Enter next: what it costs · Esc later", classes="hint")

    def watch_rating(self, value: int) -> None:
        if self.children:
            self._draw(value)

    def _draw(self, value: int) -> None:
        self.query_one("#stars", Static).update(f"[b]{'★' * value}{'☆' * (5 - value)}[/b]  {value}/5")

    def on_mount(self) -> None:
        self._draw(self.rating)

    def action_set(self, value: int) -> None:
        self.rating = value

    def action_confirm(self) -> None:
        self.dismiss(self.rating)

    def action_cancel(self) -> None:
        self.dismiss(None)
