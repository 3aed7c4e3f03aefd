"""Helpers for transfer tests: random task folders and comparing trees."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def random_folder(root: Path, megabytes: float, files: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.py").write_text("print('task')\n")
    per = int(megabytes * 1024 * 1024 / files)
    for i in range(files):
        sub = root / f"part{i % 2}"
        sub.mkdir(exist_ok=True)
        (sub / f"data{i}.bin").write_bytes(os.urandom(per))
    return root


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
