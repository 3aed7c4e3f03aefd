"""Provides `AgentEvent`, the one message agents report through their callback."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class AgentEvent:
    role: str  # requester | provider | validator
    kind: str  # registered, assigned, fetched, executed, submitted, verdict, paid, refunded, error, ...
    task_id: int | None
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def text(self) -> str:
        task = f"task {self.task_id} " if self.task_id is not None else ""
        return f"{task}{self.kind}: {self.message}"

    def line(self) -> str:
        return f"{self.role:<9} {self.text()}"


Reporter = Callable[[AgentEvent], None]


def ignore(event: AgentEvent) -> None:
    """A reporter that drops everything."""
