"""Provides `SweepActions`: the Sweep view (S) — this account's sweeps read from their journals,
re-read each second while shown (a sweep run by `ichain sweep run` in another terminal moves
too), and a sweep resumed here (R) whose runner posts each change as a `SweepChanged` message, so
a run's progress report repaints its row and the curves at once."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from ..agents.events import AgentEvent
from ..agents.sweep_state import SweepState
from ..errors import IchainError
from .base import AppBase
from .messages import Done, ModalWanted
from .screens.confirm import ConfirmScreen
from .screens.sweep import SweepScreen

if TYPE_CHECKING:
    from ..agents.sweep import SweepRunner
    from ..sandbox.taskspec import TaskSpec


@dataclass
class SweepChanged(Message):
    """A sweep running in this session moved: `run` changed (None: the sweep as a whole)."""

    state: SweepState
    run: int | None


@dataclass
class SweepsRead(Message):
    sweeps: list[SweepState]
    open_screen: bool


class SweepActions(AppBase):
    """The Sweep view and sweeps resumed in this session, part of `IchainApp`."""

    sweep_stops: dict[str, threading.Event]

    def action_sweeps(self) -> None:
        """S: the Sweep view of this account's sweeps (the newest first shown)."""
        self.read_sweeps(True)

    @work(thread=True, exclusive=True, group="sweeps", exit_on_error=False, description="Sweeps")
    def read_sweeps(self, open_screen: bool = False) -> None:
        self.post_message(SweepsRead(self.live.sweeps(), open_screen))

    def on_sweeps_read(self, message: SweepsRead) -> None:
        screen = self.screen
        if isinstance(screen, SweepScreen):
            for state in message.sweeps:
                if state.sweep_id not in getattr(self, "sweep_stops", {}):  # not the live copy here
                    screen.replace_state(state)
            return
        if message.open_screen:
            self.push_screen(SweepScreen(message.sweeps))
            self.set_interval(1.0, self._reread_sweeps, name="sweeps")

    def _reread_sweeps(self) -> None:
        if isinstance(self.screen, SweepScreen):
            self.read_sweeps(False)

    def action_submit_sweep(self) -> None:
        """Ctrl+G in Submit: the chosen folder's `[sweep]` as a sweep — its placement and cost
        preview first, sent (one createTasks) only on Enter, then followed in the Sweep view."""
        preview = self.preview
        if preview is None or not preview.spec.sweep:
            raise IchainError("choose a task folder whose ichain.toml has a [sweep] table first")
        self._prepare_sweep(preview.spec.folder, preview.spec)

    @work(thread=True, exclusive=True, group="sweep-new", exit_on_error=False, description="Sweep")
    def _prepare_sweep(self, folder: Path, spec: TaskSpec) -> None:
        holder: list[SweepState] = []

        def report(event: AgentEvent) -> None:
            if holder:
                self.post_message(SweepChanged(holder[0], event.data.get("run")))

        runner = self.live.new_sweep(folder, spec, report)
        holder.append(runner.state)
        runner.host()
        plan = runner.preview()
        runner.state.save()
        gas = runner.gas_preview(plan.placed)
        if gas is None:
            raise IchainError("the node cannot estimate the sweep's createTasks; nothing was sent")

        def confirmed(ok: bool) -> None:
            if ok:
                stops = self.__dict__.setdefault("sweep_stops", {})
                stops[runner.state.sweep_id] = threading.Event()
                self.push_screen(SweepScreen([runner.state]))
                self._drive_sweep(runner, stops[runner.state.sweep_id])

        lines = [f"sweep {runner.state.sweep_id} of {folder.name}", *plan.lines()]
        self.post_message(ModalWanted(ConfirmScreen("Send this sweep?", gas, lines), confirmed))

    @work(thread=True, group="sweep-run", exit_on_error=False, description="Sweep")
    def _drive_sweep(self, runner: SweepRunner, stop: threading.Event) -> None:
        self._until_done(runner, stop)

    def _until_done(self, runner: SweepRunner, stop: threading.Event) -> None:
        """(In a worker) run the sweep to its end here; the Sweep view follows its messages."""
        sweep_id = runner.state.sweep_id
        try:
            state = runner.run(stop)
        finally:
            self.__dict__.get("sweep_stops", {}).pop(sweep_id, None)
        done = sum(1 for r in state.runs if r.status == "done")
        self.post_message(Done(f"sweep {sweep_id}: {done} of {len(state.runs)} runs done", "Sweep"))

    def resume_sweep(self, sweep_id: str) -> None:
        """R in the Sweep view: run the sweep in this session until it ends (or the app quits)."""
        stops = self.__dict__.setdefault("sweep_stops", {})
        if sweep_id in stops:
            self.notify(f"sweep {sweep_id} already runs here", title="Sweep")
            return
        stops[sweep_id] = threading.Event()
        self._run_sweep(sweep_id, stops[sweep_id])

    @work(thread=True, group="sweep-run", exit_on_error=False, description="Sweep")
    def _run_sweep(self, sweep_id: str, stop: threading.Event) -> None:
        holder: list[SweepState] = []

        def report(event: AgentEvent) -> None:
            self.post_message(SweepChanged(holder[0], event.data.get("run")))

        runner = self.live.sweep_runner(sweep_id, report)
        holder.append(runner.state)
        self.post_message(SweepChanged(runner.state, None))
        self._until_done(runner, stop)

    def on_sweep_changed(self, message: SweepChanged) -> None:
        screen = self.screen
        if not isinstance(screen, SweepScreen):
            return
        if message.run is None:
            screen.replace_state(message.state)
            return
        current = screen.state
        if (
            current is not message.state
            and current is not None
            and current.sweep_id == message.state.sweep_id
        ):
            screen.replace_state(message.state)
            return
        screen.show_run(message.state.sweep_id, message.state.runs[message.run])
