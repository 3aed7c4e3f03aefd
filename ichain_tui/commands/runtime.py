"""Provides the live parts a long-running command needs, built from settings: unlocked market
client, sandbox, host (direct or onion) and fetcher; and tears them down."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import locations
from ..chain.client import MarketClient
from ..config import Settings
from ..errors import one_line
from ..transfer.fetcher import Fetcher
from .common import chain_for, market_for, unlock

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ..agents.hosting import Host

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    market: MarketClient
    host: Host
    fetcher: Fetcher
    work: Path
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # one part failing to stop must not keep the others running
                log.warning("while stopping: %s", one_line(exc))


def build(settings: Settings, account: LocalAccount | None = None) -> Runtime:
    from ..agents import factory

    chain = chain_for(settings)
    account = account or unlock(settings)
    market = market_for(settings, chain, account)
    host = factory.open_host(settings, account.address)
    work = locations.work_dir() / market.signer.address.lower()
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    return Runtime(
        settings, market, host, Fetcher(socks=host.transport.socks), work, [lambda: factory.close_host(host)]
    )
