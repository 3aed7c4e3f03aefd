"""Provides `TransfersPane`: one group per transfer and direction, named by its task and role
("task 3 · result ↓ from the provider", "task 3 · task files ↑ to a peer"), with a bar per chunk,
the rate over the last few seconds, an ETA from that rate and a sparkline of the rate. A finished
transfer folds into one line; a task's groups go once the task is over. The line on top says
where this machine serves files (direct, or the onion service once it is published)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, ProgressBar, Sparkline, Static

from ...transfer.progress import ChunkProgress
from ..format import size
from ..status_line import fit

RATE_WINDOW_S = 3.0  # the rate shown is over this many seconds
HISTORY = 60  # sparkline points, one a second
ARROW = {"down": "↓", "up": "↑"}


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
    """One file moving in one direction: its chunks, and the bytes moved over time."""

    root: str
    direction: str
    label: str
    started: float
    chunks: dict[int, ChunkProgress] = field(default_factory=dict)
    finished: float | None = None
    moved: int = 0  # bytes moved so far, retries included (what the rate counts)
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=512))
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _second: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return self.root, self.direction

    @property
    def done(self) -> int:
        return sum(c.done for c in self.chunks.values())

    @property
    def total(self) -> int:
        return sum(c.size for c in self.chunks.values())

    @property
    def complete(self) -> bool:
        final = "sent" if self.direction == "up" else "verified"
        return bool(self.chunks) and all(c.state == final for c in self.chunks.values())

    def record(self, p: ChunkProgress, now: float) -> None:
        before = self.chunks.get(p.index)
        self.moved += max(0, p.done - (before.done if before else 0))
        self.chunks[p.index] = p
        self.samples.append((now, self.moved))

    def rate(self, now: float) -> float:
        """Bytes per second over the last `RATE_WINDOW_S` (0 when nothing moved in it)."""
        while len(self.samples) > 1 and self.samples[1][0] <= now - RATE_WINDOW_S:
            self.samples.popleft()
        if not self.samples:
            return 0.0
        t0, moved0 = self.samples[0]
        if t0 > now - RATE_WINDOW_S:  # younger than the window: from the start
            t0, moved0 = self.started, 0
        span = now - t0
        return (self.moved - moved0) / span if span > 0.05 else 0.0

    def tick(self, now: float) -> bool:
        """Add a sparkline point once a second; True when one was added."""
        if now - self._second < 1.0:
            return False
        self._second = now
        self.history.append(self.rate(now))
        return True

    def summary(self, now: float, width: int = 200) -> str:
        """One line; on a narrow terminal the chunk count goes first, then the rate; the amount
        and the ETA (or "done", "stalled") stay, the label is cut short."""
        arrow = ARROW.get(self.direction, "")
        if self.finished is not None:
            elapsed = max(1e-3, self.finished - self.started)
            parts = [
                (f"{arrow} {self.label}", 5),
                (f"{size(self.total)} in {elapsed:.1f} s", 6),
                (f"({size(int(self.total / elapsed))}/s)", 2),
                ("done", 9),
            ]
            return fit(parts, width)
        rate = self.rate(now)
        final = "sent" if self.direction == "up" else "verified"
        ok = sum(1 for c in self.chunks.values() if c.state == final)
        eta = f"ETA {(self.total - self.done) / rate:.0f} s" if rate > 0 else "stalled"
        parts = [
            (f"{arrow} {self.label}", 5),
            (f"{size(self.done)} of {size(self.total)}", 7),
            (f"{ok}/{len(self.chunks)} ok", 2),
            (f"{size(int(rate))}/s", 3),
            (eta, 8),
        ]
        return fit(parts, width)


class TransfersPane(VerticalScroll):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.transfers: dict[tuple[str, str], Transfer] = {}
        self.labels: dict[tuple[str, str], str] = {}  # from the agents' events
        self.task_of: dict[str, int] = {}  # root -> task id
        self._boxes: dict[tuple[str, str], Vertical] = {}
        self._rows: dict[tuple[str, str, int], ChunkRow] = {}
        self._heads: dict[tuple[str, str], Label] = {}
        self._sparks: dict[tuple[str, str], Sparkline] = {}
        self.cleared = 0

    @property
    def chunks(self) -> dict[tuple[str, int], ChunkProgress]:
        return {(t.root, i): c for t in self.transfers.values() for i, c in t.chunks.items()}

    def compose(self) -> ComposeResult:
        yield Label("Transfers", classes="title")
        yield Static("files are served once a task is sent", id="hosting")
        yield Static("no transfer yet", id="total")

    def on_mount(self) -> None:
        self.ticker = self.set_interval(1.0, self._tick)

    def hosting(self, text: str) -> None:
        self.query_one("#hosting", Static).update(text)

    def name_transfer(
        self, root: str, label: str, direction: str = "down", task_id: int | None = None
    ) -> None:
        """What a root is (an agent said it fetches or serves it for a task)."""
        self.labels[(root, direction)] = label
        if task_id is not None:
            self.task_of[root] = task_id
        transfer = self.transfers.get((root, direction))
        if transfer is not None:
            transfer.label = label
            self._redraw(transfer, time.monotonic())

    def clear_task(self, task_id: int) -> None:
        """The task is over: its transfers go (the total line counts them)."""
        for key, transfer in list(self.transfers.items()):
            if self.task_of.get(transfer.root) == task_id and transfer.finished is not None:
                self._drop(key)
                self.cleared += 1
        self._redraw_total()

    def update_chunk(self, p: ChunkProgress, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = (p.root, p.direction)
        transfer = self.transfers.get(key)
        if transfer is not None and transfer.finished is not None and p.state in ("sending", "downloading"):
            self._drop(key)  # sent again (to the next peer) or fetched again: a new transfer
            transfer = None
        if transfer is None:
            name = self.labels.get(key, f"file {p.root[:8]}…")
            transfer = self.transfers[key] = Transfer(p.root, p.direction, name, now)
            self._heads[key] = Label(name, classes="transfer-head")
            self._sparks[key] = Sparkline([], classes="transfer-rate")
            box = self._boxes[key] = Vertical(classes="transfer")
            self.mount(box)
            box.mount(self._heads[key], self._sparks[key])  # mounted in call order: above the chunks
        transfer.record(p, now)
        if transfer.finished is None:
            row = self._rows.get((*key, p.index))
            if row is None:
                row = self._rows[(*key, p.index)] = ChunkRow(p)
                self._boxes[key].mount(row)
            row.show(p)
            if transfer.complete:
                transfer.finished = now
                for index in list(transfer.chunks):  # folded into its header line
                    done_row = self._rows.pop((*key, index), None)
                    if done_row is not None:
                        done_row.remove()
        self._redraw(transfer, now)
        self._redraw_total()

    def _drop(self, key: tuple[str, str]) -> None:
        self.transfers.pop(key, None)
        self._heads.pop(key, None)
        self._sparks.pop(key, None)
        box = self._boxes.pop(key, None)
        if box is not None:
            box.remove()
        for row_key in [k for k in self._rows if k[:2] == key]:
            self._rows.pop(row_key)

    def _tick(self) -> None:
        """Once a second: moving transfers' rates (a stalled one shows 0 and says so)."""
        now = time.monotonic()
        for transfer in self.transfers.values():
            if transfer.finished is None:
                self._redraw(transfer, now)

    def _redraw(self, transfer: Transfer, now: float) -> None:
        head, spark = self._heads.get(transfer.key), self._sparks.get(transfer.key)
        if head is None or spark is None:
            return
        head.update(transfer.summary(now, max(20, self.size.width - 2)))
        if transfer.finished is None and transfer.tick(now):
            spark.data = list(transfer.history)

    def _redraw_total(self) -> None:
        moving = [t for t in self.transfers.values() if t.finished is None]
        finished = len(self.transfers) - len(moving) + self.cleared
        total_line = self.query_one("#total", Static)
        if not moving:
            total_line.update(f"nothing moving · {finished} transfer(s) done")
            return
        done, total = sum(t.done for t in moving), sum(t.total for t in moving)
        total_line.update(f"{len(moving)} moving: {size(done)} of {size(total)} · {finished} done")
