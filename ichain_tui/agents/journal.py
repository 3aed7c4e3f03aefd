"""Provides `Journal`: a small JSON record per task and role (mode 0600), so an agent that crashes
or restarts can pick up where it was; chain state stays the truth, the journal adds local facts
(where files are, the keys of files it sealed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import locations
from ..durable import write_json


class Journal:
    def __init__(self, role: str, address: str, directory: Path | None = None, scope: str = "") -> None:
        """`scope` (`MarketClient.scope`: chain id and market) keeps the records of each
        deployment apart: task ids restart at 1 on a new market."""
        base = directory or locations.journal_dir()
        self.dir = base / f"{role}-{address.lower()}"
        if scope:
            self.dir = self.dir / scope
        self.corrupt: list[str] = []  # names of records set aside
        self._lock = threading.Lock()  # the duty loop and a task's job may update one record
        locations.ensure_private_dir(self.dir)

    def _path(self, task_id: int) -> Path:
        return self.dir / f"task-{task_id}.json"

    def get(self, task_id: int) -> dict[str, Any]:
        try:
            record = json.loads(self._path(task_id).read_text())
            return record if isinstance(record, dict) else {}
        except (OSError, ValueError):
            return {}

    def update(self, task_id: int, **values: Any) -> dict[str, Any]:
        with self._lock:
            record = {**self.get(task_id), **values, "task_id": task_id}
            write_json(self._path(task_id), record)
            return record

    @property
    def cursor(self) -> int:
        """The last block whose events this agent has read and recorded (-1: none yet)."""
        try:
            return int(json.loads((self.dir / "cursor.json").read_text())["block"])
        except (OSError, ValueError, TypeError, KeyError):
            return -1

    @cursor.setter
    def cursor(self, block: int) -> None:
        write_json(self.dir / "cursor.json", {"block": int(block)})

    def _records(self) -> Iterator[dict[str, Any]]:
        """Every readable record; a corrupt or empty one is set aside."""
        for path in self.dir.glob("task-*.json"):
            try:
                record = json.loads(path.read_text())
                record["task_id"] = int(record["task_id"])
            except (OSError, ValueError, TypeError, KeyError):
                self.set_aside(path)
                continue
            yield record

    def find(self, field: str, value: Any, exclude: int | None = None) -> int | None:
        """The id of a recorded task (other than `exclude`) whose `field` equals `value`."""
        for record in self._records():
            if record.get(field) == value and record["task_id"] != exclude:
                return int(record["task_id"])
        return None

    # ------------------------------------------------------------------ before the task has an id
    def stash(self, root: str, **values: Any) -> None:
        """Keep a task's keys under its package root before the transaction that creates it is
        sent (its id is known only once mined): a crash in between loses no key."""
        write_json(self.dir / f"pending-{root[:64]}.json", {**values, "task_root": root})

    def stashed(self, root: str) -> dict[str, Any]:
        try:
            record = json.loads((self.dir / f"pending-{root[:64]}.json").read_text())
            return record if isinstance(record, dict) else {}
        except (OSError, ValueError):
            return {}

    def adopt(self, task_id: int, root: str, **values: Any) -> dict[str, Any]:
        """The stashed keys of `root` become task `task_id`'s record."""
        record = self.update(task_id, **self.stashed(root), **values)
        self.drop_stash(root)
        return record

    def drop_stash(self, root: str) -> None:
        (self.dir / f"pending-{root[:64]}.json").unlink(missing_ok=True)

    def open_tasks(self) -> list[int]:
        return sorted(r["task_id"] for r in self._records() if not r.get("closed"))

    def set_aside(self, path: Path) -> None:
        """Move a corrupt or empty record out of the way (kept for inspection, never fatal)."""
        try:
            path.replace(path.with_suffix(".corrupt"))
        except OSError:
            pass
        self.corrupt.append(path.name)
