"""Provides `TaskActions`: a task's detail (Enter on a task: its parties, timeline, live output
and progress) and what can be done from it — refund, settle (each after the gas and cost
preview) or rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.widgets import DataTable

from ..agents.events import AgentEvent
from ..chain.types import Task
from .base import AppBase
from .format import eth
from .messages import Done, ModalWanted, TaskAction
from .screens.rating import RatingScreen
from .screens.task_list import TaskList
from .screens.tasks import TaskDetailScreen


class TaskActions(AppBase):
    """Opening a task and acting on it, part of `IchainApp`."""

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "my-tasks" or self.session is None:
            return
        self.open_task(int(str(event.row_key.value)))

    def on_task_list_selected(self, event: TaskList.Selected) -> None:
        if self.session is not None:
            self.open_task(event.task_id)

    def open_task(self, task_id: int) -> None:
        """The task's detail (on the UI thread: its live log is copied here, then read in a worker)."""
        output = list(self.task_output.get(task_id, ()))
        progress = list(self.task_progress.get(task_id, ()))
        self._open_task(task_id, list(self.events), output, progress)

    @work(thread=True, group="detail", exit_on_error=False, description="Task")
    def _open_task(
        self, task_id: int, events: list[AgentEvent], output: list[str], progress: list[dict[str, Any]]
    ) -> None:
        s = self.live
        task, now = s.task(task_id), s.now()

        def chosen(action: TaskAction | None) -> None:
            if action is TaskAction.RATE:
                self.open_modal(RatingScreen(task_id, task.provider), lambda r: r and self.rate(task_id, r))
            elif action is not None:
                self.task_action(task_id, action)

        detail = TaskDetailScreen(task, now, events, output, progress, s.result_path(task_id))
        self.post_message(ModalWanted(detail, chosen))

    def follow_in_detail(self, event: AgentEvent) -> None:
        """An open task detail follows its task: the event in its timeline, then a fresh reading
        of the task (its state, deadline and result folder)."""
        detail = self._open_detail(event.task_id)
        if detail is not None:
            detail.add_event(event)
            self._read_for_detail(detail.task_id)

    def _open_detail(self, task_id: int | None) -> TaskDetailScreen | None:
        screen = self.screen
        if task_id is not None and isinstance(screen, TaskDetailScreen) and screen.task_id == task_id:
            return screen
        return None

    @work(thread=True, exclusive=True, group="detail-read", exit_on_error=False, description="Task")
    def _read_for_detail(self, task_id: int) -> None:
        s = self.live
        task, now, result = s.task(task_id), s.now(), s.result_path(task_id)
        self.call_from_thread(self._show_in_detail, task, now, result)

    def _show_in_detail(self, task: Task, now: int, result: Path | None) -> None:
        detail = self._open_detail(task.task_id)
        if detail is not None:
            detail.show_task(task, now, result)

    @work(thread=True, group="task-action", exit_on_error=False, description="Task")
    def task_action(self, task_id: int, action: TaskAction) -> None:
        """Refund or settle, each shown with its gas and cost before anything is sent (a call the
        contract would refuse is one line, before the dialog)."""
        s = self.live
        task = s.task(task_id)
        if action is TaskAction.REFUND:
            call = s.market.refund(task_id)
            title, what = "Refund the task?", f"task {task_id}: its escrow returns to the requester's credits"
        else:
            call = s.market.settle(task_id)
            title, what = (
                "Settle the task?",
                f"task {task_id} ({task.state.label}): the verdict stands, money moves as it says",
            )
        money = f"payment {eth(task.payment)} + validator fee {eth(task.validator_fee)}"
        self.confirm_then_send(
            call, title, [what, money], Done(f"task {task_id}: {action.value} sent", "Task")
        )
