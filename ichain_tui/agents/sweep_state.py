"""Provides `SweepState`: a sweep's journal — its spec, its dataset (root, key, sealed folder), and
each run (parameters, sealed package, every attempt with its task id and provider, result folder,
metrics, progress history) — written atomically after every change, so `ichain sweep resume ID`
after a crash or a reboot picks up every run where it was, creates nothing twice and loses no
result. Kept (0600) beside the requester's journal, per market."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import locations
from ..durable import write_json
from ..errors import UsageError

PENDING, CREATING, LIVE, DONE, FAILED = "pending", "creating", "live", "done", "failed"
MAX_HISTORY = 400  # progress points kept per run (the curves)


@dataclass
class Attempt:
    task_id: int  # 0 while its createTasks is not known to be mined
    provider: str
    payment: int
    fee: int
    round: int = 0  # the runs queued before it at that provider's slot
    outcome: str = ""  # "": live; else the task's end ("paid", "declined", "expired", "rejected", ...)


@dataclass
class Run:
    index: int
    params: dict[str, Any]
    status: str = PENDING
    attempts: list[Attempt] = field(default_factory=list)
    package_dir: str = ""  # the run's sealed package (kept for retries and resume)
    package_root: str = ""
    package_key: str = ""
    result_dir: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)  # its metrics.json
    progress: dict[str, Any] = field(default_factory=dict)  # its last ICHAIN_PROGRESS report
    history: list[float] = field(default_factory=list)  # the sweep's metric over its reports
    progress_at: float = 0.0

    @property
    def live(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts and not self.attempts[-1].outcome else None

    @property
    def tried(self) -> set[str]:
        return {a.provider for a in self.attempts}

    @property
    def retries(self) -> int:
        return max(0, len(self.attempts) - 1)

    @property
    def cost(self) -> int:
        """Wei this run kept in the market: paid attempts (refunded ones came back)."""
        return sum(a.payment + a.fee for a in self.attempts if a.outcome in ("", "paid"))

    @property
    def provider(self) -> str:
        return self.attempts[-1].provider if self.attempts else ""

    @property
    def task_id(self) -> int:
        return self.attempts[-1].task_id if self.attempts else 0


@dataclass
class SweepState:
    sweep_id: str
    scope: str  # the market (chain id and address) its task ids belong to
    requester: str
    folder: str
    spec: dict[str, Any]
    start_block: int
    time_limit: int
    gpus: int = 0
    dataset: dict[str, Any] = field(default_factory=dict)  # root, key, dir, sealed_bytes, path
    runs: list[Run] = field(default_factory=list)
    status: str = "running"  # running | rated | done | stopped
    requester_txs: int = 0  # transactions the sweep sent (createTasks, createTask, rateMany, ...)
    results_dir: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.RLock()

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(4)

    @property
    def path(self) -> Path:
        return sweeps_dir(self.requester, self.scope) / f"{self.sweep_id}.json"

    def save(self) -> None:
        with self._lock:
            data = asdict(self)
            write_json(self.path, data)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def run(self, index: int) -> Run:
        return self.runs[index]

    def by_task(self, task_id: int) -> Run | None:
        for run in self.runs:
            if any(a.task_id == task_id for a in run.attempts):
                return run
        return None

    @property
    def spent(self) -> int:
        return sum(r.cost for r in self.runs)

    @property
    def over(self) -> bool:
        return all(r.status in (DONE, FAILED) for r in self.runs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepState:
        runs = [
            Run(**{**r, "attempts": [Attempt(**a) for a in r.get("attempts", [])]})
            for r in data.pop("runs", [])
        ]
        state = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        state.runs = runs
        return state


def sweeps_dir(requester: str, scope: str) -> Path:
    return locations.journal_dir() / f"sweeps-{requester.lower()}" / scope


def load(requester: str, scope: str, sweep_id: str) -> SweepState:
    """The journal of sweep `sweep_id` of this account on this market (one line when unknown)."""
    if not sweep_id or not all(c in "0123456789abcdef" for c in sweep_id.lower()):
        raise UsageError(f"sweep id {sweep_id[:20]!r} is not one this tool made (8 hex digits)")
    path = sweeps_dir(requester, scope) / f"{sweep_id.lower()}.json"
    try:
        return SweepState.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UsageError(f"no sweep {sweep_id} of {requester} on this market (ichain sweep list)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"the journal of sweep {sweep_id} cannot be read: {exc}") from None


def list_sweeps(requester: str, scope: str) -> list[SweepState]:
    folder = sweeps_dir(requester, scope)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(SweepState.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return found
