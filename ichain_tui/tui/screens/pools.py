"""Provides `PoolsPane`: every task of the market by pool (executing, delivered, validating,
finished) and every registered provider with hardware, availability, price, free stake,
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
from ...session import POOLS, Pools, pool_of
from ..format import due, eth, short, stars

TASK_COLUMNS = ("pool", "task", "state", "payment", "provider", "due")
PROVIDER_COLUMNS = ("provider", "hardware", "available", "price", "free stake", "validated", "rating")


class PoolsPane(Vertical):
    def compose(self) -> ComposeResult:
        with Horizontal(classes="title-row"):
            yield Label("Pools", classes="title")
            yield Label("", id="pool-counts", classes="hint")
        with Vertical(id="pool-tables"):
            yield DataTable(id="pool-tasks", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="pool-providers", cursor_type="row", zebra_stripes=True)
        yield Label("changes as new blocks' logs arrive · Enter opens a task · r reads again", classes="hint")

    def on_mount(self) -> None:
        tasks = self.query_one("#pool-tasks", DataTable)
        for name in TASK_COLUMNS:
            tasks.add_column(name, key=name)
        providers = self.query_one("#pool-providers", DataTable)
        for name in PROVIDER_COLUMNS:
            providers.add_column(name, key=name)

    def show(self, pools: Pools, now: int) -> None:
        """Apply one reading: all rows again after a reset, else only the changed ones."""
        self._show_tasks(pools.tasks, pools.reset, now)
        self._show_providers(pools.providers, pools.reset)
        counts = " · ".join(f"{name} {pools.counts.get(name, 0):,}" for name in POOLS)
        registered = self.query_one("#pool-providers", DataTable).row_count
        self.query_one("#pool-counts", Label).update(
            f"{counts} · {registered:,} providers · block {pools.block:,}"
        )

    def _show_tasks(self, changed: Iterable[TaskSummary], reset: bool, now: int) -> None:
        table = self.query_one("#pool-tasks", DataTable)
        if reset:
            table.clear()
        for t in changed:
            row = (
                pool_of(t.state),
                str(t.task_id),
                t.state.label,
                eth(t.payment),
                short(t.provider),
                due(t.deadline, now),
            )
            _put(table, str(t.task_id), row, TASK_COLUMNS)
        _sort_keeping_cursor(
            table, lambda pool, task: (POOLS.index(pool), -int(task)), "pool", "task", top=reset
        )

    def _show_providers(self, changed: Iterable[Candidate], reset: bool) -> None:
        table = self.query_one("#pool-providers", DataTable)
        if reset:
            table.clear()
            changed = sorted(changed, key=lambda c: (-c.score, c.provider.price))
        for c in changed:
            p = c.provider
            row = (
                short(c.address),
                p.hardware.describe(),
                "yes" if p.available else Text("no", style="dim"),
                eth(p.price),
                eth(p.free_stake, 3),
                str(c.rating.validated),
                stars(c.rating.average, c.rating.count),
            )
            _put(table, c.address, row, PROVIDER_COLUMNS)


def _sort_keeping_cursor(table: DataTable, key, *columns: str, top: bool) -> None:
    """Sort the rows; the cursor stays on the row it was on (`top`: goes to the first row)."""
    if not table.row_count:
        return
    current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    table.sort(*columns, key=lambda values: key(*values))
    table.move_cursor(row=0 if top else table.get_row_index(current), scroll=top)


def _put(table: DataTable, key: str, row: tuple[str | Text, ...], columns: tuple[str, ...]) -> None:
    """Add the row, or change the cells of the row already there (it keeps its place)."""
    try:
        table.get_row_index(key)
    except RowDoesNotExist:
        table.add_row(*row, key=key)
        return
    for column, value in zip(columns, row, strict=True):
        table.update_cell(key, column, value)
