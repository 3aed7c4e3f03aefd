"""Provides `LocalMarket`: a whole market on this machine for the demo, tests and benchmarks: a real
anvil, the deployed contracts, headless providers as separate `ichain provide` processes (each
with its own home, keystore and journal) and in-process requester agents.

The keys are anvil's public development keys: for local chains only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..chain.client import MarketClient
from ..chain.devnet import Devnet
from ..chain.network import Chain, connect
from ..chain.wallet import Wallet, account_from_key
from ..errors import IchainError
from .events import Reporter
from .hosting import Host
from .requester import RequesterAgent

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

PASSWORD = "ichain-local-market"  # throwaway keystores of public dev keys


class ProviderProcess:
    def __init__(
        self,
        market: LocalMarket,
        index: int,
        key: str,
        rate_eth: str | float = "0.01",
        slots: int = 4,
        queue: int = 0,
    ) -> None:
        self.home = market.base / f"provider-{index}"
        self.account = account_from_key(key)
        if not (self.home / "data" / "keystores").exists():
            Wallet(self.home / "data" / "keystores").import_private_key(key, PASSWORD)
        self.env = {
            **os.environ,
            "ICHAIN_HOME": str(self.home),
            "ICHAIN_PASSWORD": PASSWORD,
            "ICHAIN_NETWORK": market.url,
            "ICHAIN_MARKET": market.address,
            "ICHAIN_RATE_ETH": str(rate_eth),
            "ICHAIN_SLOTS": str(slots),
            "ICHAIN_QUEUE": str(queue),
            "ICHAIN_STAKE_ETH": "0.5",
            "ICHAIN_CHUNKS": "2",
        }
        self.log_path = self.home / "provider.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> ProviderProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ichain_tui.cli", "provide", "--headless", *extra],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"provider exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in provider log:\n{self.log()}")
            time.sleep(0.1)

    def terminate(self, timeout: float = 90) -> int:
        if self.proc is None:
            raise IchainError("the provider process was never started")
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class ProviderHere(Protocol):
    """A provider of a market on this machine: a process or an in-process agent."""

    account: LocalAccount
    log_path: Path

    def start(self) -> ProviderHere: ...


class MarketHere(ABC):
    """What both kinds of market on this machine share: a deployed Marketplace, its keys (index 0
    deploys and requests), in-process requester agents and the wait for providers."""

    def __init__(self, chain: Chain, keys: list[str], base: Path, min_stake: int) -> None:
        self.base = base
        self.keys = keys
        self.chain = chain
        self.deployer = account_from_key(self.keys[0])
        self.market = MarketClient.deploy(self.chain, self.deployer, min_stake=min_stake)
        self.address = self.market.address
        self.hosts: list[Host] = []

    def requester(self, key_index: int, report: Reporter | None = None) -> RequesterAgent:
        account = account_from_key(self.keys[key_index])
        host = Host()
        self.hosts.append(host)
        return RequesterAgent(
            self.market.as_account(account),
            host,
            self.base / f"requester-{key_index}",
            report=report or (lambda e: None),
            chunks=2,
        )

    @abstractmethod
    def provider(self, index: int, rate_eth: str = "0.01", slots: int = 4) -> ProviderHere:
        """Provider `index` (its key is `keys[index]`) with `slots` slots, not started yet."""

    def exited(self) -> str | None:
        """Why a started provider is no longer running, if one is not."""
        return None

    def wait_registered(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while len(self.market.events("ProviderRegistered")) < count:
            why = self.exited()
            if why:
                raise IchainError(f"a provider stopped before registering: {why}")
            if time.monotonic() >= deadline:
                raise IchainError(f"{count} providers did not register within {timeout:.0f} s")
            time.sleep(0.2)


class LocalMarket(MarketHere):
    def __init__(self, devnet: Devnet, base: Path, min_stake: int = 10**16) -> None:
        self.devnet = devnet
        self.url = devnet.url
        super().__init__(connect(self.url), devnet.dev_keys(), base, min_stake)
        self.providers: list[ProviderProcess] = []

    def exited(self) -> str | None:
        for p in self.providers:
            if p.proc is not None and p.proc.poll() is not None:
                return f"exit {p.proc.returncode}: {p.log()[-2000:]}"
        return None

    def provider(
        self, index: int, rate_eth: str | float = "0.01", slots: int = 4, queue: int = 0
    ) -> ProviderProcess:
        p = ProviderProcess(self, index, self.keys[index], rate_eth, slots, queue)
        self.providers.append(p)
        return p

    def close(self, grace: float = 60) -> None:
        """SIGTERM every provider at once, give them `grace` seconds together, then kill the rest
        (the demo passes a short grace: its chain and every provider's files go with it)."""
        for p in self.providers:
            if p.proc is not None and p.proc.poll() is None:
                p.proc.terminate()
        deadline = time.monotonic() + grace
        for p in self.providers:
            if p.proc is not None:
                try:
                    p.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
        for h in self.hosts:
            h.stop()
