"""Provides `TasksPane` (your tasks) and `TaskDetailScreen` (state timeline with deadlines,
refund or settle when due, rate once the provider is paid)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from ...agents.events import AgentEvent
from ...chain.market_index import TaskSummary
from ...chain.types import Task
from ..format import duration, eth, short
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
    BINDINGS = [
        Binding("escape", "close", "Close", id="detail.close"),
        Binding("r", "choose('refund')", "Refund", id="detail.refund"),
        Binding("s", "choose('settle')", "Settle", id="detail.settle"),
        Binding("f", "choose('rate')", "Rate", id="detail.rate"),
    ]

    def __init__(self, task: Task, now: int, events: list[AgentEvent]) -> None:
        super().__init__()
        self.shown, self.now, self.events = task, now, events

    def compose(self) -> ComposeResult:
        t = self.shown
        due = duration(t.deadline - self.now) if t.deadline else "none"
        with Vertical(id="dialog", classes="wide"):
            yield Label(f"Task {t.task_id} — {t.state.label}", classes="title")
            yield Static(
                f"requester {t.requester}\nprovider  {t.provider or '-'}\nvalidator {t.validator or '-'}\n"
                f"payment {eth(t.payment)} + validator fee {eth(t.validator_fee)} ({t.mode.label}) · "
                f"deadline in {due}"
            )
            timeline = [f"{e.kind:<10} {e.message}" for e in self.events if e.task_id == t.task_id]
            yield Static("\n".join(timeline[-10:]) or "no events seen in this session", id="timeline")
            yield Label("r refund · s settle · f rate — when the task allows it · Esc", classes="hint")

    def action_choose(self, what: str) -> None:
        self.dismiss(TaskAction(what))

    def action_close(self) -> None:
        self.dismiss(None)
