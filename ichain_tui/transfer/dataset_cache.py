"""Provides `DatasetCache`: a provider's datasets kept between tasks, sealed (encrypted chunks and
manifest, as the requester sealed them), by root, under a size cap; the least recently used go
first. A task whose dataset is cached moves none of its bytes: it is opened (decrypted and
unpacked, every segment authenticated) from the cache into the task's own folder, which goes
with the task. Two tasks wanting the same dataset at once fetch it once (a lock per root).

The plaintext exists only in the folders of the tasks that use it; the cache holds only what a
chunk peer could have seen.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from .errors import IntegrityError, TransferError
from .locator import FileRef
from .manifest import Manifest, unseal_to_folder

log = logging.getLogger(__name__)

ROOT_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_DATASET_BYTES = 1024**4  # what one dataset may unpack to (its sealed size is checked first)
USED = ".used"  # a file whose mtime is the entry's last use


@dataclass(frozen=True)
class Obtained:
    """A dataset opened into a task's folder: bytes that crossed the network for it (0: cached)."""

    root: str
    moved_bytes: int
    cached: bool


class DatasetCache:
    def __init__(self, directory: Path, cap_bytes: int) -> None:
        self.directory = Path(directory)
        self.cap_bytes = max(0, cap_bytes)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, root: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(root, threading.Lock())

    def _entry(self, root: str) -> Path:
        if not ROOT_HEX.match(root):
            raise IntegrityError("a dataset root is 64 hex digits")
        return self.directory / root

    def cached(self, root: str) -> bool:
        """A complete entry for `root` (its manifest recomputes to `root`, every chunk whole)."""
        entry = self._entry(root)
        try:
            manifest = Manifest.from_json((entry / "manifest.json").read_bytes(), expected_root=root)
            return all(
                os.path.getsize(entry / f"chunk-{info.index}.bin") == info.size for info in manifest.chunks
            )
        except (OSError, IntegrityError):
            return False

    def obtain(
        self,
        ref: FileRef,
        dest: Path,
        fetch: Callable[..., object],
        cancel: threading.Event | None = None,
        deadline_s: float | None = None,
    ) -> Obtained:
        """Open the dataset `ref` into the new folder `dest`: from the cache when it holds it,
        else through `fetch` (a `Fetcher.fetch`), keeping the sealed copy when the cap allows."""
        root = ref.root
        entry = self._entry(root)
        with self._lock(root):
            if self.cached(root):
                self._open(entry, ref, dest)
                (entry / USED).touch()
                return Obtained(root, 0, True)
            shutil.rmtree(entry, ignore_errors=True)
            keep = entry if self.cap_bytes > 0 else None
            self.directory.mkdir(parents=True, exist_ok=True)
            result = fetch(
                ref,
                dest,
                self.directory / f".{root}.part",
                cancel=cancel,
                deadline_s=deadline_s,
                keep_sealed=keep,
                max_bytes=MAX_DATASET_BYTES,
            )
            moved = int(getattr(result, "bytes_downloaded", 0))
            if keep is not None:
                (entry / USED).touch()
                self.evict(keep={root})
            return Obtained(root, moved, False)

    def _open(self, entry: Path, ref: FileRef, dest: Path) -> None:
        manifest = Manifest.from_json((entry / "manifest.json").read_bytes(), expected_root=ref.root)
        paths = [entry / f"chunk-{info.index}.bin" for info in manifest.chunks]
        if dest.exists() and any(dest.iterdir()):
            raise TransferError(f"destination {dest} is not empty")
        try:
            unseal_to_folder(manifest, ref.key, paths, dest, max_bytes=MAX_DATASET_BYTES)
        except IntegrityError:
            shutil.rmtree(dest, ignore_errors=True)
            # a damaged entry is dropped, never used again; an intact one stays (a peer sending
            # a key that does not open it cannot evict someone else's dataset)
            if not _intact(manifest, paths):
                shutil.rmtree(entry, ignore_errors=True)
            raise

    def entries(self) -> list[tuple[str, int, float]]:
        """(root, sealed bytes, last use) of each complete entry, least recently used first."""
        found: list[tuple[str, int, float]] = []
        if not self.directory.is_dir():
            return found
        for entry in self.directory.iterdir():
            if not ROOT_HEX.match(entry.name) or not entry.is_dir():
                continue
            size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
            try:
                used = (entry / USED).stat().st_mtime
            except OSError:
                used = 0.0
            found.append((entry.name, size, used))
        return sorted(found, key=lambda e: e[2])

    def evict(self, keep: Collection[str] = ()) -> list[str]:
        """Drop the least recently used entries until the cache fits its cap (never one in
        `keep`, nor one being fetched or opened now)."""
        dropped = []
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for root, size, _ in entries:
            if total <= self.cap_bytes:
                break
            if root in keep:
                continue
            lock = self._lock(root)
            if not lock.acquire(blocking=False):
                continue
            try:
                shutil.rmtree(self.directory / root, ignore_errors=True)
            finally:
                lock.release()
            total -= size
            dropped.append(root)
            log.info("dataset %s… dropped from the cache (least recently used)", root[:12])
        return dropped

    def touch(self, root: str) -> None:
        """Mark an entry used now (a test or a restart may set its order)."""
        entry = self._entry(root)
        if entry.is_dir():
            now = time.time()
            (entry / USED).touch()
            os.utime(entry / USED, (now, now))


def _intact(manifest: Manifest, paths: list[Path]) -> bool:
    """Every chunk file hashes to what the manifest (whose root was checked) says."""
    for info, path in zip(manifest.chunks, paths, strict=True):
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return False
        if digest.hexdigest() != info.sha256:
            return False
    return True
