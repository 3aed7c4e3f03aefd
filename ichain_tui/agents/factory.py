"""Provides the one place agents and their host are built from settings — `open_host`,
`requester_agent`, `provider_agent` — for the headless commands and the TUI alike, so both run
with the same transport, identity file, rates, slots, stake, hardware profile and provider policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import locations
from ..config import Settings
from ..transfer.fetcher import Fetcher
from ..transfer.progress import ProgressCallback
from ..transfer.transport import open_transport
from .events import Reporter, TaskOutput, ignore
from .hosting import Host

if TYPE_CHECKING:
    from ..chain.client import MarketClient
    from ..sandbox.policy import ProviderPolicy
    from ..sandbox.runner import Sandbox
    from .provider import ProviderAgent
    from .requester import RequesterAgent


def open_host(settings: Settings, address: str | None) -> Host:
    """The chunk server over the configured transport (direct, or an onion service through the
    tor named in the settings or launched for it). With `address` (the wallet's), its port and
    onion key are kept in `host-<transport>-<address>.json` across restarts."""
    transport = open_transport(
        settings.transport, locations.data_dir(), settings.tor_control_port, settings.tor_socks
    )
    identity = locations.data_dir() / f"host-{transport.name}-{address.lower()}.json" if address else None
    try:
        return Host(transport, settings.bind_host, settings.advertise_host, identity=identity)
    except BaseException:
        transport.close()
        raise


def close_host(host: Host) -> None:
    host.stop()
    host.transport.close()


def requester_agent(
    settings: Settings,
    market: MarketClient,
    host: Host,
    work: Path,
    report: Reporter = ignore,
    progress: ProgressCallback | None = None,
) -> RequesterAgent:
    from .requester import RequesterAgent

    return RequesterAgent(
        market,
        host,
        work,
        fetcher=Fetcher(socks=host.transport.socks),
        report=report,
        progress=progress,
        chunks=settings.chunks,
    )


def provider_agent(
    settings: Settings,
    market: MarketClient,
    sandbox: Sandbox,
    host: Host,
    work: Path,
    report: Reporter = ignore,
    progress: ProgressCallback | None = None,
    policy: ProviderPolicy | None = None,
    output: TaskOutput | None = None,
) -> ProviderAgent:
    """The provider `ichain provide --headless` and the TUI's Provider tab run: the settings'
    rates, slots, stake and named-validator policy, this machine's hardware, the provider policy."""
    from ..sandbox import policy as policies
    from ..sandbox.gpu import local_profile
    from .provider import ProviderAgent

    return ProviderAgent(
        market,
        sandbox,
        host,
        work,
        rate=settings.rate_wei,
        gpu_rate=settings.gpu_rate_wei,
        slots=settings.slots,
        queue=settings.queue,
        stake=settings.stake_wei,
        hardware=local_profile(sandbox.gpus),
        fetcher=Fetcher(socks=host.transport.socks),
        report=report,
        progress=progress,
        chunks=settings.chunks,
        accept_named_validators=settings.named_validators == "accept",
        result_retention_s=settings.result_retention_days * 86400,
        max_lock_s=settings.max_lock_hours * 3600,
        policy=policy or policies.from_settings(settings, work, len(sandbox.gpus)),
        output=output,
    )
