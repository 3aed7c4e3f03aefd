"""Provides contract events read with `eth_getLogs` over bounded block ranges.

Node-side filters die when a node restarts; block-range reads do not, and a reader can resume
from the last block it saw.
"""

from __future__ import annotations

from typing import Any, Iterator

from .errors import NodeUnreachable
from .types import ChainEvent

DEFAULT_STEP = 2_000  # many public RPCs cap eth_getLogs ranges


def read_events(
    contract: Any,
    name: str,
    from_block: int = 0,
    to_block: int | None = None,
    filters: dict[str, Any] | None = None,
    step: int = DEFAULT_STEP,
) -> list[ChainEvent]:
    """All `name` events of `contract` in [from_block, to_block] (latest when None), in chain order."""
    return list(iter_events(contract, name, from_block, to_block, filters, step))


def iter_events(
    contract: Any,
    name: str,
    from_block: int = 0,
    to_block: int | None = None,
    filters: dict[str, Any] | None = None,
    step: int = DEFAULT_STEP,
) -> Iterator[ChainEvent]:
    event = getattr(contract.events, name)()
    try:
        last = int(contract.w3.eth.block_number) if to_block is None else to_block
    except Exception as exc:
        raise NodeUnreachable(f"cannot read events: {exc}") from None
    start = max(0, from_block)
    while start <= last:
        end = min(last, start + step - 1)
        try:
            logs = event.get_logs(argument_filters=filters, from_block=start, to_block=end)
        except Exception as exc:
            raise NodeUnreachable(f"cannot read {name} events in blocks {start}..{end}: {exc}") from None
        for log in sorted(logs, key=lambda item: (item["blockNumber"], item["logIndex"])):
            yield ChainEvent(
                name=name,
                block=int(log["blockNumber"]),
                tx_hash=bytes(log["transactionHash"]).hex(),
                log_index=int(log["logIndex"]),
                args=dict(log["args"]),
            )
        start = end + 1
