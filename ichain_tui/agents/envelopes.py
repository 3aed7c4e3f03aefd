"""Provides the envelopes of one task as seen by one party: seal file references to a public key,
and collect every reference addressed to me from the task's chain events."""

from __future__ import annotations

from ..chain.client import MarketClient
from ..transfer import crypto
from ..transfer.errors import IntegrityError
from ..transfer.locator import FileRef, decode_refs, encode_refs


def seal_refs(public_key: bytes, refs: list[FileRef]) -> bytes:
    return crypto.seal_envelope(public_key, encode_refs(refs))


def refs_for_me(market: MarketClient, task_id: int, from_block: int = 0) -> list[FileRef]:
    """Every file reference in this task's envelopes that opens with my key (others are skipped)."""
    me = market.account.address
    key = bytes(market.account.key)
    blobs: list[bytes] = []
    for event in market.events("ProviderAssigned", from_block, {"taskId": task_id}):
        if event.args["provider"] == me:
            blobs.append(bytes(event.args["envelope"]))
    for event in market.events("ValidatorAssigned", from_block, {"taskId": task_id}):
        if event.args["validator"] == me:
            blobs.append(bytes(event.args["envelope"]))
    for event in market.events("ResultCommitted", from_block, {"taskId": task_id}):
        blobs += [bytes(event.args["requesterEnvelope"]), bytes(event.args["validatorEnvelope"])]
    refs: list[FileRef] = []
    for blob in blobs:
        if not blob:
            continue
        try:
            refs += decode_refs(crypto.open_envelope(key, blob))
        except IntegrityError:
            continue  # addressed to someone else
    return refs


def task_facts(market: MarketClient, task_id: int) -> dict:
    """taskRoot and the requester's public key, from the TaskCreated event."""
    events = market.events("TaskCreated", 0, {"taskId": task_id})
    if not events:
        raise IntegrityError(f"no TaskCreated event for task {task_id}")
    args = events[0].args
    return {"task_root": bytes(args["taskRoot"]).hex(), "requester_key": bytes(args["requesterKey"]),
            "block": events[0].block}


def pick(refs: list[FileRef], root: str) -> FileRef | None:
    for ref in refs:
        if ref.root == root:
            return ref
    return None
