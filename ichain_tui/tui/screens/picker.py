"""Provides `PickerScreen`: registered providers in a table (address, rating, rate per hour, free
stake, free slots, how long it keeps a paid result, hardware), sortable and filterable by key;
the same picker chooses validators (with the protocol's other choices, "random draw" and "none",
as the first rows, and only the columns a validator choice rests on: rating, free stake, reason).
Those that cannot be chosen for this task are listed after the others, greyed, with the reason;
Enter on one says it. The columns a choice rests on come first; the provider's own hardware text
comes last, clipped, so that at 80 columns none of them is pushed off screen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from ...agents.selection import Candidate
from ..format import clip, eth, short, stars
from ..status_line import fit

SORTS = ("rating", "rate", "stake")
LABEL_WIDTH = 13  # as wide as a shortened address
NOTE_WIDTH = 24  # Enter on a greyed row says the whole reason
HARDWARE_WIDTH = 32


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
        choices: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """`refused`: address -> why it cannot be chosen; `choices`: (key, label, note) rows
        listed before the candidates (e.g. "random", "none")."""
        super().__init__()
        self.candidates = list(candidates)
        self.refused = dict(refused or {})
        self.choices = list(choices)
        self.title_text = title
        self.sort = "rating"
        self.filter_text = ""
        self._hint: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label(self.title_text, classes="title")
            yield Input(placeholder="filter: address or hardware (/ to focus)", id="filter")
            yield DataTable(id="providers", cursor_type="row", zebra_stripes=True)
            yield Label("Enter choose · o sort · / filter · Esc cancel", classes="hint", id="picker-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # rate, free slots and how long a paid result is kept matter for the task's provider; a
        # validator is paid the task's fee and checks in a lane of its own, beside its slots
        self.keeps = not self.choices
        columns = ["address", "rating", "rate/h", "free stake", "slots", "keeps", "note", "hardware"]
        provider_only = ("rate/h", "slots", "keeps")
        table.add_columns(*(c for c in columns if self.keeps or c not in provider_only))
        self.refill()
        table.focus()

    def refill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        key = {
            "rating": lambda c: (-c.score, c.provider.rate_per_hour),
            "rate": lambda c: (c.provider.rate_per_hour, -c.score),
            "stake": lambda c: (-c.provider.free_stake, -c.score),
        }[self.sort]
        text = self.filter_text.lower()
        for choice, label, note in self.choices:
            if not text:
                table.add_row(clip(label, LABEL_WIDTH), "", "", clip(note, NOTE_WIDTH), "", key=choice)
        ordered = sorted(self.candidates, key=lambda c: (c.address in self.refused, key(c)))
        greyed = 0
        for c in ordered:
            if text and text not in c.address.lower() and text not in c.provider.hardware.describe().lower():
                continue
            reason = self.refused.get(c.address)
            greyed += bool(reason)
            terms = (
                [
                    eth(c.provider.rate_per_hour),
                    eth(c.provider.free_stake, 2),
                    f"{c.provider.free_slots}/{c.provider.slots}",
                    f"{c.provider.retention // 86400} d" if c.provider.retention else "-",
                ]
                if self.keeps
                else [eth(c.provider.free_stake, 2)]
            )
            cells = (
                short(c.address),
                stars(c.rating.average, c.rating.count),
                *terms,
                clip(reason or "", NOTE_WIDTH),
                clip(c.provider.hardware.describe(), HARDWARE_WIDTH),
            )
            # every cell as Text: the hardware text is the provider's own, never markup
            table.add_row(*(Text(cell, style="dim" if reason else "") for cell in cells), key=c.address)
        self._hint = [
            (f"{table.row_count - greyed} to choose", 6),
            (f"{greyed} greyed" if greyed else "", 4),
            (f"by {self.sort}", 3),
            ("Enter choose · o sort · / filter · Esc", 5),
        ]
        self.show_hint()

    def show_hint(self) -> None:
        room = self.query_one("#dialog").content_size.width or self.app.size.width - 6
        self.query_one("#picker-hint", Label).update(fit(self._hint, max(20, room - 2)))  # its padding

    def on_resize(self) -> None:
        self.show_hint()

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
