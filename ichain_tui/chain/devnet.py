"""Provides a local anvil node on 127.0.0.1: start with a block time and funded accounts, wait, stop.

The anvil binary comes from the npm package `@foundry-rs/anvil` installed under contracts/.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .. import fixes
from ..netutil import free_port
from ..process import pid_alive
from .artifacts import CONTRACTS_DIR
from .errors import ChainError

# anvil's well-known development mnemonic: its keys are public, for local chains only.
CACHE_PREFIX = "ichain-anvil-"
MAX_PERSISTED_STATES = 64  # old block states kept on disk (beyond the ones anvil keeps in memory)
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_binary() -> str:
    """Path of the native anvil binary (npm package first, then PATH)."""
    pattern = str(CONTRACTS_DIR / "node_modules" / "@foundry-rs" / "anvil-*" / "bin" / "anvil")
    found = sorted(glob.glob(pattern))
    if found:
        return found[0]
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise ChainError(f"anvil not found: {fixes.anvil()}")


class Devnet:
    """A running anvil process. Use as a context manager or call `stop()`."""

    def __init__(
        self,
        port: int | None = None,
        block_time: float | None = None,
        accounts: int = 10,
        balance_eth: int = 10_000,
        log_path: Path | None = None,
        hardfork: str = "cancun",
    ) -> None:
        """`hardfork`: the contracts are compiled for cancun; the tests' shared anvil runs prague,
        where EIP-7702 accounts (code on an EOA) exist as on mainnet (anvil mines empty blocks
        about 9 times slower under prague, so deep-history runs keep cancun)."""
        self.port = port or free_port()
        self.hardfork = hardfork
        self.block_time = block_time
        self.accounts = accounts
        self.balance_eth = balance_eth
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._cache: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Devnet:
        cmd = [
            anvil_binary(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--accounts",
            str(self.accounts),
            "--balance",
            str(self.balance_eth),
            "--mnemonic",
            DEV_MNEMONIC,
            "--hardfork",
            self.hardfork,
            "--silent",
            # old states anvil moves out of memory go to a folder of this devnet's own, bounded
            # and removed on stop (by default they pile up under ~/.foundry and can fill a disk)
            "--cache-path",
            str(self._cache_dir()),
            "--max-persisted-states",
            str(MAX_PERSISTED_STATES),
        ]
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        with open(self.log_path, "ab") if self.log_path else open(os.devnull, "wb") as out:
            self.process = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ChainError(
                    f"anvil exited with status {self.process.returncode} (port {self.port} in use?)"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None

    def _cache_dir(self) -> Path:
        """A new folder for anvil's persisted states, named after this process; folders of
        processes that died without stopping their devnet are removed first."""
        base = Path(tempfile.gettempdir())
        for stale in base.glob(f"{CACHE_PREFIX}*"):
            pid = stale.name[len(CACHE_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
        self._cache = Path(tempfile.mkdtemp(prefix=f"{CACHE_PREFIX}{os.getpid()}-"))
        return self._cache

    def __enter__(self) -> Devnet:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dev_keys(self, count: int | None = None) -> list[str]:
        """Private keys of anvil's funded development accounts (public, local use only)."""
        from eth_account import Account

        Account.enable_unaudited_hdwallet_features()
        n = count or self.accounts
        return [
            Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.hex()
            for i in range(n)
        ]
