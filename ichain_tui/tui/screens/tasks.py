"""Provides `TasksPane` (your tasks) and `TaskDetailScreen` (state timeline with deadlines,
refund or settle when due, rate once the provider is paid)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Sparkline, Static

from ...agents.events import AgentEvent
from ...chain.market_index import TaskSummary
from ...chain.types import Task
from ..format import duration, eth, report, short
from ..messages import TaskAction


class TasksPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Your tasks", classes="title")
        yield DataTable(id="my-tasks", cursor_type="row", zebra_stripes=True)
        yield Label("Enter opens a task: refund, settle or rate it there", classes="hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("task", "state", "provider", "validator", "payment", "due")

    def show(self, tasks: list[TaskSummary], now: int) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for t in tasks:
            due = duration(t.deadline - now) if t.deadline else "-"
            table.add_row(
                str(t.task_id),
                t.state.label,
                short(t.provider),
                short(t.validator),
                eth(t.payment),
                due,
                key=str(t.task_id),
            )


class TaskDetailScreen(ModalScreen[TaskAction | None]):
    """A task's parties, money and deadline, the result's folder, the timeline of events, the
    last progress report with a chart, and the last lines of its log. It follows the task while
    open: the app hands it each new event, log line and progress report for this task
    (`add_event`, `add_output`, `add_progress`) and a fresh reading after each event (`show_task`)."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="detail.close"),
        Binding("r", "choose('refund')", "Refund", id="detail.refund"),
        Binding("s", "choose('settle')", "Settle", id="detail.settle"),
        Binding("f", "choose('rate')", "Rate", id="detail.rate"),
    ]
    OUTPUT_LINES = 6
    TIMELINE_LINES = 10

    def __init__(
        self,
        task: Task,
        now: int,
        events: list[AgentEvent],
        output: list[str] | None = None,
        progress: list[dict[str, Any]] | None = None,
        result: Path | None = None,
    ) -> None:
        """`output`: the task's live log lines seen so far; `progress`: its ICHAIN_PROGRESS values;
        `result`: the folder its decrypted result is in, once it is."""
        super().__init__()
        self.task_id = task.task_id
        self.result = result
        self.shown, self.now = task, now
        self.timeline = [f"{e.kind:<10} {e.message}" for e in events if e.task_id == task.task_id]
        self.output, self.progress = list(output or []), list(progress or [])

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label(id="detail-title", classes="title")
            yield Static(id="detail-parties", markup=False)
            yield Static(id="result-path", markup=False)
            yield Static(id="timeline", markup=False)
            yield Static(id="progress-last", markup=False)
            yield Label(id="progress-label", classes="hint")
            yield Sparkline([], id="progress-chart")
            yield Static(id="task-output", markup=False)
            yield Label("r refund · s settle · f rate — when the task allows it · Esc", classes="hint")

    def on_mount(self) -> None:
        self._paint_task()
        self._paint_timeline()
        self._paint_progress()
        self._paint_output()

    # -- what the app hands over while it is open --------------------------------------
    def show_task(self, task: Task, now: int, result: Path | None) -> None:
        self.shown, self.now, self.result = task, now, result
        self._paint_task()

    def add_event(self, event: AgentEvent) -> None:
        self.timeline.append(f"{event.kind:<10} {event.message}")
        self._paint_timeline()

    def add_output(self, line: str) -> None:
        self.output.append(line)
        del self.output[: -self.OUTPUT_LINES * 10]
        self._paint_output()

    def add_progress(self, report: dict[str, Any]) -> None:
        self.progress.append(report)
        self._paint_progress()

    # -- painting ------------------------------------------------------------------------
    def _paint_task(self) -> None:
        t = self.shown
        if t.state.is_final or not t.deadline:
            due = ""
        else:
            due = f" · deadline in {duration(t.deadline - self.now)}"
        self.query_one("#detail-title", Label).update(f"Task {t.task_id} — {t.state.label}")
        self.query_one("#detail-parties", Static).update(
            f"requester {t.requester}\nprovider  {t.provider or '-'}\nvalidator {t.validator or '-'}\n"
            f"payment {eth(t.payment)} + validator fee {eth(t.validator_fee)} ({t.mode.label}){due}"
        )
        path = self.query_one("#result-path", Static)
        path.display = self.result is not None
        path.update(f"result in {self.result}" if self.result is not None else "")

    def _paint_timeline(self) -> None:
        text = "\n".join(self.timeline[-self.TIMELINE_LINES :]) or "no events seen in this session"
        self.query_one("#timeline", Static).update(text)

    def _paint_progress(self) -> None:
        last = self.query_one("#progress-last", Static)
        label = self.query_one("#progress-label", Label)
        chart = self.query_one("#progress-chart", Sparkline)
        metric = _metric(self.progress) if self.progress else None
        last.display = bool(self.progress)
        label.display = chart.display = metric is not None
        if not self.progress:
            return
        last.update(f"progress: {report(self.progress[-1])}")
        if metric:
            values = [float(p[metric]) for p in self.progress if isinstance(p.get(metric), (int, float))]
            label.update(f"{metric} over {len(values)} reports")
            chart.data = values

    def _paint_output(self) -> None:
        widget = self.query_one("#task-output", Static)
        widget.display = bool(self.output)
        widget.update("\n".join(self.output[-self.OUTPUT_LINES :]))

    def action_choose(self, what: str) -> None:
        self.dismiss(TaskAction(what))

    def action_close(self) -> None:
        self.dismiss(None)


def _metric(reports: list[dict[str, Any]]) -> str | None:
    """What to chart: `loss` when the task reports it, else the first number it reports."""
    keys = [k for k, v in reports[-1].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if "loss" in keys:
        return "loss"
    return next((k for k in keys if k not in ("epoch", "step", "t")), None)
