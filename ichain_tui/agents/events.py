"""Provides `AgentEvent`, the one message agents report through their callback, and `Repeats`,
which keeps a recurring error from flooding that callback."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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

    def as_json(self) -> str:
        """One JSON line for `--json` output (the message, never keys or envelope contents)."""
        return json.dumps(
            {
                "role": self.role,
                "kind": self.kind,
                "task": self.task_id,
                "message": self.message,
                "at": round(self.at, 3),
                **({"progress": self.data["progress"]} if "progress" in self.data else {}),
            }
        )


Reporter = Callable[[AgentEvent], None]
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


def ignore(event: AgentEvent) -> None:
    """A reporter that drops everything."""


class Repeats:
    """Counts recurring errors by key: the first is reported, then only the 2nd, 4th, 8th, ... with
    their count, and the caller backs off longer the more an error repeats."""

    def __init__(self) -> None:
        self._counts: dict[object, int] = {}

    def seen(self, key: object) -> int:
        """Record one more occurrence; returns how many there have been. Texts that differ only
        in numbers or addresses (object ids, ports, block numbers) count as the same error."""
        key = self._normal(key)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]

    @staticmethod
    def _normal(key: object) -> object:
        if isinstance(key, tuple):
            return tuple(Repeats._normal(part) for part in key)
        return _NUMBERS.sub("#", key) if isinstance(key, str) else key

    def clear(self, key: object) -> None:
        self._counts.pop(self._normal(key), None)

    @staticmethod
    def worth_reporting(count: int) -> bool:
        return count & (count - 1) == 0  # 1, 2, 4, 8, ...

    def backoff(self, key: object, base: float, cap: float = 10.0) -> float:
        count: int = self._counts.get(self._normal(key), 1)
        return float(min(cap, base * 2 ** max(0, count - 1)))


TaskOutput = Callable[[int, str, str], None]  # (task id, stream, line): a running task's output
