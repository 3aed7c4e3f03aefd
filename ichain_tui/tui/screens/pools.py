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
from ...session import POOLS, Pools
from ..format import eth, short, stars
from .task_list import TaskList

PROVIDER_COLUMNS = ("provider", "hardware", "available", "price", "free stake", "validated", "rating")


class PoolsPane(Vertical):
    def compose(self) -> ComposeResult:
        with Horizontal(classes="title-row"):
            yield Label("Pools", classes="title")
            yield Label("", id="pool-counts", classes="hint")
        with Vertical(id="pool-tables"):
            yield TaskList(id="pool-tasks")
            yield DataTable(id="pool-providers", cursor_type="row", zebra_stripes=True)
        yield Label("changes as new blocks' logs arrive · Enter opens a task · r reads again", classes="hint")

    def on_mount(self) -> None:
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
            changed = sorted(changed, key=lambda c: (-c.score, c.provider.price))
        for c in changed:
            p = c.provider
            row = (
                short(c.address),
                Text(p.hardware.describe()),  # the provider's own text: never markup
                "yes" if p.available else Text("no", style="dim"),
                eth(p.price),
                eth(p.free_stake, 3),
                str(c.rating.validated),
                stars(c.rating.average, c.rating.count),
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
