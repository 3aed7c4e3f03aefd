"""Provides `SweepScreen`: one sweep's runs side by side — a row per run (parameters, provider,
state, a progress bar, its metric, cost, retries; the best run marked ★) and the metric's curves
of all runs overlaid in one plot (textual-plotext). A progress report of a run repaints its row
and the plot at once (`show_run`); `[` and `]` go to another of this account's sweeps; Enter
opens the run's task (its live log, timeline and result folder); `R` resumes the sweep here."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static
from textual_plotext import PlotextPlot

from ...agents.sweep_results import best_run
from ...agents.sweep_spec import SweepSpec
from ...agents.sweep_state import DONE, FAILED, LIVE, Run, SweepState
from ..format import eth, short

COLUMNS = ("run", "parameters", "provider", "state", "progress", "metric", "ETH", "retries")
BAR = 8


def fraction(run: Run, params_epochs: Any = None) -> float:
    """How far a run is: 1 when done; else its own report (`progress` 0..1, or `epoch` of
    `epochs` from the report or its parameters); 0 when nothing says."""
    if run.status == DONE:
        return 1.0
    report = run.progress
    value = report.get("progress")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0.0, min(1.0, float(value)))
    epoch = report.get("epoch")
    total = report.get("epochs", run.params.get("epochs", params_epochs))
    if isinstance(epoch, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return max(0.0, min(1.0, float(epoch) / float(total)))
    return 0.0


def bar(share: float, status: str) -> Text:
    filled = round(share * BAR)
    style = "green" if status == DONE else "red" if status == FAILED else "cyan"
    return Text("█" * filled, style=style) + Text("░" * (BAR - filled), style="dim") + Text(f" {share:4.0%}")


class SweepScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="sweep.back"),
        Binding("left_square_bracket", "other(-1)", "Previous sweep", id="sweep.previous"),
        Binding("right_square_bracket", "other(1)", "Next sweep", id="sweep.next"),
        Binding("R", "resume", "Resume here", id="sweep.resume"),
    ]

    DEFAULT_CSS = """
    SweepScreen #sweep-title { height: auto; }
    SweepScreen #sweep-runs { height: auto; max-height: 50%; }
    SweepScreen #sweep-plot { height: 1fr; min-height: 6; }
    """

    def __init__(self, sweeps: list[SweepState], index: int = -1) -> None:
        super().__init__()
        self.sweeps = sweeps
        self.index = index % len(sweeps) if sweeps else 0

    @property
    def state(self) -> SweepState | None:
        return self.sweeps[self.index] if self.sweeps else None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("no sweeps yet: ichain sweep run FOLDER", id="sweep-title")
            table: DataTable[str | Text] = DataTable(id="sweep-runs", cursor_type="row", zebra_stripes=True)
            for name in COLUMNS:
                table.add_column(name, key=name)
            yield table
            yield PlotextPlot(id="sweep-plot")
            yield Label(
                "Enter run's task (live log, result) · [ ] other sweep · R resume here · Esc back",
                classes="hint",
            )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_all()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a run: its task's detail (timeline, live log, result folder)."""
        event.stop()
        state = self.state
        if state is None or event.row_key.value is None:
            return
        run = state.runs[int(str(event.row_key.value))]
        if run.task_id:
            self.app.open_task(run.task_id)  # type: ignore[attr-defined]
        else:
            self.notify(f"run {run.index} has no task yet", title="Sweep")

    def action_other(self, step: int) -> None:
        if self.sweeps:
            self.index = (self.index + step) % len(self.sweeps)
            self.show_all()

    def action_resume(self) -> None:
        if self.state is not None:
            self.app.resume_sweep(self.state.sweep_id)  # type: ignore[attr-defined]

    def replace_state(self, state: SweepState) -> None:
        """A fresher copy of a sweep (its journal changed, or its runner here moved on)."""
        for i, known in enumerate(self.sweeps):
            if known.sweep_id == state.sweep_id:
                self.sweeps[i] = state
                if i == self.index:
                    self.show_all()
                return
        self.sweeps.append(state)

    # ------------------------------------------------------------------ painting
    def show_all(self) -> None:
        table = self.query_one("#sweep-runs", DataTable)
        table.clear()
        state = self.state
        if state is None:
            return
        for run in state.runs:
            table.add_row(*self._cells(state, run), key=str(run.index))
        self._title()
        self._plot()

    def show_run(self, sweep_id: str, run: Run) -> None:
        """One run changed (a report, a new state): its row and the plot, nothing else."""
        state = self.state
        if state is None or state.sweep_id != sweep_id:
            return
        table = self.query_one("#sweep-runs", DataTable)
        key = str(run.index)
        for column, value in zip(COLUMNS, self._cells(state, run), strict=True):
            table.update_cell(key, column, value)
        self._title()
        self._plot()

    def _cells(self, state: SweepState, run: Run) -> tuple[str | Text, ...]:
        spec = SweepSpec.from_dict(state.spec)
        value = run.metrics.get(spec.metric) if spec.metric else None
        if value is None and spec.metric:
            value = run.progress.get(spec.metric)
        best = best_run(state)
        shown = f"{value:.4g}" if isinstance(value, float) else "-" if value is None else str(value)
        params = " ".join(f"{k}={v}" for k, v in run.params.items())
        mark = "★ " if best is not None and best.index == run.index else ""
        return (
            f"{mark}{run.index}",
            Text(params[:32]),
            short(run.provider) if run.provider else "-",
            run.status + (f" #{run.task_id}" if run.status == LIVE else ""),
            bar(fraction(run), run.status),
            shown,
            eth(run.cost, 5).removesuffix(" ETH"),
            str(run.retries),
        )

    def _title(self) -> None:
        state = self.state
        if state is None:
            return
        spec = SweepSpec.from_dict(state.spec)
        done = sum(1 for r in state.runs if r.status == DONE)
        best = best_run(state)
        budget = f" of {eth(spec.budget_wei, 4)}" if spec.budget_wei else ""
        text = (
            f"sweep {state.sweep_id} ({self.index + 1}/{len(self.sweeps)}) · {done}/{len(state.runs)} done · "
            f"{state.status} · spent {eth(state.spent, 4)}{budget}"
        )
        if best is not None:
            text += f" · best run {best.index}: {spec.metric} {best.metrics.get(spec.metric)}"
        self.query_one("#sweep-title", Static).update(Text(text))

    def _plot(self) -> None:
        state = self.state
        widget = self.query_one("#sweep-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        if state is None:
            return
        spec = SweepSpec.from_dict(state.spec)
        best = best_run(state)
        plt.title(
            f"{spec.metric or 'metric'} per report, every run"
            + (f" (goal: {spec.goal})" if spec.metric else "")
        )
        for run in state.runs:
            if len(run.history) < 1:
                continue
            label = ("★ " if best is not None and best.index == run.index else "") + f"run {run.index}"
            plt.plot(list(range(1, len(run.history) + 1)), run.history, label=label)
        widget.refresh()
