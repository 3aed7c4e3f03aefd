"""Provides connections to a chain: `embedded` (eth-tester in process), `local` (anvil) or any JSON-RPC URL.

`Chain` wraps a Web3 instance with what the rest of the app needs from a node: the chain id (checked
against the configuration), EIP-1559 fee suggestions, and, on development chains only, funding and
time travel for tests and demos.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, Wei

from ..errors import one_line
from .errors import ChainError, NodeUnreachable, WrongChain
from .rpc import ResilientProvider, RpcStatus
from .txjournal import TxJournal

LOCAL_URL = "http://127.0.0.1:8545"


class NonceManager:
    """Hands out consecutive nonces per sender on one chain; resyncs from the node after failures."""

    def __init__(self, w3: Web3) -> None:
        self._w3 = w3
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}

    def reserve(self, address: str) -> int:
        with self._lock:
            onchain = int(self._w3.eth.get_transaction_count(Web3.to_checksum_address(address), "pending"))
            nonce = max(onchain, self._next.get(address, 0))
            self._next[address] = nonce + 1
            return nonce

    def forget(self, address: str | None = None) -> None:
        with self._lock:
            if address is None:
                self._next.clear()
            else:
                self._next.pop(address, None)


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee: int


class Chain:
    """One connected node. `kind` is `embedded`, `local` or `rpc`."""

    def __init__(self, w3: Web3, kind: str, url: str | None = None) -> None:
        self.w3 = w3
        self.kind = kind
        self.url = url
        self._chain_id: int | None = None
        self.nonces = NonceManager(w3)
        self.tx_journal: TxJournal | None = None  # set by whoever owns a data folder
        self.fee_cap: int | None = None  # most wei per gas a transaction may offer (None: no cap)
        self.bump_after = 30.0 if kind == "rpc" else 10.0  # seconds unmined before a fee replacement
        self.poll_interval = 3.0 if kind == "rpc" else 0.05  # receipt polling (a block is ~2-12 s)
        self.confirmations = 2 if kind == "rpc" else 0  # blocks an event must be under before agents act
        self._head = 0
        self.rewinds = 0  # development chains only: how often `revert` rewound history

    # -- identity -------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            try:
                self._chain_id = int(self.w3.eth.chain_id)
            except ChainError:
                raise  # the connection's own words
            except Exception as exc:  # connection refused, timeout, bad JSON
                raise NodeUnreachable(
                    f"cannot reach the node at {self.url or self.kind}: {one_line(exc)}"
                ) from exc
        return self._chain_id

    @property
    def rpc_status(self) -> RpcStatus | None:
        """Where the node connection stands (None for the in-process chain, which cannot fail)."""
        provider = self.w3.provider
        return provider.status if isinstance(provider, ResilientProvider) else None

    def on_status(self, listener: Callable[[RpcStatus], None]) -> None:
        """Call `listener(RpcStatus)` from the requesting thread whenever the connection changes state."""
        provider = self.w3.provider
        if isinstance(provider, ResilientProvider):
            provider.listeners.append(listener)

    def retry_now(self) -> None:
        """After an outage: try the node at the next request instead of waiting out the cool-down."""
        provider = self.w3.provider
        if isinstance(provider, ResilientProvider):
            provider.retry_now()

    @property
    def is_dev(self) -> bool:
        return self.kind in ("embedded", "local")

    @property
    def label(self) -> str:
        return self.kind if self.kind != "rpc" else (self.url or "rpc")

    def check_chain_id(self, expected: int | None) -> None:
        if expected is not None and self.chain_id != expected:
            raise WrongChain(
                f"node at {self.label} has chain id {self.chain_id}, configuration expects {expected}"
            )

    # -- reads ----------------------------------------------------------------
    def balance(self, address: str) -> int:
        try:
            return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))
        except ChainError:
            raise
        except Exception as exc:
            raise NodeUnreachable(f"cannot read balance from {self.label}: {one_line(exc)}") from exc

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def settled_block(self) -> int:
        """The newest block agents act on: `confirmations` under the highest head seen. It never
        goes backwards, even when a lagging replica answers a lower head than an earlier one."""
        try:
            head = int(self.w3.eth.block_number)
        except ChainError:
            raise
        except Exception as exc:
            raise NodeUnreachable(
                f"cannot read the block number from {self.label}: {one_line(exc)}"
            ) from None
        self._head = max(self._head, head)
        return max(0, self._head - self.confirmations)

    def timestamp(self) -> int:
        """Timestamp of the latest block (the contract's notion of now)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def fees(self) -> Fees:
        """EIP-1559 fees: tip from the node, max fee = 2 x base fee + tip."""
        block = self.w3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas") or 0)
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:
            tip = 10**9
        return Fees(max_fee_per_gas=2 * base + tip, max_priority_fee_per_gas=tip, base_fee=base)

    # -- development chains only --------------------------------------------------
    def _dev_only(self, what: str) -> None:
        if not self.is_dev:
            raise ChainError(f"{what} is only possible on a development chain (embedded or local)")

    def fund(self, address: str, wei: int) -> None:
        """Give `address` `wei` on a development chain."""
        self._dev_only("funding")
        address = Web3.to_checksum_address(address)
        if self.kind == "local":
            current = self.balance(address)
            self._dev_request("anvil_setBalance", [address, hex(current + wei)])
            return
        rich = self.w3.eth.accounts[0]
        tx = self.w3.eth.send_transaction({"from": rich, "to": address, "value": Wei(wei)})
        self.w3.eth.wait_for_transaction_receipt(tx)

    def advance_time(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block."""
        self._dev_only("time travel")
        if self.kind == "embedded":
            tester = self.w3.provider.ethereum_tester  # type: ignore[attr-defined]
            pending = int(tester.get_block_by_number("pending")["timestamp"])
            tester.time_travel(max(self.timestamp(), pending) + int(seconds))
            tester.mine_blocks(1)
        else:
            self._dev_request("evm_increaseTime", [int(seconds)])
            self._dev_request("evm_mine", [])

    def snapshot(self) -> Any:
        self._dev_only("snapshots")
        if self.kind == "embedded":
            return self.w3.provider.ethereum_tester.take_snapshot()  # type: ignore[attr-defined]
        return self._dev_request("evm_snapshot", [])["result"]

    def revert(self, snapshot_id: Any) -> None:
        self._dev_only("snapshots")
        if self.kind == "embedded":
            self.w3.provider.ethereum_tester.revert_to_snapshot(snapshot_id)  # type: ignore[attr-defined]
        else:
            self._dev_request("evm_revert", [snapshot_id])
        self.nonces.forget()
        self._head = 0  # the chain is shorter now: what was seen of it no longer holds
        if isinstance(self.w3.provider, ResilientProvider):
            self.w3.provider.evidence.forget()
        self.rewinds += 1

    def _dev_request(self, method: str, params: list[Any]) -> Any:
        """A development node's own JSON-RPC method (anvil_*, evm_*)."""
        return self.w3.provider.make_request(RPCEndpoint(method), params)


class SerialTesterProvider(EthereumTesterProvider):
    """The in-process chain, one request at a time: py-evm's state is not safe to touch from
    two threads at once, and the embedded demo runs its providers as threads beside the
    requester."""

    def __init__(self) -> None:
        super().__init__()
        self._serial = threading.RLock()

    def make_request(self, method: RPCEndpoint, params: Any) -> Any:
        with self._serial:
            return super().make_request(method, params)


def connect(
    network: str,
    expected_chain_id: int | None = None,
    timeout: float = 10.0,
    fallbacks: list[str] | tuple[str, ...] = (),
    patience: float = 30.0,
) -> Chain:
    """`embedded`, `local` (anvil on 127.0.0.1:8545) or an http(s):// JSON-RPC URL, with optional
    fallback URLs of the same chain. Node connections retry, fail over and re-check the chain id
    after every reconnect (`rpc.ResilientProvider`)."""
    if network == "embedded":
        try:
            provider = SerialTesterProvider()
        except ImportError:
            raise ChainError(
                "the embedded chain needs eth-tester: pip install 'ichain-tui[embedded]'"
            ) from None
        chain = Chain(Web3(provider), "embedded")
    else:
        url = LOCAL_URL if network == "local" else network
        urls = [url, *[u for u in fallbacks if u and u != url]]
        for candidate in urls:
            if not candidate.startswith(("http://", "https://")):
                raise ChainError(f"unknown network {candidate!r}: use embedded, local or an http(s):// URL")
        resilient = ResilientProvider(urls, timeout=timeout, patience=patience)
        w3 = Web3(resilient)
        kind = "local" if network == "local" or _is_anvil(w3, url) else "rpc"
        chain = Chain(w3, kind, url)
        resilient.expected_chain_id = chain.chain_id
    chain.check_chain_id(expected_chain_id)
    return chain


def _is_anvil(w3: Web3, url: str) -> bool:
    try:
        return str(w3.client_version).lower().startswith("anvil")
    except ChainError:
        raise  # the connection's own words
    except Exception as exc:
        raise NodeUnreachable(f"cannot reach the node at {url}: {one_line(exc)}") from exc
