"""Provides `ProviderPane`: the provider dashboard — providing on/off, a table of the slots (each
running task: its slot, phase, GPUs, elapsed of its time limit, last progress; then validations
in their own lane and tasks queued for a slot), what the sandboxes use (CPU in cores and memory
against each limit, from the containers' cgroups),
earnings over time as a chart of the credits each paid task brought, and a log of the agent's
steps with the running task's own output lines. Which task runs comes from one source, sampled
with the sandbox's usage (`show_busy`), so the two lines never disagree; a task's progress
reports are shown once, as words on its status line, not as raw lines in the log."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, RichLog, Sparkline, Static

from ...agents.jobs import JobView
from ...sandbox.runner import RunUsage
from ..format import eth, report, size

SLOT_COLUMNS = ("slot", "task", "phase", "GPUs", "elapsed/limit", "progress")


class ProviderPane(Vertical):
    providing = False
    current: int | None = None
    earned = 0
    stake = 0
    slots_text = ""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.progress: dict[int, str] = {}  # the last progress report of each task run here

    def compose(self) -> ComposeResult:
        yield Label("Provider dashboard", classes="title")
        yield Static("providing: off", id="provider-status")
        yield Static("sandbox: idle", id="provider-usage")
        slots: DataTable[str | Text] = DataTable(id="provider-slots", cursor_type="row", zebra_stripes=True)
        for name in SLOT_COLUMNS:
            slots.add_column(name, key=name)
        yield slots
        with Horizontal(id="earnings-row"):
            yield Static("earnings: none yet", id="earnings-text")
            yield Sparkline([], id="earnings-chart")
        yield RichLog(id="provider-log", max_lines=500, wrap=True, markup=False)
        yield Label(
            "o providing on/off (Docker sandbox) · e provider policy · x withdraw free stake",
            classes="hint",
        )

    def show(self, providing: bool, current: int | None, earned: int, stake: int) -> None:
        self.providing, self.current, self.earned, self.stake = providing, current, earned, stake
        self._paint_status()

    def show_busy(self, current: int | None) -> None:
        """The task the agent works on now (sampled with the sandbox's usage)."""
        if current != self.current:
            self.current = current
            self._paint_status()

    def show_slots(self, views: list[JobView], slots: int) -> None:
        """The agent's jobs now: one row per slot in use, validation or queued task."""
        table = self.query_one("#provider-slots", DataTable)
        wanted = {f"{v.duty}-{v.task_id}": v for v in views}
        for key in [str(k.value) for k in table.rows if str(k.value) not in wanted]:
            table.remove_row(key)
        for key, v in wanted.items():
            progress = v.progress or self.progress.get(v.task_id, "")
            row = (v.where, str(v.task_id), v.phase, v.gpu_text, v.timing or "-", Text(progress))
            if key in [str(k.value) for k in table.rows]:
                for column, value in zip(SLOT_COLUMNS, row, strict=True):
                    table.update_cell(key, column, value)
            else:
                table.add_row(*row, key=key)
        busy = sum(1 for v in views if v.duty == "execute" and v.slot is not None)
        text = f"slots {busy}/{slots} busy"
        if text != self.slots_text:
            self.slots_text = text
            self._paint_status()

    def show_progress(self, task_id: int, values: dict[str, object]) -> None:
        self.progress[task_id] = report(values)
        if task_id == self.current:
            self._paint_status()

    def _paint_status(self) -> None:
        state = "[b green]on[/]" if self.providing else "[b]off[/]"
        task = "idle" if self.current is None else f"task {self.current}"
        if self.slots_text and self.providing:
            task = f"{self.slots_text} · {task}"
        if self.current is not None and self.current in self.progress:
            task += f" ({escape(self.progress[self.current])})"  # the task's own words: not markup
        self.query_one("#provider-status", Static).update(
            f"providing: {state} · {task} · credits {eth(self.earned, 6)} · stake {eth(self.stake, 4)}"
        )

    def show_usage(self, task_id: int | None, runs: list[RunUsage]) -> None:
        if not runs:
            self.query_one("#provider-usage", Static).update("sandbox: idle")
            return
        parts = []
        for run in runs:
            limit = f" of {size(run.memory_limit)}" if run.memory_limit else ""
            parts.append(
                f"{run.mode} {run.seconds:.0f} s · CPU {run.cpu_cores:.2f} cores · "
                f"memory {size(run.memory_bytes)}{limit}"
            )
        who = f"task {task_id} · " if task_id is not None else ""
        self.query_one("#provider-usage", Static).update(f"sandbox: {who}" + " | ".join(parts))

    def show_earnings(self, payments: list[int]) -> None:
        """`payments`: the wei each credit brought, oldest first; the chart is their running total."""
        if not payments:
            return
        total, running = 0, []
        for amount in payments:
            total += amount
            running.append(total)
        self.query_one("#earnings-text", Static).update(
            f"earned {eth(total, 6)} in {len(payments)} credit(s) · last {eth(payments[-1], 6)}"
        )
        self.query_one("#earnings-chart", Sparkline).data = [float(v) for v in running]

    def log_line(self, text: str) -> None:
        self.query_one(RichLog).write(text)
