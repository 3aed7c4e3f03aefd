"""Provides `RecentFolders`: the task folders this user chose last (most recent first), kept in
the data folder so the next session starts where the last one was."""

from __future__ import annotations

import json
from pathlib import Path

from . import locations

KEEP = 10


class RecentFolders:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or locations.data_dir() / "recent-folders.json"

    def load(self) -> list[Path]:
        try:
            names = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(names, list):
            return []
        return [Path(n) for n in names if isinstance(n, str) and Path(n).is_dir()][:KEEP]

    def add(self, folder: Path) -> None:
        folder = Path(folder).resolve()
        names = [str(folder)] + [str(p) for p in self.load() if p != folder]
        try:
            locations.ensure_private_dir(self.path.parent)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(names[:KEEP]))
            tmp.replace(self.path)
        except OSError:
            pass  # remembering is a convenience, never a reason to fail
