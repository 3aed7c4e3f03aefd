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
        self.result = result
        self.shown, self.now, self.events = task, now, events
        self.output, self.progress = output or [], progress or []

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
            if self.result is not None:
                yield Static(f"result in {self.result}", id="result-path", markup=False)
            timeline = [f"{e.kind:<10} {e.message}" for e in self.events if e.task_id == t.task_id]
            yield Static(
                "\n".join(timeline[-10:]) or "no events seen in this session", id="timeline", markup=False
            )
            if self.progress:
                metric = _metric(self.progress)
                last = ", ".join(
                    f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in self.progress[-1].items()
                )
                yield Static(f"progress: {last}", id="progress-last", markup=False)
                if metric:
                    values = [
                        float(p[metric]) for p in self.progress if isinstance(p.get(metric), (int, float))
                    ]
                    yield Label(f"{metric} over {len(values)} reports", classes="hint")
                    yield Sparkline(values, id="progress-chart")
            if self.output:
                yield Static("\n".join(self.output[-6:]), id="task-output", markup=False)
            yield Label("r refund · s settle · f rate — when the task allows it · Esc", classes="hint")

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
