"""Provides `FileRef` (what a recipient needs to fetch and open one file: commitment root, file key,
transport and address) and its compact binary encoding, which travels inside an envelope."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import IntegrityError

TRANSPORTS = ("direct", "tor")
_VERSION = 1


@dataclass(frozen=True)
class FileRef:
    root: str  # 64 hex digits: the manifest root committed on chain
    key: bytes  # 32-byte file key
    transport: str  # direct | tor
    address: str  # host:port or <56 chars>.onion:port

    def __repr__(self) -> str:  # never show the key
        return f"FileRef(root={self.root[:12]}…, transport={self.transport}, address={self.address})"


def encode_refs(refs: list[FileRef]) -> bytes:
    out = bytearray([_VERSION, len(refs)])
    for ref in refs:
        address = ref.address.encode()
        if len(ref.key) != 32 or len(address) > 255 or ref.transport not in TRANSPORTS:
            raise ValueError("invalid file reference")
        out += (
            bytes.fromhex(ref.root)
            + ref.key
            + bytes([TRANSPORTS.index(ref.transport), len(address)])
            + address
        )
    return bytes(out)


def decode_refs(data: bytes) -> list[FileRef]:
    try:
        if data[0] != _VERSION:
            raise IntegrityError("unknown file reference version")
        refs, pos = [], 2
        for _ in range(data[1]):
            root, key = data[pos : pos + 32].hex(), data[pos + 32 : pos + 64]
            transport, length = struct.unpack(">BB", data[pos + 64 : pos + 66])
            address = data[pos + 66 : pos + 66 + length].decode()
            if len(key) != 32 or len(address) != length:
                raise IntegrityError("truncated file reference")
            refs.append(FileRef(root, bytes(key), TRANSPORTS[transport], address))
            pos += 66 + length
        if pos != len(data):
            raise IntegrityError("trailing bytes after file references")
        return refs
    except (IndexError, struct.error, UnicodeDecodeError):
        raise IntegrityError("malformed file references") from None
