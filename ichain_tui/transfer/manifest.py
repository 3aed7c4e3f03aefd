"""Provides manifests and the sealing of a folder into encrypted chunk files.

A file is packed (deterministic tar), split into N chunks, and each chunk is sealed segment by
segment into `chunk-<i>.bin`. The manifest lists every chunk's plain size, sealed size and SHA-256
of its sealed bytes; its `root` (a Merkle root over those entries, bound to the file id, total
size and segment size) is the commitment that goes on chain and names the file on the wire.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..untrusted import UntrustedInputError, load_json
from . import crypto, packaging
from .errors import IntegrityError, TransferError

MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
MAX_CHUNKS = 4096
_MAX_SIZE = (1 << 63) - 1
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class ChunkInfo:
    index: int
    plain_size: int
    size: int  # sealed bytes on the wire
    sha256: str


@dataclass(frozen=True)
class Manifest:
    file_id: str
    total_size: int
    segment_size: int
    chunks: tuple[ChunkInfo, ...]
    root: str
    version: int = MANIFEST_VERSION

    @property
    def sealed_size(self) -> int:
        return sum(c.size for c in self.chunks)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["chunks"] = [asdict(c) for c in self.chunks]
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, expected_root: str | None = None) -> Manifest:
        """Parse an untrusted manifest: size and depth capped, every field of its exact type and
        range (checked before any arithmetic), then the root recomputed and compared."""
        try:
            data = load_json(raw, "manifest", MAX_MANIFEST_BYTES, max_depth=3)
        except UntrustedInputError as exc:
            raise IntegrityError(str(exc)) from None
        if not isinstance(data, dict) or not isinstance(data.get("chunks"), list):
            raise IntegrityError("manifest is malformed")
        if not 1 <= len(data["chunks"]) <= MAX_CHUNKS:
            raise IntegrityError("manifest has an unsupported shape")
        chunks = []
        for c in data["chunks"]:
            if not isinstance(c, dict):
                raise IntegrityError("manifest is malformed")
            chunks.append(
                ChunkInfo(_size(c, "index"), _size(c, "plain_size"), _size(c, "size"), _hex(c, "sha256", 32))
            )
        manifest = cls(
            _hex(data, "file_id", crypto.FILE_ID_BYTES),
            _size(data, "total_size"),
            _size(data, "segment_size"),
            tuple(chunks),
            _hex(data, "root", 32),
            _size(data, "version") if "version" in data else 1,
        )
        manifest.validate(expected_root)
        return manifest

    def validate(self, expected_root: str | None = None) -> None:
        """Recompute the root; check shapes; compare with the on-chain commitment when given."""
        if self.version != MANIFEST_VERSION or not self.chunks or len(self.chunks) > MAX_CHUNKS:
            raise IntegrityError("manifest has an unsupported shape")
        if not 1024 <= self.segment_size <= 16 * 1024 * 1024:
            raise IntegrityError("manifest has an invalid segment size")
        for i, c in enumerate(self.chunks):
            if (
                c.index != i
                or c.plain_size < 0
                or c.size != crypto.sealed_size(c.plain_size, self.segment_size)
            ):
                raise IntegrityError(f"manifest entry for chunk {i} is inconsistent")
        if sum(c.plain_size for c in self.chunks) != self.total_size:
            raise IntegrityError("manifest sizes do not add up")
        if compute_root(self.file_id, self.total_size, self.segment_size, self.chunks) != self.root:
            raise IntegrityError("manifest root does not match its entries")
        if expected_root is not None and self.root != normalize_root(expected_root):
            raise IntegrityError("manifest does not match the commitment on chain")


def _size(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if type(value) is not int or not 0 <= value <= _MAX_SIZE:
        raise IntegrityError(f"manifest field {name} is not a size")
    return value


def _hex(data: dict[str, Any], name: str, length: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or len(value) != 2 * length or not _HEX.match(value):
        raise IntegrityError(f"manifest field {name} is not {length} bytes of hex")
    return value


def normalize_root(root: str | bytes) -> str:
    return root.hex() if isinstance(root, (bytes, bytearray)) else root.lower().removeprefix("0x")


def compute_root(
    file_id: str, total: int, segment: int, chunks: tuple[ChunkInfo, ...] | list[ChunkInfo]
) -> str:
    level = [
        hashlib.sha256(
            b"\x00" + struct.pack(">IQQ", c.index, c.plain_size, c.size) + bytes.fromhex(c.sha256)
        ).digest()
        for c in chunks
    ]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    head = b"ichain-manifest-v1" + bytes.fromhex(file_id) + struct.pack(">QII", total, segment, len(chunks))
    return hashlib.sha256(head + level[0]).hexdigest()


@dataclass(frozen=True)
class SealedFile:
    """A folder sealed for one transfer: chunk files + manifest in `directory`, and the file key."""

    manifest: Manifest
    key: bytes
    directory: Path

    @property
    def root(self) -> str:
        return self.manifest.root

    def chunk_path(self, index: int) -> Path:
        return self.directory / f"chunk-{index}.bin"


def default_chunks() -> int:
    return os.cpu_count() or 1


def seal_folder(
    folder: Path,
    directory: Path,
    chunks: int = 0,
    segment_size: int = crypto.SEGMENT_BYTES,
    key: bytes | None = None,
) -> SealedFile:
    """Pack `folder` and seal it into `directory` (created, must be empty) as chunk files + manifest,
    under `key` (default: a fresh random file key)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory) as plain:
        packaging.pack(Path(folder), plain)
        plain.flush()
        total = plain.tell()
        return seal_stream(plain, total, directory, chunks, segment_size, key)


def seal_stream(
    plain: BinaryIO,
    total: int,
    directory: Path,
    chunks: int = 0,
    segment_size: int = crypto.SEGMENT_BYTES,
    key: bytes | None = None,
) -> SealedFile:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wanted = chunks or default_chunks()
    segments = max(1, -(-total // segment_size))
    per_chunk = -(-segments // min(wanted, segments)) * segment_size
    count = max(1, -(-total // per_chunk))
    key, file_id = key or crypto.new_file_key(), crypto.new_file_id()
    plain.flush()
    fd = plain.fileno()

    def seal_one(index: int) -> ChunkInfo:
        start = index * per_chunk
        size = min(per_chunk, total - start) if total else 0
        digest = hashlib.sha256()
        with open(directory / f"chunk-{index}.bin", "wb") as out:
            offset, seg = 0, 0
            while True:
                n = min(segment_size, size - offset)
                block = os.pread(fd, n, start + offset) if n else b""
                sealed = crypto.seal_segment(key, file_id, index, seg, offset + n >= size, block)
                out.write(sealed)
                digest.update(sealed)
                offset += n
                seg += 1
                if offset >= size:
                    break
        return ChunkInfo(index, size, crypto.sealed_size(size, segment_size), digest.hexdigest())

    with ThreadPoolExecutor(max_workers=min(count, default_chunks())) as pool:
        infos = list(pool.map(seal_one, range(count)))
    fid = file_id.hex()
    manifest = Manifest(fid, total, segment_size, tuple(infos), compute_root(fid, total, segment_size, infos))
    (directory / "manifest.json").write_bytes(manifest.to_json())
    return SealedFile(manifest, key, directory)


class PlainReader(io.RawIOBase):
    """Reads the plaintext of verified chunk files in order, decrypting one segment at a time."""

    def __init__(self, manifest: Manifest, key: bytes, chunk_paths: list[Path]) -> None:
        self.manifest, self.key, self.paths = manifest, key, chunk_paths
        self.file_id = bytes.fromhex(manifest.file_id)
        self._buffer = memoryview(b"")
        self._segments = self._iter_segments()

    def _iter_segments(self) -> Iterator[bytes]:
        for info, path in zip(self.manifest.chunks, self.paths, strict=True):
            remaining = info.plain_size
            with open(path, "rb") as handle:
                seg = 0
                while True:
                    n = min(self.manifest.segment_size, remaining)
                    sealed = handle.read(n + crypto.SEGMENT_OVERHEAD)
                    yield crypto.open_segment(self.key, self.file_id, info.index, seg, n >= remaining, sealed)
                    remaining -= n
                    seg += 1
                    if remaining <= 0:
                        break
                if handle.read(1):
                    raise IntegrityError(f"chunk {info.index} has trailing bytes")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # a writable buffer (memoryview, bytearray)
        while not self._buffer:
            try:
                self._buffer = memoryview(next(self._segments))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def unseal_to_folder(
    manifest: Manifest, key: bytes, chunk_paths: list[Path], dest: Path, **limits: int
) -> int:
    """Decrypt verified chunks and unpack them safely into `dest`; returns the number of files."""
    if len(key) != crypto.KEY_BYTES:
        raise TransferError("file key has the wrong length")
    reader = io.BufferedReader(PlainReader(manifest, key, chunk_paths), buffer_size=1 << 20)
    return packaging.unpack(reader, dest, **limits)
