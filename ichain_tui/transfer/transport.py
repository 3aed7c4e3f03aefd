"""Provides the `Transport` protocol — how peers reach the chunk server we host and how we reach
theirs — its two implementations, `DirectTransport` and `TorTransport`, and `open_transport`, the
one place a transport is chosen from settings (the headless commands and the TUI both use it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from ..netutil import free_port
from .errors import TransferError

TransportName = Literal["direct", "tor"]
TRANSPORT_NAMES: tuple[TransportName, ...] = ("direct", "tor")

log = logging.getLogger(__name__)


class Transport(Protocol):
    """What hosting and fetching need from a way of moving bytes between peers."""

    @property
    def name(self) -> TransportName:
        """The name a `FileRef` carries, so the recipient knows how to reach the address."""
        ...

    @property
    def socks(self) -> str | None:
        """host:port of the SOCKS proxy fetches go through (None: connect directly)."""
        ...

    def publish(self, server_address: str, port: int, key: str | None) -> tuple[str, str | None]:
        """The address peers reach the chunk server on `port` at, and the key that keeps that
        address across restarts (`key` is the one kept from the last run, or None)."""
        ...

    def close(self) -> None:
        """Stop what this transport started (a tor it launched, a control connection)."""
        ...


class DirectTransport:
    """Peers connect to the chunk server's own host:port (a LAN, a VPN, a public address)."""

    name: TransportName = "direct"
    socks: str | None = None

    def publish(self, server_address: str, port: int, key: str | None) -> tuple[str, str | None]:
        return server_address, None

    def close(self) -> None:
        return None


class TorTransport:
    """The chunk server is published as an onion service; fetches go through tor's SOCKS port
    with one circuit per stream (IsolateSOCKSAuth)."""

    name: TransportName = "tor"

    def __init__(self, tor: object, socks: str, closers: list[Callable[[], None]] | None = None) -> None:
        """`tor` is a `transfer.tor.Tor` control connection; `closers` stop what was started for it."""
        from .tor import Tor

        if not isinstance(tor, Tor):
            raise TypeError("TorTransport needs a transfer.tor.Tor control connection")
        self.tor = tor
        self.socks: str | None = socks
        self._closers = list(closers or [])

    def publish(self, server_address: str, port: int, key: str | None) -> tuple[str, str | None]:
        address = self.tor.create_onion(port, key=key)
        return address, self.tor.onion_keys.get(address.split(".onion")[0]) or key

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # one part failing to stop must not keep the others running
                log.warning("while stopping tor: %s", exc)
        self._closers.clear()


def open_transport(
    name: str,
    data_dir: Path,
    control_port: int | None = None,
    socks: str | None = None,
) -> Transport:
    """The transport `name` ("direct" or "tor"). For tor: attach to the tor at `control_port`,
    or launch our own one (its files under `data_dir`/tor) when none is given."""
    if name == "direct":
        return DirectTransport()
    if name != "tor":
        raise TransferError(f"transport must be one of {', '.join(TRANSPORT_NAMES)}, not {name!r}")
    from . import tor as tor_mod

    closers: list[Callable[[], None]] = []
    if control_port:
        tor = tor_mod.Tor.attach(control_port)
        closers.append(tor.close)
    else:
        proc = tor_mod.launch(
            {
                "SocksPort": f"127.0.0.1:{free_port()} IsolateSOCKSAuth",
                "ControlPort": str(free_port()),
                "Log": "notice stdout",
            },
            data_dir / "tor",
            completion_percent=100,
            timeout=120,
        )
        tor = proc.controller()
        closers.append(proc.stop)
        socks = socks or f"127.0.0.1:{proc.socks_port}"
    if socks is None:
        socks = str(tor.controller.get_info("net/listeners/socks")).split()[0].strip('"')
    return TorTransport(tor, socks, closers)
