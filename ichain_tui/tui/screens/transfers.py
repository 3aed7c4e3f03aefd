"""Provides `TransfersPane`: a progress bar per chunk plus the total, rate and ETA, live."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, ProgressBar, Static

from ...transfer.fetcher import ChunkProgress
from ..format import size


class ChunkRow(Horizontal):
    def __init__(self, progress: ChunkProgress, **kw) -> None:
        super().__init__(classes="chunk-row", **kw)
        self.latest = progress

    def compose(self) -> ComposeResult:
        yield Label(f"{self.latest.root[:8]} #{self.latest.index:<2}", classes="chunk-name")
        yield ProgressBar(total=max(1, self.latest.size), show_eta=False, id="bar")
        yield Label(self.latest.state, classes="chunk-state", id="state")

    def on_mount(self) -> None:
        self.show(self.latest)

    def show(self, p: ChunkProgress) -> None:
        """Record the latest progress; draw it once the row's children exist."""
        self.latest = p
        if not self.children:
            return
        self.query_one(ProgressBar).update(total=max(1, p.size), progress=p.done)
        self.query_one("#state", Label).update(p.state if p.attempt == 1 else f"{p.state} ({p.attempt})")


class TransfersPane(VerticalScroll):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.chunks: dict[tuple[str, int], ChunkProgress] = {}
        self.started: float | None = None

    def compose(self) -> ComposeResult:
        yield Label("Transfers", classes="title")
        yield Static("no transfer yet", id="total")

    def update_chunk(self, p: ChunkProgress, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = (p.root, p.index)
        row_id = f"chunk-{p.root[:12]}-{p.index}"
        if key not in self.chunks:
            self.mount(ChunkRow(p, id=row_id))
            self.started = self.started or now
        self.chunks[key] = p
        self.query_one(f"#{row_id}", ChunkRow).show(p)
        done = sum(c.done for c in self.chunks.values())
        total = sum(c.size for c in self.chunks.values())
        elapsed = max(1e-3, now - (self.started or now))
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0
        verified = sum(1 for c in self.chunks.values() if c.state == "verified")
        self.query_one("#total", Static).update(
            f"{size(done)} of {size(total)} · {verified}/{len(self.chunks)} chunks verified · "
            f"{size(int(rate))}/s · ETA {eta:.0f} s")
