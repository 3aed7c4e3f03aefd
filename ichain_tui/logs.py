"""Provides `setup`: a rotating log file per program under the logs folder (`ichain paths`), with
tracebacks of unexpected errors. Keys and passwords are never logged: agents log events and
errors, never the journal or envelope contents."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from . import locations

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(name: str, verbose: bool = False, directory: Path | None = None) -> Path:
    """Send the `ichain_tui` loggers to <logs>/<name>.log (5 × 5 MB); returns the file's path."""
    folder = directory or locations.log_dir()
    locations.ensure_private_dir(folder)
    path = folder / f"{name}.log"
    root = logging.getLogger("ichain_tui")
    for handler in list(root.handlers):
        if getattr(handler, "ichain_log", False):
            root.removeHandler(handler)
            handler.close()
    handler = RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.ichain_log = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return path
