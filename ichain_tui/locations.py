"""Provides every path the app uses: config, keystores, logs, journals (platformdirs; ICHAIN_HOME overrides)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

APP = "ichain"


def _dirs() -> PlatformDirs:
    return PlatformDirs(APP, appauthor=False)


def _home() -> Path | None:
    home = os.environ.get("ICHAIN_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(_dirs().user_config_dir)


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(_dirs().user_data_dir)


def log_dir() -> Path:
    home = _home()
    return home / "logs" if home else Path(_dirs().user_log_dir)


def config_file() -> Path:
    return config_dir() / "config.toml"


def keystore_dir() -> Path:
    return data_dir() / "keystores"


def deployments_file() -> Path:
    return data_dir() / "deployments.json"


def journal_dir() -> Path:
    return data_dir() / "journal"


def work_dir() -> Path:
    """Where tasks, results and chunks being transferred live."""
    return data_dir() / "work"


def all_paths() -> dict[str, Path]:
    return {
        "config": config_file(),
        "keystores": keystore_dir(),
        "deployments": deployments_file(),
        "journal": journal_dir(),
        "work": work_dir(),
        "logs": log_dir(),
    }


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        path.chmod(0o700)
    except PermissionError:
        pass
    return path
