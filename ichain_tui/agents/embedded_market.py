"""Provides `EmbeddedMarket`: the whole market on this machine without anvil, for the demo of an
installed wheel. The chain is the in-process one (eth-tester on py-evm), the contracts are
deployed from the package's own artifacts, and each provider is an in-process agent with its own
fresh key, home, journal and chunk server. They run the same `ProviderAgent` loop, the same
Docker sandbox and the same encrypted chunk transfers as `ichain provide --headless`; only the
process boundary is gone (every agent shares the one in-process chain, serialised by
`SerialTesterProvider`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..chain.network import connect
from ..chain.wallet import account_from_key, new_private_key
from ..config import Settings
from ..errors import IchainError, one_line
from .events import AgentEvent
from .factory import provider_agent
from .hosting import Host
from .localnet import MarketHere
from .provider import ProviderAgent

FUNDS_WEI = 100 * 10**18  # each party's balance on the throwaway chain
GRACE_S = 10.0  # how long a provider may finish its work when the demo ends


class EmbeddedProvider:
    """One provider agent on its own thread, with its own key, home and chunk server."""

    def __init__(self, market: EmbeddedMarket, index: int, key: str, rate_eth: str, slots: int = 4) -> None:
        self.market = market
        self.home = market.base / f"provider-{index}"
        self.account = account_from_key(key)
        self.log_path = self.home / "provider.log"
        self.settings = Settings.load(
            path=self.home / "config.toml",
            env={
                "ICHAIN_RATE_ETH": rate_eth,
                "ICHAIN_SLOTS": str(slots),
                "ICHAIN_STAKE_ETH": "0.5",
                "ICHAIN_CHUNKS": "2",
            },
        )
        self.agent: ProviderAgent | None = None
        self._docker: Any = None
        self.host: Host | None = None
        self.failure: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _log(self, event: AgentEvent) -> None:
        with open(self.log_path, "a") as log:
            log.write(event.line() + "\n")

    def start(self) -> EmbeddedProvider:
        from ..sandbox import policy as policies
        from ..sandbox.deps import DepsLimits
        from ..sandbox.runner import open_sandbox

        work = self.home / "work"
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
        s = self.settings
        policy = policies.from_settings(s, work, 0)
        sandbox = open_sandbox(
            s.docker_image,
            policy.runtime,
            policy.max_output_files,
            s.package_index,
            DepsLimits.from_settings(s),
        )
        self._docker = sandbox.dc
        self.host = Host()
        client = self.market.market.as_account(self.account)
        self.agent = provider_agent(s, client, sandbox, self.host, work, self._log, policy=policy)
        self._thread = threading.Thread(target=self._run, name=f"provider-{self.home.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self.agent is not None
        try:
            self.agent.start_providing()
            self.agent.run(self._stop)
        except Exception as exc:  # the demo reports it; the other agents go on
            self.failure = one_line(exc)
            self._log(AgentEvent("provider", "error", None, self.failure))

    def stop(self, grace: float = GRACE_S) -> None:
        if self.agent is not None and self._thread is not None and self._thread.is_alive():
            try:
                self.agent.shutdown(grace=grace)
            except Exception as exc:  # a last report only: the chain dies with the demo
                self._log(AgentEvent("provider", "error", None, f"shutdown: {one_line(exc)}"))
            self._stop.set()
            self._thread.join(grace + 5)
        if self.host is not None:
            self.host.stop()
        if self._docker is not None:
            self._docker.close()


class EmbeddedMarket(MarketHere):
    """The in-process chain with the Marketplace deployed and `accounts` funded fresh keys."""

    url = "embedded"

    def __init__(self, base: Path, accounts: int, min_stake: int = 10**16) -> None:
        chain = connect("embedded")
        keys = [new_private_key() for _ in range(accounts)]
        for key in keys:
            chain.fund(account_from_key(key).address, FUNDS_WEI)
        super().__init__(chain, keys, base, min_stake)
        self.providers: list[EmbeddedProvider] = []

    def provider(self, index: int, rate_eth: str = "0.01", slots: int = 4) -> EmbeddedProvider:
        if index >= len(self.keys):
            raise IchainError(f"the embedded market has {len(self.keys)} keys; provider {index} has none")
        p = EmbeddedProvider(self, index, self.keys[index], rate_eth, slots)
        self.providers.append(p)
        return p

    def exited(self) -> str | None:
        for p in self.providers:
            if p.failure:
                return p.failure
        return None

    def close(self, grace: float = GRACE_S) -> None:
        """Stop every provider at once (each may finish its work for `grace` seconds)."""
        stoppers = [threading.Thread(target=p.stop, args=(grace,), daemon=True) for p in self.providers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(grace + 10)
        for h in self.hosts:
            h.stop()
