"""Provides `TransfersPane`: one group per transfer, named by its task ("task 3 · result"), with a
progress bar per chunk and that transfer's own size, rate and ETA; a finished transfer folds
into one line with its time and average rate. The total line counts only what is moving."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, ProgressBar, Static

from ...transfer.fetcher import ChunkProgress
from ..format import size


class ChunkRow(Horizontal):
    def __init__(self, progress: ChunkProgress, **kw) -> None:
        super().__init__(classes="chunk-row", **kw)
        self.latest = progress

    def compose(self) -> ComposeResult:
        yield Label(f"chunk {self.latest.index:<3}", classes="chunk-name")
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


@dataclass
class Transfer:
    root: str
    label: str
    started: float
    chunks: dict[int, ChunkProgress] = field(default_factory=dict)
    finished: float | None = None

    @property
    def done(self) -> int:
        return sum(c.done for c in self.chunks.values())

    @property
    def total(self) -> int:
        return sum(c.size for c in self.chunks.values())

    @property
    def complete(self) -> bool:
        return bool(self.chunks) and all(c.state == "verified" for c in self.chunks.values())

    def summary(self, now: float) -> str:
        elapsed = max(1e-3, (self.finished or now) - self.started)
        rate = self.done / elapsed
        if self.finished is not None:
            return f"{self.label} · {size(self.total)} in {elapsed:.1f} s ({size(int(rate))}/s) · done"
        verified = sum(1 for c in self.chunks.values() if c.state == "verified")
        eta = (self.total - self.done) / rate if rate > 0 else 0
        return (
            f"{self.label} · {size(self.done)} of {size(self.total)} · {verified}/{len(self.chunks)} ok · "
            f"{size(int(rate))}/s · ETA {eta:.0f} s"
        )


class TransfersPane(VerticalScroll):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.transfers: dict[str, Transfer] = {}
        self.labels: dict[str, str] = {}  # root -> "task 3 · result", from the agents' fetching events
        self._boxes: dict[str, Vertical] = {}
        self._heads: dict[str, Label] = {}
        self._rows: dict[tuple[str, int], ChunkRow] = {}

    @property
    def chunks(self) -> dict[tuple[str, int], ChunkProgress]:
        return {(t.root, i): c for t in self.transfers.values() for i, c in t.chunks.items()}

    def compose(self) -> ComposeResult:
        yield Label("Transfers", classes="title")
        yield Static("no transfer yet", id="total")

    def name_transfer(self, root: str, label: str) -> None:
        """What a root is (an agent said it is fetching it for a task)."""
        self.labels[root] = label
        transfer = self.transfers.get(root)
        if transfer is not None:
            transfer.label = label
            self._redraw_header(transfer, transfer.finished or time.monotonic())

    def update_chunk(self, p: ChunkProgress, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        transfer = self.transfers.get(p.root)
        if transfer is None:
            transfer = self.transfers[p.root] = Transfer(
                p.root, self.labels.get(p.root, f"file {p.root[:8]}…"), now
            )
            box = self._boxes[p.root] = Vertical(classes="transfer", id=f"transfer-{p.root[:16]}")
            self.mount(box)
            head = self._heads[p.root] = Label(transfer.label, classes="transfer-head")
            box.mount(head)  # mounted in call order: the header stays above its chunks
        if transfer.finished is None:
            row = self._rows.get((p.root, p.index))
            if row is None:
                row = self._rows[(p.root, p.index)] = ChunkRow(p)
                self._boxes[p.root].mount(row)
            row.show(p)
        transfer.chunks[p.index] = p
        if transfer.finished is None and transfer.complete:
            transfer.finished = now
            for index in list(transfer.chunks):  # folded into its header line
                row = self._rows.pop((p.root, index), None)
                if row is not None:
                    row.remove()
        self._redraw_header(transfer, now)
        self._redraw_total(now)

    def _redraw_header(self, transfer: Transfer, now: float) -> None:
        head = self._heads.get(transfer.root)
        if head is not None:
            head.update(transfer.summary(now))

    def _redraw_total(self, now: float) -> None:
        moving = [t for t in self.transfers.values() if t.finished is None]
        finished = len(self.transfers) - len(moving)
        total_line = self.query_one("#total", Static)
        if not moving:
            total_line.update(f"nothing moving · {finished} transfer(s) done")
            return
        done, total = sum(t.done for t in moving), sum(t.total for t in moving)
        total_line.update(f"{len(moving)} moving: {size(done)} of {size(total)} · {finished} done")
