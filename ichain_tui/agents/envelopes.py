"""Provides the envelopes and on-chain facts of one task as seen by one party (protocol v2).

Every envelope is bound (AEAD associated data) to chain id, market, task id, the recipient's role
and the sender's address, so one copied into another task, role or market does not open. The
result's key is split: the provider commits K2 on chain, seals it only to the validator, and the
requester derives the key from its own task key once K2 is revealed (`KeyReleased`).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak

from ..chain.client import MarketClient
from ..transfer import crypto, logstream
from ..transfer.errors import IntegrityError
from ..transfer.locator import FileRef, decode_refs, encode_refs

NO_KEY = b"\0" * 32  # the requester's copy of the result reference carries no key


def context(market: MarketClient, task_id: int, role: str, sender: str) -> bytes:
    return crypto.envelope_context(
        market.chain.chain_id,
        to_canonical_address(market.address),
        task_id,
        role,
        to_canonical_address(sender),
    )


def log_key(market: MarketClient, task_id: int, peer_public_key: bytes) -> tuple[bytes, bytes]:
    """(key, context) of the task's live log between this account and the peer (requester and
    provider compute the same pair from their own private key and the other's public key)."""
    context = logstream.log_context(
        crypto.task_context(market.chain.chain_id, to_canonical_address(market.address), task_id)
    )
    return crypto.pair_key(bytes(market.signer.key), peer_public_key, context), context


def key_commit(k2: bytes, task_id: int, result_root: bytes) -> bytes:
    """keccak256(K2 || taskId || resultRoot), as `Marketplace` checks it."""
    return keccak(k2 + task_id.to_bytes(32, "big") + result_root)


def result_key(market: MarketClient, task_id: int, task_key: bytes, k2: bytes) -> bytes:
    context = crypto.task_context(market.chain.chain_id, to_canonical_address(market.address), task_id)
    return crypto.result_key(task_key, k2, context)


def seal_refs(market: MarketClient, public_key: bytes, refs: list[FileRef], task_id: int, role: str) -> bytes:
    """Seal references for the holder of `public_key`, in `role` of `task_id`, from this account."""
    return crypto.seal_envelope(
        public_key, encode_refs(refs), context(market, task_id, role, market.signer.address)
    )


def open_refs(market: MarketClient, blob: bytes, task_id: int, role: str, sender: str) -> list[FileRef]:
    """References in `blob` if it is addressed to me in `role` by `sender`; [] otherwise."""
    if not blob:
        return []
    try:
        return decode_refs(
            crypto.open_envelope(bytes(market.signer.key), blob, context(market, task_id, role, sender))
        )
    except IntegrityError:
        return []


@dataclass(frozen=True)
class TaskFacts:
    """What `TaskCreated` says of a task (its root and the requester's key are not kept in storage)."""

    task_root: str
    requester_key: bytes
    block: int


def task_facts(market: MarketClient, task_id: int, from_block: int = 0) -> TaskFacts:
    """`from_block`: a block at or before the task's creation (its assignment's, as the agent saw
    it): the read starts there instead of at the market's deployment."""
    events = market.events("TaskCreated", from_block, {"taskId": task_id})
    if not events and from_block:
        events = market.events("TaskCreated", 0, {"taskId": task_id})
    if not events:
        raise IntegrityError(f"no TaskCreated event for task {task_id}")
    args = events[0].args
    return TaskFacts(bytes(args["taskRoot"]).hex(), bytes(args["requesterKey"]), events[0].block)


@dataclass(frozen=True)
class Commitment:
    """What `ResultCommitted` says: the result root and the envelopes for requester and validator."""

    result_root: str
    key_commit: bytes
    requester_envelope: bytes
    validator_envelope: bytes
    block: int


def commitment(market: MarketClient, task_id: int, from_block: int = 0) -> Commitment | None:
    events = market.events("ResultCommitted", from_block, {"taskId": task_id})
    if not events:
        return None
    a = events[-1].args
    return Commitment(
        bytes(a["resultRoot"]).hex(),
        bytes(a["keyCommit"]),
        bytes(a["requesterEnvelope"]),
        bytes(a["validatorEnvelope"]),
        events[-1].block,
    )


def released_key(market: MarketClient, task_id: int, from_block: int = 0) -> bytes | None:
    """K2 once a pass verdict or the provider's claim revealed it on chain."""
    events = market.events("KeyReleased", from_block, {"taskId": task_id})
    return bytes(events[-1].args["key"]) if events else None


def provider_refs(market: MarketClient, task_id: int, requester: str, from_block: int = 0) -> list[FileRef]:
    """The task references the requester sealed to me as provider."""
    refs: list[FileRef] = []
    for event in market.events("ProviderAssigned", from_block, {"taskId": task_id}):
        if event.args["provider"] == market.signer.address:
            refs += open_refs(market, bytes(event.args["envelope"]), task_id, "provider", requester)
    return refs


def validator_refs(
    market: MarketClient, task_id: int, provider: str, found: Commitment | None, from_block: int = 0
) -> list[FileRef]:
    """Task and result references the provider sealed to me as validator (in `found`, its
    `submitResult`, or later with `postEnvelope` after a replacement or an appeal)."""
    blobs: list[bytes] = []
    if found:
        blobs.append(found.validator_envelope)
    for event in market.events(
        "Envelope", from_block, {"taskId": task_id, "recipient": market.signer.address}
    ):
        blobs.append(bytes(event.args["envelope"]))
    refs: list[FileRef] = []
    for blob in blobs:
        refs += open_refs(market, blob, task_id, "validator", provider)
    return refs


def second_sources(
    market: MarketClient, task_id: int, validators: list[str], from_block: int = 0
) -> list[FileRef]:
    """Where the task's validators (who fetched the result to check it) serve it too: envelopes
    they sealed to me as requester (`postEnvelope`)."""
    refs: list[FileRef] = []
    for event in market.events(
        "Envelope", from_block, {"taskId": task_id, "recipient": market.signer.address}
    ):
        sender = str(event.args["sender"])
        if sender in validators:
            refs += open_refs(market, bytes(event.args["envelope"]), task_id, "requester", sender)
    return refs


def pick(refs: list[FileRef], root: str) -> FileRef | None:
    for ref in refs:
        if ref.root == root:
            return ref
    return None
