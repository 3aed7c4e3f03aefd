"""A local market for end-to-end tests: a real anvil, the deployed contracts, headless providers
as separate processes, and in-process requester agents."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from eth_account import Account

from ichain_tui.agents.hosting import Host
from ichain_tui.agents.requester import RequesterAgent
from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.network import connect
from ichain_tui.chain.wallet import Wallet

PASSWORD = "e2e-test-password"


class ProviderProcess:
    def __init__(self, market: "LocalMarket", index: int, key: str, price_eth: float = 0.01) -> None:
        self.home = market.base / f"provider-{index}"
        self.account = Account.from_key(key)
        if not (self.home / "data" / "keystores").exists():
            Wallet(self.home / "data" / "keystores").import_private_key(key, PASSWORD)
        self.env = {**os.environ, "ICHAIN_HOME": str(self.home), "ICHAIN_PASSWORD": PASSWORD,
                    "ICHAIN_NETWORK": market.url, "ICHAIN_MARKET": market.address,
                    "ICHAIN_PRICE_ETH": str(price_eth), "ICHAIN_STAKE_ETH": "0.5", "ICHAIN_CHUNKS": "2"}
        self.log_path = self.home / "provider.log"
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str) -> "ProviderProcess":
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "ichain_tui.cli", "provide", "--headless", *extra],
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
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
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class LocalMarket:
    def __init__(self, devnet, base: Path) -> None:
        self.devnet = devnet
        self.base = base
        self.url = devnet.url
        self.keys = devnet.dev_keys()
        self.chain = connect(self.url)
        self.deployer = Account.from_key(self.keys[0])
        self.market = MarketClient.deploy(self.chain, self.deployer, min_stake=10**16)
        self.address = self.market.address
        self.providers: list[ProviderProcess] = []
        self.hosts: list[Host] = []

    def provider(self, index: int, price_eth: float = 0.01) -> ProviderProcess:
        p = ProviderProcess(self, index, self.keys[index], price_eth)
        self.providers.append(p)
        return p

    def requester(self, key_index: int, events: list | None = None) -> RequesterAgent:
        account = Account.from_key(self.keys[key_index])
        host = Host("direct")
        self.hosts.append(host)
        report = (lambda e: events.append(e)) if events is not None else (lambda e: None)
        return RequesterAgent(self.market.as_account(account), host, self.base / f"requester-{key_index}",
                              report=report, chunks=2)

    def wait_registered(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while len(self.market.events("ProviderRegistered")) < count:
            for p in self.providers:
                if p.proc is not None and p.proc.poll() is not None:
                    raise AssertionError(f"provider exited:\n{p.log()}")
            assert time.monotonic() < deadline, "providers did not register"
            time.sleep(0.2)

    def close(self) -> None:
        for p in self.providers:
            if p.proc is not None and p.proc.poll() is None:
                p.proc.terminate()
        for p in self.providers:
            if p.proc is not None:
                try:
                    p.proc.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        for h in self.hosts:
            h.stop()


def quick_task(root: Path, sleep: float = 0.0, lie: bool = False) -> Path:
    """A tiny task: execute writes a number, check recomputes it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.py").write_text(textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        mode, out = sys.argv[1], Path(sys.argv[2])
        value = sum(i * i for i in range(1000))
        if mode == "execute":
            time.sleep({sleep})
            (out / "answer.json").write_text(json.dumps({{"value": value}}))
            print("answer", value)
        else:
            claimed = json.loads((out / "answer.json").read_text())["value"]
            print("claimed", claimed, "expected", value)
            sys.exit(0 if claimed == value else 1)
    """))
    (root / "ichain.toml").write_text("time_limit = 120\nmemory_mb = 256\n")
    return root
