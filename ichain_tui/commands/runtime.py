"""Provides the live parts a long-running command needs, built from settings: unlocked market
client, sandbox, host (direct or onion) and fetcher; and tears them down."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import locations
from ..chain.client import MarketClient
from ..config import Settings
from ..netutil import free_port
from ..transfer.fetcher import Fetcher
from .common import chain_for, market_for, unlock


@dataclass
class Runtime:
    settings: Settings
    market: MarketClient
    host: object
    fetcher: Fetcher
    work: Path
    _closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                pass


def build(settings: Settings, account=None) -> Runtime:
    from ..agents.hosting import Host

    chain = chain_for(settings)
    account = account or unlock(settings)
    market = market_for(settings, chain, account)
    closers: list = []
    tor = None
    socks = settings.tor_socks
    if settings.transport == "tor":
        from ..transfer import tor as tor_mod

        if settings.tor_control_port:
            tor = tor_mod.Tor.attach(settings.tor_control_port)
            closers.append(tor.close)
        else:
            proc = tor_mod.launch({"SocksPort": f"127.0.0.1:{free_port()} IsolateSOCKSAuth",
                                   "ControlPort": str(free_port()), "Log": "notice stdout"},
                                  locations.data_dir() / "tor", completion_percent=100, timeout=120)
            tor = proc.controller()
            closers.append(proc.stop)
            socks = socks or f"127.0.0.1:{proc.socks_port}"
        if socks is None:
            socks = tor.controller.get_info("net/listeners/socks").split()[0].strip('"')
    host = Host(settings.transport, settings.bind_host, settings.advertise_host, tor=tor,
                identity=locations.data_dir() / f"host-{settings.transport}-{account.address.lower()}.json")
    closers.append(host.stop)
    work = locations.work_dir() / market.account.address.lower()
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    return Runtime(settings, market, host, Fetcher(socks=socks), work, closers)

