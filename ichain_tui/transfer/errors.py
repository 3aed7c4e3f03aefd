"""Provides the transfer errors."""

from __future__ import annotations

from ..errors import IchainError


class TransferError(IchainError):
    title = "Transfer error"


class UnsafeArchive(TransferError):
    title = "Unsafe archive"


class IntegrityError(TransferError):
    title = "Integrity check failed"


class PeerUnreachable(TransferError):
    title = "Peer unreachable"


class Cancelled(TransferError):
    title = "Cancelled"


class NotServed(TransferError):
    """The peer answered but does not serve this root (404): final, not a network fault."""

    title = "Not served"
