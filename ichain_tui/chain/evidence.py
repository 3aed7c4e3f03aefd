"""Provides `Evidence`: what the chain has already shown this process, against which any node's
later answers are checked (`contradiction`), so that a fallback endpoint that lies — no receipt
for a mined transaction, no log where one is known, another hash for a known block, a head far
behind one already seen, a zero balance where the primary said otherwise at that block — is
caught by its own answers.

Evidence comes only from answers: receipts (their block hash and number, their logs), block
headers, heads, and balances read at an explicit block. It is bounded (the newest entries are
kept) and never asks the node anything itself. Only what has `REORG_DEPTH` blocks on top of it
counts (a reorganisation may honestly remove a newer receipt), and a development chain reverted to
a snapshot starts it over (`forget`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_ENTRIES = 512
HEAD_SLACK = 64  # blocks a healthy node may lag behind the highest head already seen
REORG_DEPTH = 3  # a receipt, block or log is evidence once this many blocks are on top of it


@dataclass(frozen=True)
class KnownLog:
    block: int
    address: str
    topics: tuple[str, ...]
    tx_hash: str
    index: int


# the methods whose answers are learnt from or judged (any other answer is not parsed for it)
JUDGED = frozenset(
    {
        "eth_getTransactionReceipt",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_blockNumber",
        "eth_getBalance",
        "eth_getLogs",
    }
)


class Evidence:
    """Thread-safe record of answers; `observe` learns from one, `contradiction` judges one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.receipts: OrderedDict[str, tuple[int, str]] = OrderedDict()  # tx -> (block, hash)
        self.blocks: OrderedDict[int, str] = OrderedDict()
        self.logs: OrderedDict[tuple[str, int], KnownLog] = OrderedDict()
        self.balances: OrderedDict[tuple[str, int], int] = OrderedDict()
        self.head = 0

    # ------------------------------------------------------------------ learning
    def observe(self, method: str, params: list[Any], result: Any) -> None:
        """Learn from an answer already judged consistent."""
        with self._lock:
            if method == "eth_getTransactionReceipt" and isinstance(result, dict):
                self._receipt(result)
            elif method in ("eth_getBlockByNumber", "eth_getBlockByHash") and isinstance(result, dict):
                self._block(result)
            elif method == "eth_blockNumber" and isinstance(result, str):
                self.head = max(self.head, _int(result))
            elif method == "eth_getBalance" and len(params) > 1 and _is_number(params[1]):
                _put(self.balances, (str(params[0]).lower(), _int(params[1])), _int(result))

    def _receipt(self, receipt: dict[str, Any]) -> None:
        tx, block, block_hash = (
            receipt.get("transactionHash"),
            receipt.get("blockNumber"),
            receipt.get("blockHash"),
        )
        if not (isinstance(tx, str) and isinstance(block, str) and isinstance(block_hash, str)):
            return
        number = _int(block)
        _put(self.receipts, tx.lower(), (number, block_hash.lower()))
        _put(self.blocks, number, block_hash.lower())
        self.head = max(self.head, number)
        for log in receipt.get("logs") or []:
            if not isinstance(log, dict) or log.get("removed"):
                continue
            known = KnownLog(
                number,
                str(log.get("address", "")).lower(),
                tuple(str(t).lower() for t in log.get("topics") or []),
                tx.lower(),
                _int(log.get("logIndex", "0x0")),
            )
            _put(self.logs, (known.tx_hash, known.index), known)

    def _block(self, block: dict[str, Any]) -> None:
        number, block_hash = block.get("number"), block.get("hash")
        if isinstance(number, str) and isinstance(block_hash, str):
            _put(self.blocks, _int(number), block_hash.lower())
            self.head = max(self.head, _int(number))

    def forget(self) -> None:
        """Start over (a development chain was reverted to a snapshot)."""
        with self._lock:
            for table in (self.receipts, self.blocks, self.logs, self.balances):
                table.clear()
            self.head = 0

    def _settled(self, block: int) -> bool:
        return block + REORG_DEPTH <= self.head

    # ------------------------------------------------------------------ judging
    def contradiction(self, method: str, params: list[Any], result: Any) -> str | None:
        """Why this answer cannot be true given what was seen before (None: it can be)."""
        with self._lock:
            if method == "eth_getTransactionReceipt" and params:
                known = self.receipts.get(str(params[0]).lower())
                if known and not self._settled(known[0]):
                    known = None
                if known and result is None:
                    return f"no receipt for transaction {str(params[0])[:12]}… mined in block {known[0]}"
                if (
                    known
                    and isinstance(result, dict)
                    and str(result.get("blockHash", "")).lower() != known[1]
                ):
                    return f"another block for transaction {str(params[0])[:12]}…"
            behind = method == "eth_blockNumber" and isinstance(result, str) and self.head
            if behind and _int(result) + HEAD_SLACK < self.head:
                return f"head {_int(result)}, {self.head - _int(result)} blocks behind block {self.head} already seen"
            if method in ("eth_getBlockByNumber", "eth_getBlockByHash") and isinstance(result, dict):
                number, block_hash = result.get("number"), str(result.get("hash", "")).lower()
                known_hash = self.blocks.get(_int(number)) if isinstance(number, str) else None
                if known_hash and not self._settled(_int(number)):
                    known_hash = None
                if known_hash and block_hash != known_hash:
                    return f"another hash for block {_int(str(number))}"
            missing = method == "eth_getBlockByNumber" and result is None and params and _is_number(params[0])
            if missing and _int(params[0]) in self.blocks and self._settled(_int(params[0])):
                return f"no block {_int(params[0])}, which was seen"
            if (
                method == "eth_getLogs"
                and params
                and isinstance(params[0], dict)
                and isinstance(result, list)
            ):
                return self._missing_log(params[0], result)
            if method == "eth_getBalance" and len(params) > 1 and _is_number(params[1]):
                known_balance = self.balances.get((str(params[0]).lower(), _int(params[1])))
                if known_balance is not None and known_balance != _int(result):
                    return f"another balance for {str(params[0])[:10]}… at block {_int(params[1])}"
        return None

    def _missing_log(self, query: dict[str, Any], result: list[Any]) -> str | None:
        if "blockHash" in query:
            return None
        low = query.get("fromBlock", "latest")
        high = query.get("toBlock", "latest")
        low_n = _int(low) if _is_number(low) else None
        high_n = _int(high) if _is_number(high) else self.head
        if low_n is None:
            return None
        got = {
            (str(e.get("transactionHash", "")).lower(), _int(e.get("logIndex", "0x0")))
            for e in result
            if isinstance(e, dict)
        }
        for key, log in self.logs.items():
            wanted = low_n <= log.block <= high_n and self._settled(log.block) and _matches(log, query)
            if wanted and key not in got:
                return f"no log of transaction {log.tx_hash[:12]}… in block {log.block}, which was seen"
        return None


def _matches(log: KnownLog, query: dict[str, Any]) -> bool:
    address = query.get("address")
    if address:
        wanted = [a.lower() for a in (address if isinstance(address, list) else [address])]
        if log.address not in wanted:
            return False
    for position, topic in enumerate(query.get("topics") or []):
        if topic is None:
            continue
        options = [t.lower() for t in (topic if isinstance(topic, list) else [topic])]
        if position >= len(log.topics) or log.topics[position] not in options:
            return False
    return True


def _put(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_ENTRIES:
        table.popitem(last=False)


def _is_number(value: Any) -> bool:
    return (isinstance(value, str) and value.startswith("0x")) or isinstance(value, int)


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 16)
    except ValueError:
        return 0
