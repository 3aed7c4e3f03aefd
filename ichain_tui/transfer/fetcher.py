"""Provides `fetch`: download every chunk of a file in parallel, verify, retry, resume, decrypt, unpack.

Chunks stream to `<work>/chunk-<i>.part` and become `chunk-<i>.bin` once their SHA-256 matches the
manifest (whose root matched the commitment). After a crash, verified chunks are kept and partial
ones resume with HTTP Range requests. A chunk that fails verification is fetched again with
backoff. Progress per chunk goes to a callback; a `threading.Event` cancels (partials are kept).

A peer may be hostile, so every read is bounded: the manifest is streamed with a 1 MiB cap and
a deadline, never decompressed, never redirected; its sizes are checked against the caller's caps
and the free disk before any chunk is written; chunks come through a bounded pool of workers;
a stream slower than MIN_RATE_BPS over RATE_WINDOW_S is dropped and retried; the whole transfer
has a deadline; a cancel or the deadline cuts every open socket at once (`watchdog`).
Memory stays bounded: bytes go from the socket to disk in blocks of at most 1 MiB.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3

from ..errors import one_line
from . import packaging
from .errors import Cancelled, IntegrityError, NotServed, PeerUnreachable, TransferError
from .locator import FileRef
from .manifest import MAX_MANIFEST_BYTES, Manifest, unseal_to_folder
from .progress import ChunkProgress, ProgressCallback
from .watchdog import SocketWatch

BLOCK = 1024 * 1024
ATTEMPTS = 6
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_WORKERS = 16
MANIFEST_DEADLINE_S = 60.0
MIN_RATE_BPS = 4096
RATE_WINDOW_S = 30.0
DISK_MARGIN = 64 * 1024 * 1024


@dataclass(frozen=True)
class FetchResult:
    manifest: Manifest
    files: int
    bytes_downloaded: int
    resumed_bytes: int
    retries: int
    seconds: float


class Fetcher:
    """Fetches files through `direct` TCP or a Tor SOCKS port (`socks` = "host:port")."""

    def __init__(
        self, socks: str | None = None, workers: int = 0, attempts: int = ATTEMPTS, backoff: float = 0.2
    ) -> None:
        self.socks = socks
        self.workers = workers
        self.attempts = attempts
        self.backoff = backoff

    # -- HTTP ----------------------------------------------------------------------
    def _session(self, isolation: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # never pick up a proxy from the environment
        session.headers["Accept-Encoding"] = "identity"  # sizes on the wire are the sizes on disk
        if self.socks:
            # distinct SOCKS credentials per stream: tor puts each on its own circuit (IsolateSOCKSAuth)
            proxy = f"socks5h://{isolation}:x@{self.socks}"
            session.proxies = {"http": proxy, "https": proxy}
        return session

    @staticmethod
    def _url(ref: FileRef, tail: str) -> str:
        return f"http://{ref.address}/m/{ref.root}/{tail}"

    def fetch_manifest(
        self, ref: FileRef, cancel: threading.Event | None = None, isolation: str | None = None
    ) -> Manifest:
        last: Exception | None = None
        for attempt in range(self.attempts):
            _check(cancel)
            try:
                with SocketWatch(cancel, time.monotonic() + MANIFEST_DEADLINE_S) as watch:
                    raw = self._read_manifest(ref, isolation or f"ichain-{uuid.uuid4().hex[:8]}-m", watch)
                return Manifest.from_json(raw, expected_root=ref.root)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                last = exc
                _check(cancel)
                self._sleep(attempt, cancel)
        raise PeerUnreachable(f"cannot reach {ref.address}: {one_line(last)}")

    def _read_manifest(self, ref: FileRef, isolation: str, watch: SocketWatch) -> bytes:
        """The manifest's bytes, read as they arrive: never more than its cap, never after the deadline."""
        with (
            self._session(isolation) as s,
            s.get(
                self._url(ref, "manifest"),
                stream=True,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            ) as r,
        ):
            watch.track(r)
            if r.status_code == 404:
                raise NotServed(f"the peer at {ref.address} does not serve {ref.root[:12]}…")
            _refuse_redirect(r, ref)
            r.raise_for_status()
            if r.headers.get("Content-Encoding", "identity").lower() != "identity":
                raise IntegrityError("the peer sent an encoded manifest (only identity is accepted)")
            body = bytearray()
            try:
                while block := r.raw.read1(64 * 1024, decode_content=False):
                    body += block
                    if len(body) > MAX_MANIFEST_BYTES:
                        raise IntegrityError(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
            except (urllib3.exceptions.HTTPError, OSError):
                if watch.expired:
                    raise PeerUnreachable(
                        f"{ref.address} did not send the manifest within {MANIFEST_DEADLINE_S:g} s"
                    ) from None
                raise
            finally:
                watch.untrack(r)
            return bytes(body)

    # -- the whole file ------------------------------------------------------------
    def fetch(
        self,
        ref: FileRef,
        dest: Path,
        work: Path,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        deadline_s: float | None = None,
        keep_sealed: Path | None = None,
        **unpack_limits: int,
    ) -> FetchResult:
        """Fetch `ref` into the new folder `dest`, using `work` for chunks (kept for resume).
        `unpack_limits` (max_bytes, max_entries) cap what is accepted before any chunk is written;
        `deadline_s` bounds the whole transfer (default: 5 minutes plus the size at MIN_RATE_BPS);
        `keep_sealed`: a folder where the encrypted chunks and the manifest stay afterwards, as
        sealed (to serve the same bytes under the same root to someone else)."""
        started = time.monotonic()
        dest, work = Path(dest), Path(work)
        if dest.exists() and any(dest.iterdir()):
            raise TransferError(f"destination {dest} is not empty")
        work.mkdir(parents=True, exist_ok=True)
        # one SOCKS identity (so one tor circuit) per chunk stream; chunk 0 reuses the manifest's
        prefix = f"ichain-{uuid.uuid4().hex[:8]}"
        manifest = self.fetch_manifest(ref, cancel, isolation=f"{prefix}-0")
        _check_sizes(manifest, work, unpack_limits.get("max_bytes", packaging.MAX_TOTAL_BYTES))
        deadline = time.monotonic() + (
            deadline_s if deadline_s is not None else 300 + manifest.sealed_size / MIN_RATE_BPS
        )
        with SocketWatch(cancel, deadline) as watch:
            result = self._fetch_chunks(
                ref, manifest, dest, work, progress, cancel, watch, prefix, started, unpack_limits
            )
        if keep_sealed is not None:
            (work / "manifest.json").write_bytes(manifest.to_json())
            shutil.rmtree(keep_sealed, ignore_errors=True)
            work.replace(keep_sealed)
        shutil.rmtree(work, ignore_errors=True)
        return result

    def _fetch_chunks(
        self,
        ref: FileRef,
        manifest: Manifest,
        dest: Path,
        work: Path,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        watch: SocketWatch,
        prefix: str,
        started: float,
        unpack_limits: dict[str, int],
    ) -> FetchResult:
        job = _Transfer(self, ref, manifest, work, progress or (lambda p: None), cancel, watch, prefix)
        for info in manifest.chunks:
            job.report(ChunkProgress(manifest.root, info.index, 0, info.size, "waiting"))
        workers = self.workers or min(len(manifest.chunks), MAX_WORKERS)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch") as pool:
            futures = [pool.submit(job.chunk, i) for i in range(len(manifest.chunks))]
            finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in finished if f.exception() is not None]
            if failed:
                job.stop.set()
                wait(pending)
                raise failed[0].exception()  # type: ignore[misc]
        _check(cancel)
        paths = [work / f"chunk-{i}.bin" for i in range(len(manifest.chunks))]
        files = _unpack(manifest, ref.key, paths, dest, unpack_limits)
        stats = job.stats
        elapsed = time.monotonic() - started
        return FetchResult(manifest, files, stats["downloaded"], stats["resumed"], stats["retries"], elapsed)

    def _download(
        self,
        ref: FileRef,
        index: int,
        size: int,
        part: Path,
        report: ProgressCallback,
        attempt: int,
        cancelled: Callable[[], bool],
        isolation: str,
        watch: SocketWatch,
    ) -> tuple[int, int, str]:
        """Append the rest of chunk `index` to `part`; returns (new bytes, resumed bytes, sha256 of all)."""
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        digest = _hasher(part) if have else hashlib.sha256()
        if have == size:
            return 0, have, digest.hexdigest()
        headers = {"Range": f"bytes={have}-"} if have else {}
        got = 0
        with (
            self._session(isolation) as s,
            s.get(
                self._url(ref, f"chunk/{index}"),
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            ) as r,
        ):
            watch.track(r)
            _refuse_redirect(r, ref)
            if r.status_code == 200 and have:
                have = 0  # server ignored the range: start over
                digest = hashlib.sha256()
            elif r.status_code not in (200, 206):
                r.raise_for_status()
                raise requests.HTTPError(f"unexpected status {r.status_code}")
            mode = "ab" if have else "wb"
            last_report = 0.0
            rate = _RateFloor(index, ref.address)
            with open(part, mode) as out:
                for block in _blocks(r, watch, cancelled):
                    rate.add(len(block))
                    if cancelled():
                        raise Cancelled("transfer cancelled; partial chunks kept for resume")
                    if have + got + len(block) > size:
                        raise IntegrityError(f"chunk {index} is longer than the manifest says")
                    out.write(block)
                    digest.update(block)
                    got += len(block)
                    now = time.monotonic()
                    if now - last_report > 0.05:
                        last_report = now
                        report(ChunkProgress(ref.root, index, have + got, size, "downloading", attempt))
        return got, have, digest.hexdigest()

    def _sleep(self, attempt: int, cancel: threading.Event | None) -> None:
        delay = min(5.0, self.backoff * (2**attempt))
        if cancel is not None:
            if cancel.wait(delay):
                raise Cancelled("transfer cancelled")
        else:
            time.sleep(delay)


def _blocks(r: Any, watch: SocketWatch, cancelled: Callable[[], bool]) -> Iterator[bytes]:
    """The body as it arrives (never waiting for a whole block); a cut socket ends it at once."""
    try:
        while block := r.raw.read1(BLOCK, decode_content=False):
            yield block
    except urllib3.exceptions.HTTPError as exc:
        cancelled()  # raises when the deadline passed
        if watch.stopped():
            raise Cancelled("transfer cancelled; partial chunks kept for resume") from None
        raise requests.ConnectionError(str(exc)) from None
    finally:
        watch.untrack(r)


class _Transfer:
    """One fetch in progress: what its chunk workers share (counters, cancellation, progress)."""

    def __init__(
        self,
        fetcher: Fetcher,
        ref: FileRef,
        manifest: Manifest,
        work: Path,
        report: ProgressCallback,
        cancel: threading.Event | None,
        watch: SocketWatch,
        prefix: str,
    ) -> None:
        self.fetcher, self.ref, self.manifest, self.work = fetcher, ref, manifest, work
        self.report, self.cancel, self.watch, self.prefix = report, cancel, watch, prefix
        self.stats = {"downloaded": 0, "resumed": 0, "retries": 0}
        self.stop = threading.Event()  # another chunk failed: the rest give up
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.stats[name] += n

    def cancelled(self) -> bool:
        if self.watch.expired:
            raise PeerUnreachable(f"the transfer from {self.ref.address} did not finish within its deadline")
        return self.stop.is_set() or (self.cancel is not None and self.cancel.is_set())

    def chunk(self, index: int) -> None:
        """Chunk `index` verified on disk: kept from an earlier run, or fetched (with retries)."""
        info = self.manifest.chunks[index]
        final = self.work / f"chunk-{index}.bin"
        if final.exists() and final.stat().st_size == info.size and _sha256(final) == info.sha256:
            self.count("resumed", info.size)
            self.report(ChunkProgress(self.manifest.root, index, info.size, info.size, "verified"))
            return
        final.unlink(missing_ok=True)
        error: Exception = PeerUnreachable(f"chunk {index} from {self.ref.address}: no attempt")
        for attempt in range(1, self.fetcher.attempts + 1):
            if self.cancelled():
                raise Cancelled("transfer cancelled; partial chunks kept for resume")
            failure = self._attempt(index, attempt)
            if failure is None:
                return
            error = failure
            self.count("retries")
            part = self.work / f"chunk-{index}.part"
            done = part.stat().st_size if part.exists() else 0
            self.report(ChunkProgress(self.manifest.root, index, done, info.size, "retrying", attempt))
            self.fetcher._sleep(attempt, self.cancel)
        self.report(ChunkProgress(self.manifest.root, index, 0, info.size, "failed", self.fetcher.attempts))
        if isinstance(error, IntegrityError):
            raise error
        raise PeerUnreachable(f"chunk {index} from {self.ref.address}: {one_line(error)}")

    def _attempt(self, index: int, attempt: int) -> Exception | None:
        """One download of chunk `index` (resuming its .part); None when it is in place, verified."""
        info = self.manifest.chunks[index]
        part = self.work / f"chunk-{index}.part"
        try:
            got, resumed, digest = self.fetcher._download(
                self.ref,
                info.index,
                info.size,
                part,
                self.report,
                attempt,
                self.cancelled,
                f"{self.prefix}-{index}",
                self.watch,
            )
        except OSError as exc:  # requests' errors are OSErrors too
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TransferError(
                    f"disk full while writing chunk {index} to {self.work}; partial chunks are kept for resume"
                ) from None
            return exc
        self.count("downloaded", got)
        self.count("resumed", resumed)
        if part.stat().st_size == info.size and digest == info.sha256:
            part.replace(self.work / f"chunk-{index}.bin")
            self.report(ChunkProgress(self.manifest.root, index, info.size, info.size, "verified", attempt))
            return None
        part.unlink(missing_ok=True)  # wrong bytes: start this chunk over
        return IntegrityError(f"chunk {index} failed verification")


def _unpack(manifest: Manifest, key: bytes, paths: list[Path], dest: Path, limits: dict[str, int]) -> int:
    """Decrypt and unpack verified chunks into `dest` through a staging folder: `dest` appears
    whole or not at all. Returns the number of files."""
    staging = dest.with_name(f".{dest.name}.unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        files = unseal_to_folder(manifest, key, paths, staging, **limits)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise TransferError(
                f"disk full while unpacking into {dest.parent}; the verified chunks are kept for another try"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if dest.exists():
        dest.rmdir()
    staging.replace(dest)
    return files


class _RateFloor:
    """Drops a stream that delivers less than MIN_RATE_BPS over any RATE_WINDOW_S."""

    def __init__(self, index: int, address: str) -> None:
        self.index, self.address = index, address
        self.window_start = time.monotonic()
        self.window_bytes = 0

    def add(self, n: int) -> None:
        self.window_bytes += n
        now = time.monotonic()
        if now - self.window_start >= RATE_WINDOW_S:
            if self.window_bytes < MIN_RATE_BPS * (now - self.window_start):
                raise requests.ConnectionError(
                    f"chunk {self.index} from {self.address} is slower than {MIN_RATE_BPS} bytes/s"
                )
            self.window_start, self.window_bytes = now, 0


def _refuse_redirect(r: Any, ref: FileRef) -> None:
    if 300 <= r.status_code < 400:
        raise IntegrityError(f"the peer at {ref.address} answered with a redirect (not followed)")


def _check_sizes(manifest: Manifest, work: Path, max_bytes: int) -> None:
    """Before any chunk is written: the file fits the caller's cap and the free disk."""
    allowed = max_bytes + max_bytes // 64 + 16 * 1024 * 1024  # tar headers and padding
    if manifest.total_size > allowed:
        raise TransferError(
            f"the peer offers {manifest.total_size} bytes, more than the {allowed} this transfer accepts"
        )
    have = sum(f.stat().st_size for f in work.glob("chunk-*.bin"))
    needed = manifest.sealed_size - have + manifest.total_size + DISK_MARGIN
    free = shutil.disk_usage(work).free
    if free < needed:
        raise TransferError(
            f"not enough disk in {work}: {needed // 2**20} MiB needed, {free // 2**20} MiB free"
        )


def _hasher(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest


def _sha256(path: Path) -> str:
    return _hasher(path).hexdigest()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("transfer cancelled")
