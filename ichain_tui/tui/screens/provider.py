"""Provides `ProviderPane`: the provider dashboard — providing on/off, the task running now with
what its sandbox uses (CPU in cores and memory against its limit, from the container's cgroup),
earnings over time as a chart of the credits each paid task brought, and a log of the agent's
steps with the running task's own output lines."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, RichLog, Sparkline, Static

from ...sandbox.runner import RunUsage
from ..format import eth, size


class ProviderPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Provider dashboard", classes="title")
        yield Static("providing: off", id="provider-status")
        yield Static("sandbox: idle", id="provider-usage")
        with Horizontal(id="earnings-row"):
            yield Static("earnings: none yet", id="earnings-text")
            yield Sparkline([], id="earnings-chart")
        yield RichLog(id="provider-log", max_lines=500, wrap=True, markup=False)
        yield Label(
            "o providing on/off (Docker sandbox) · e provider policy · x withdraw free stake",
            classes="hint",
        )

    def show(self, providing: bool, current: int | None, earned: int, stake: int) -> None:
        state = "[b green]on[/]" if providing else "[b]off[/]"
        task = f"task {current}" if current is not None else "idle"
        self.query_one("#provider-status", Static).update(
            f"providing: {state} · {task} · credits {eth(earned, 6)} · stake {eth(stake, 4)}"
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
