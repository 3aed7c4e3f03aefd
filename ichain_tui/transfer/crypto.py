"""Provides chunk sealing (ChaCha20-Poly1305 per 1 MiB segment) and envelopes (ECDH on secp256k1 +
HKDF-SHA256 + ChaCha20-Poly1305) that wrap file keys and locators to a recipient's Ethereum key.

Segment associated data binds the file id, chunk index, segment index and a final-segment flag, so
a flipped bit, a reordered or truncated chunk, a chunk of another file or one swapped with a
sibling all fail authentication. Every segment has its own random 96-bit nonce under a key that is
fresh for each file.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import IntegrityError, TransferError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FILE_ID_BYTES = 16
SEGMENT_BYTES = 1 << 20
SEGMENT_OVERHEAD = NONCE_BYTES + TAG_BYTES


def new_file_key() -> bytes:
    return ChaCha20Poly1305.generate_key()


def new_file_id() -> bytes:
    return os.urandom(FILE_ID_BYTES)


def segment_ad(file_id: bytes, chunk: int, segment: int, final: bool) -> bytes:
    return b"ichain-seg-v1" + file_id + struct.pack(">IIB", chunk, segment, 1 if final else 0)


def seal_segment(key: bytes, file_id: bytes, chunk: int, segment: int, final: bool, plain: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, segment_ad(file_id, chunk, segment, final))


def open_segment(key: bytes, file_id: bytes, chunk: int, segment: int, final: bool, sealed: bytes) -> bytes:
    if len(sealed) < SEGMENT_OVERHEAD:
        raise IntegrityError(f"chunk {chunk} segment {segment} is truncated")
    try:
        return ChaCha20Poly1305(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], segment_ad(file_id, chunk, segment, final)
        )
    except InvalidTag:
        raise IntegrityError(f"chunk {chunk} segment {segment} failed authentication") from None


def sealed_size(plain_size: int, segment_bytes: int = SEGMENT_BYTES) -> int:
    segments = max(1, -(-plain_size // segment_bytes))
    return plain_size + segments * SEGMENT_OVERHEAD


# --------------------------------------------------------------------------- envelopes
ENVELOPE_VERSION = 2
_HKDF_INFO = b"ichain-envelope-v2"
ROLES = ("provider", "validator", "requester")


def task_context(chain_id: int, market: bytes, task_id: int) -> bytes:
    """chain id || market (20-byte address) || task id: what names one task on one deployment."""
    if len(market) != 20:
        raise ValueError("a task context needs a 20-byte market address")
    return struct.pack(">Q", chain_id) + market + task_id.to_bytes(32, "big")


def envelope_context(chain_id: int, market: bytes, task_id: int, role: str, sender: bytes) -> bytes:
    """Associated data of an envelope: version || chain id || market || task id || role || sender.

    `market` and `sender` are 20-byte addresses; `role` is the recipient's role in the task."""
    if len(sender) != 20 or role not in ROLES:
        raise ValueError("envelope context needs 20-byte addresses and a known role")
    return (
        b"ichain-env"
        + bytes([ENVELOPE_VERSION])
        + task_context(chain_id, market, task_id)
        + bytes([ROLES.index(role)])
        + sender
    )


def result_key(task_key: bytes, k2: bytes, context: bytes) -> bytes:
    """The result's file key K = HKDF(K1 || K2), K1 = HKDF(task key): the requester has K1 from its
    own task key, K2 is committed on chain by the provider and revealed when it is paid.
    `context` binds chain id, market and task id (`task_context`)."""
    if len(task_key) != KEY_BYTES or len(k2) != KEY_BYTES:
        raise ValueError("task key and K2 must be 32 bytes")
    k1 = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"ichain-result-k1" + context
    ).derive(task_key)
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"ichain-result-key" + context
    ).derive(k1 + k2)


def pair_key(private_key: bytes, peer_public_key: bytes, context: bytes) -> bytes:
    """A key two parties share with no message between them: ECDH of one's private key and the
    other's public key (both registered on chain), through HKDF bound to `context`."""
    shared = _private_from_eth(private_key).exchange(ec.ECDH(), _public_from_eth(peer_public_key))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"ichain-pair" + context).derive(
        shared
    )


def seal_with(key: bytes, payload: bytes, context: bytes) -> bytes:
    """nonce || ChaCha20-Poly1305(payload), `context` as associated data."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, payload, context)


def open_with(key: bytes, sealed: bytes, context: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise IntegrityError("too short to be sealed")
    try:
        return ChaCha20Poly1305(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
    except InvalidTag:
        raise IntegrityError("does not open with this key and context") from None


def _public_from_eth(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """64-byte Ethereum public key (x || y) or 65-byte SEC1 uncompressed -> cryptography key."""
    if len(public_key) == 64:
        public_key = b"\x04" + public_key
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), public_key)
    except ValueError:
        raise TransferError("recipient public key is not a valid secp256k1 point") from None


def _private_from_eth(private_key: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(bytes(private_key), "big"), ec.SECP256K1())


def _kdf(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_HKDF_INFO + ephemeral + recipient
    ).derive(shared)


def seal_envelope(recipient_public_key: bytes, payload: bytes, context: bytes = b"") -> bytes:
    """Encrypt `payload` so that only the holder of the recipient's private key can read it.

    `context` is bound as associated data (see `envelope_context`): the envelope opens only with
    the same context, so one copied into another task, role or market does not open."""
    recipient = _public_from_eth(recipient_public_key)
    ephemeral = ec.generate_private_key(ec.SECP256K1())
    eph_pub = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    rec_pub = recipient.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    key = _kdf(ephemeral.exchange(ec.ECDH(), recipient), eph_pub, rec_pub)
    nonce = os.urandom(NONCE_BYTES)
    header = bytes([ENVELOPE_VERSION]) + eph_pub
    return header + nonce + ChaCha20Poly1305(key).encrypt(nonce, payload, header + context)


def open_envelope(private_key: bytes, envelope: bytes, context: bytes = b"") -> bytes:
    """Decrypt an envelope with the recipient's 32-byte private key (e.g. `LocalAccount.key`) and
    the context it was sealed for."""
    if len(envelope) < 1 + 33 + NONCE_BYTES + TAG_BYTES or envelope[0] != ENVELOPE_VERSION:
        raise IntegrityError("not an iChain envelope")
    header, nonce, body = envelope[:34], envelope[34 : 34 + NONCE_BYTES], envelope[34 + NONCE_BYTES :]
    me = _private_from_eth(private_key)
    try:
        eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), header[1:])
    except ValueError:
        raise IntegrityError("envelope has an invalid ephemeral key") from None
    rec_pub = me.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    key = _kdf(me.exchange(ec.ECDH(), eph), header[1:], rec_pub)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, body, header + context)
    except InvalidTag:
        raise IntegrityError(
            "envelope cannot be opened with this key (not addressed to you, or altered)"
        ) from None
