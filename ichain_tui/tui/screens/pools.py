"""Provides `PoolsPane`: pending / executing / validating / finished tasks and available providers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label

from ...session import Pools
from ..format import duration, eth, short, stars


class PoolsPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Pools", classes="title")
        with Horizontal(id="pool-tables"):
            yield DataTable(id="pool-tasks", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="pool-providers", cursor_type="row", zebra_stripes=True)
        yield Label("live from chain events · r refresh · Enter opens a task", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#pool-tasks", DataTable).add_columns("pool", "task", "state", "payment", "due")
        self.query_one("#pool-providers", DataTable).add_columns("provider", "rating", "price")

    def show(self, pools: Pools, now: int) -> None:
        tasks = self.query_one("#pool-tasks", DataTable)
        tasks.clear()
        for name, group in (
            ("pending", pools.pending),
            ("executing", pools.executing),
            ("validating", pools.validating),
            ("finished", pools.finished),
        ):
            for t in group:
                due = duration(t.deadline - now) if t.deadline else "-"
                tasks.add_row(name, str(t.task_id), t.state.label, eth(t.payment), due, key=str(t.task_id))
        providers = self.query_one("#pool-providers", DataTable)
        providers.clear()
        for c in sorted(pools.providers, key=lambda c: -c.score):
            providers.add_row(
                short(c.address),
                stars(c.rating.average, c.rating.count),
                eth(c.provider.price),
                key=c.address,
            )
