"""Provides `PickerScreen`: registered providers in a table (address, rating, price, free stake,
hardware), sortable and filterable by key; the same picker chooses validators (with the
protocol's other choices, "drawn at random" and "none", as the first rows). Those that cannot be
chosen for this task are listed after the others, greyed, with the reason; Enter on one says it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from ...agents.selection import Candidate
from ..format import eth, short, stars

SORTS = ("rating", "price", "stake")


class PickerScreen(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("o", "cycle_sort", "Sort", id="picker.sort"),
        Binding("slash", "filter", "Filter", id="picker.filter"),
    ]

    def __init__(
        self,
        candidates: list[Candidate],
        title: str = "Choose a provider",
        refused: Mapping[str, str] | None = None,
        choices: Sequence[tuple[str, str]] = (),
    ) -> None:
        """`refused`: address -> why it cannot be chosen; `choices`: (key, label) rows listed
        before the candidates (e.g. "random", "none")."""
        super().__init__()
        self.candidates = list(candidates)
        self.refused = dict(refused or {})
        self.choices = list(choices)
        self.title_text = title
        self.sort = "rating"
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label(self.title_text, classes="title")
            yield Input(placeholder="filter: address or hardware (/ to focus)", id="filter")
            yield DataTable(id="providers", cursor_type="row", zebra_stripes=True)
            yield Label("Enter choose · o sort · / filter · Esc cancel", classes="hint", id="picker-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("address", "rating", "price", "free stake", "hardware", "note")
        self.refill()
        table.focus()

    def refill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        key = {
            "rating": lambda c: (-c.score, c.provider.price),
            "price": lambda c: (c.provider.price, -c.score),
            "stake": lambda c: (-c.provider.free_stake, -c.score),
        }[self.sort]
        text = self.filter_text.lower()
        for choice, label in self.choices:
            if not text:
                table.add_row(label, "", "", "", "", "", key=choice)
        ordered = sorted(self.candidates, key=lambda c: (c.address in self.refused, key(c)))
        greyed = 0
        for c in ordered:
            if text and text not in c.address.lower() and text not in c.provider.hardware.describe().lower():
                continue
            reason = self.refused.get(c.address)
            greyed += bool(reason)
            cells = (
                short(c.address),
                stars(c.rating.average, c.rating.count),
                eth(c.provider.price),
                eth(c.provider.free_stake, 2),
                c.provider.hardware.describe(),
                reason or "",
            )
            # every cell as Text: the hardware text is the provider's own, never markup
            table.add_row(*(Text(cell, style="dim" if reason else "") for cell in cells), key=c.address)
        self.query_one("#picker-hint", Label).update(
            f"{table.row_count - greyed} to choose, {greyed} greyed · sorted by {self.sort} · "
            "Enter choose · o sort · / filter · Esc cancel"
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        reason = self.refused.get(str(event.row_key.value))
        if reason:
            self.notify(f"cannot be chosen: {reason}", severity="warning")
            return
        self.dismiss(event.row_key.value)

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.refill()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
