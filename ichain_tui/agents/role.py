"""Provides `ProviderRole`: what the provider agent's roles (running a task, validating one)
share — the attributes `ProviderAgent` sets, declared once for the mixins that use them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..chain.client import MarketClient
    from ..sandbox.placement import Reservations
    from ..sandbox.policy import ProviderPolicy
    from ..sandbox.runner import Sandbox
    from ..transfer.dataset_cache import DatasetCache
    from ..transfer.fetcher import Fetcher
    from ..transfer.progress import ProgressCallback
    from .hosting import Host
    from .jobs import Jobs
    from .journal import Journal


class ProviderRole:
    """Mixed into `ProviderAgent`, which sets the attributes declared here."""

    market: MarketClient
    journal: Journal
    sandbox: Sandbox
    fetcher: Fetcher
    host: Host
    policy: ProviderPolicy
    progress: ProgressCallback | None
    cancel: threading.Event
    work: Path
    draining: bool
    jobs: Jobs
    reservations: Reservations
    datasets: DatasetCache
    max_lock_s: int

    _say: Callable[..., None]  # (kind, task_id, message, role=..., **data)
