"""Provides contract events read with `eth_getLogs` over bounded block ranges.

Node-side filters die when a node restarts; block-range reads do not, and a reader can resume
from the last block it saw. Public nodes cap the range or the number of results of one
`eth_getLogs`; when a node refuses a range with one of the messages such providers send, the
range is halved and the read goes on, and the `LogWindow` remembers the size that worked (and
widens the range while a node serves it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ChainError, NodeUnreachable
from .types import ChainEvent

DEFAULT_STEP = 2_000  # many public RPCs cap eth_getLogs ranges

# What public nodes answer to a range or result set they will not serve (Infura, Alchemy,
# QuickNode, Ankr, BlastAPI, Cloudflare, geth/erigon/reth limits), lower-cased.
RANGE_REFUSALS = (
    "query returned more than",
    "log response size exceeded",
    "block range",
    "blocks range",
    "range is too",
    "range too",
    "too many",
    "exceed maximum block range",
    "exceeds max results",
    "max results",
    "limited to",
    "maximum allowed number of requested blocks",
    "response size",
    "query timeout exceeded",
    "result window",
)


MAX_STEP = 100_000


@dataclass
class LogWindow:
    """The block range to ask a node for: it doubles after every range served, up to the widest a
    node has not refused (a refusal halves it and lowers that ceiling for good), so a deep history
    takes a handful of requests on a node without caps and stays within a capping node's limit."""

    step: int = DEFAULT_STEP
    requests: int = 0  # eth_getLogs calls made through this window
    ceiling: int = MAX_STEP

    def served(self) -> None:
        self.step = min(self.ceiling, self.step * 2)

    def refused(self, tried: int) -> None:
        self.ceiling = max(1, min(self.ceiling, tried // 2))
        self.step = self.ceiling


def refuses_range(exc: BaseException) -> bool:
    """Whether `exc` is a node's answer that the range or result set was too large (not a
    transport failure: those are retried by the caller, never answered with smaller ranges)."""
    if isinstance(exc, OSError):  # connection errors, timeouts (requests' are OSErrors too)
        return False
    text = str(exc).lower()
    return any(marker in text for marker in RANGE_REFUSALS)


def read_events(
    contract: Any,
    name: str,
    from_block: int = 0,
    to_block: int | None = None,
    filters: dict[str, Any] | None = None,
    window: LogWindow | None = None,
) -> list[ChainEvent]:
    """All `name` events of `contract` in [from_block, to_block] (latest when None), in chain order."""
    return list(iter_events(contract, name, from_block, to_block, filters, window))


def iter_events(
    contract: Any,
    name: str,
    from_block: int = 0,
    to_block: int | None = None,
    filters: dict[str, Any] | None = None,
    window: LogWindow | None = None,
) -> Iterator[ChainEvent]:
    window = window or LogWindow()
    event = getattr(contract.events, name)()
    try:
        last = int(contract.w3.eth.block_number) if to_block is None else to_block
    except ChainError:
        raise
    except Exception as exc:
        raise NodeUnreachable(f"cannot read events: {exc}") from None
    start = max(0, from_block)
    while start <= last:
        end = min(last, start + window.step - 1)
        window.requests += 1
        try:
            logs = event.get_logs(argument_filters=filters, from_block=start, to_block=end)
        except ChainError:
            raise
        except Exception as exc:
            if refuses_range(exc) and end > start:
                window.refused(end - start + 1)  # the node wants less: halve, same start
                continue
            raise NodeUnreachable(
                f"cannot read {name} events in blocks {start}..{end}: {str(exc).splitlines()[0][:200]}"
            ) from None
        window.served()
        for log in sorted(logs, key=lambda item: (item["blockNumber"], item["logIndex"])):
            yield ChainEvent(
                name=name,
                block=int(log["blockNumber"]),
                tx_hash=bytes(log["transactionHash"]).hex(),
                log_index=int(log["logIndex"]),
                args=dict(log["args"]),
            )
        start = end + 1


def read_logs(
    w3: Any,
    address: str | list[str],
    topics: list[Any],
    from_block: int,
    to_block: int,
    window: LogWindow | None = None,
    raw: bool = False,
) -> list[Any]:
    """Logs of `address` (one or several contracts) matching `topics` in [from_block, to_block]
    with one `eth_getLogs` per range the node accepts (topic 0 may list several events: one
    request covers them all). `raw`: the node's JSON as it came (hex strings, no per-log
    formatting: ten times faster for the tens of thousands of logs of a whole market)."""
    window = window or LogWindow()
    found: list[Any] = []
    start = max(0, from_block)
    while start <= to_block:
        end = min(to_block, start + window.step - 1)
        window.requests += 1
        try:
            logs = _get_logs(w3, address, topics, start, end, raw)
        except ChainError:
            raise  # the connection's own verdict (node down, wrong chain): said once, as it is
        except Exception as exc:
            if refuses_range(exc) and end > start:
                window.refused(end - start + 1)
                continue
            raise NodeUnreachable(
                f"cannot read logs in blocks {start}..{end}: {str(exc).splitlines()[0][:200]}"
            ) from None
        found.extend(logs)
        window.served()
        start = end + 1
    if raw:
        return sorted(found, key=lambda item: (int(item["blockNumber"], 16), int(item["logIndex"], 16)))
    return sorted(found, key=lambda item: (item["blockNumber"], item["logIndex"]))


def _get_logs(w3: Any, address: str | list[str], topics: list[Any], start: int, end: int, raw: bool) -> Any:
    if not raw or not hasattr(w3.provider, "endpoint_uri"):  # eth-tester takes only web3's own form
        logs = w3.eth.get_logs({"address": address, "topics": topics, "fromBlock": start, "toBlock": end})
        return [_as_json(log) for log in logs] if raw else logs
    query = {"address": address, "topics": topics, "fromBlock": hex(start), "toBlock": hex(end)}
    response = w3.provider.make_request("eth_getLogs", [query])
    if response.get("error"):
        error = response["error"]
        raise ValueError(error.get("message", str(error)) if isinstance(error, dict) else str(error))
    return list(response["result"])


def _as_json(log: Any) -> dict[str, Any]:
    """A log in the node's JSON form (from web3's formatted one: bytes and ints)."""

    def text(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return hex(value)
        if isinstance(value, (bytes, bytearray)):
            return "0x" + bytes(value).hex()
        return value

    return {
        "address": text(log["address"]),
        "topics": [text(t) for t in log["topics"]],
        "data": text(log["data"]),
        "blockNumber": text(log["blockNumber"]),
        "logIndex": text(log["logIndex"]),
    }
