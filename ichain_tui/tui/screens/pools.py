"""Provides `PoolsPane`: every task of the market by pool (executing, delivered, validating,
finished) and every registered provider with hardware, rate per hour, free stake, free slots,
validated tasks and rating. It is filled once from the market's whole history and then changed
row by row from what new logs changed (`Session.pools`), so ten thousand tasks stay cheap."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label
from textual.widgets.data_table import RowDoesNotExist

from ...agents.selection import Candidate
from ...chain.market_index import TaskSummary
from ...session import POOLS, Pools
from ..format import clip, eth, short, stars
from ..status_line import fit
from .task_list import TaskList

# the columns a choice rests on first; the provider's own hardware text last, clipped
PROVIDER_COLUMNS = ("provider", "rating", "rate/h", "free stake", "slots", "validated", "hardware")
HARDWARE_WIDTH = 32


class PoolsPane(Vertical):
    _counts: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="title-row"):
            yield Label("Pools", classes="title")
            yield Label("", id="pool-counts", classes="hint")
        with Vertical(id="pool-tables"):
            yield TaskList(id="pool-tasks")
            yield DataTable(id="pool-providers", cursor_type="row", zebra_stripes=True)
        yield Label("Enter opens a task · r reads again (rows follow new blocks)", classes="hint")

    def on_mount(self) -> None:
        providers = self.query_one("#pool-providers", DataTable)
        for name in PROVIDER_COLUMNS:
            providers.add_column(name, key=name)

    def show(self, pools: Pools, now: int) -> None:
        """Apply one reading: all rows again after a reset, else only the changed ones."""
        self._show_tasks(pools.tasks, pools.reset, now)
        self._show_providers(pools.providers, pools.reset)
        registered = self.query_one("#pool-providers", DataTable).row_count
        self._counts = [(f"{name} {pools.counts.get(name, 0):,}", 6) for name in POOLS]
        self._counts += [(f"{registered:,} providers", 5), (f"block {pools.block:,}", 2)]
        self.show_counts()

    def show_counts(self) -> None:
        """The pools' sizes on the title row: the block goes first on a narrow terminal."""
        self.query_one("#pool-counts", Label).update(fit(self._counts, max(20, self.size.width - 9)))

    def on_resize(self) -> None:
        self.show_counts()

    def _show_tasks(self, changed: list[TaskSummary], reset: bool, now: int) -> None:
        tasks = self.query_one(TaskList)
        if reset:
            tasks.replace_all(changed, now)
        elif changed:
            tasks.update(changed, now)

    def _show_providers(self, changed: Iterable[Candidate], reset: bool) -> None:
        table = self.query_one("#pool-providers", DataTable)
        if reset:
            table.clear()
            changed = sorted(changed, key=lambda c: (-c.score, c.provider.rate_per_hour))
        for c in changed:
            p = c.provider
            row = (
                short(c.address),
                stars(c.rating.average, c.rating.count),
                eth(p.rate_per_hour),
                eth(p.free_stake, 3),
                f"{p.free_slots}/{p.slots} free" if p.available else Text("off", style="dim"),
                str(c.rating.validated),
                Text(clip(p.hardware.describe(), HARDWARE_WIDTH)),  # the provider's own text: never markup
            )
            _put(table, c.address, row, PROVIDER_COLUMNS)


def _put(table: DataTable, key: str, row: tuple[str | Text, ...], columns: tuple[str, ...]) -> None:
    """Add the row, or change the cells of the row already there (it keeps its place)."""
    try:
        table.get_row_index(key)
    except RowDoesNotExist:
        table.add_row(*row, key=key)
        return
    for column, value in zip(columns, row, strict=True):
        table.update_cell(key, column, value)
