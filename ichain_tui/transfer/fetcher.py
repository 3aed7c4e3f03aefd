"""Provides `fetch`: download every chunk of a file in parallel, verify, retry, resume, decrypt, unpack.

Chunks stream to `<work>/chunk-<i>.part` and become `chunk-<i>.bin` once their SHA-256 matches the
manifest (whose root matched the commitment). After a crash, verified chunks are kept and partial
ones resume with HTTP Range requests. A chunk that fails verification is fetched again with
backoff. Progress per chunk goes to a callback; a `threading.Event` cancels (partials are kept).
Memory stays bounded: bytes go from the socket to disk in 256 KiB blocks.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import threading
import time
import uuid
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from .errors import Cancelled, IntegrityError, PeerUnreachable, TransferError
from .locator import FileRef
from .manifest import Manifest, unseal_to_folder

BLOCK = 1024 * 1024
ATTEMPTS = 6
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class ChunkProgress:
    root: str
    index: int
    done: int
    size: int
    state: str  # waiting | downloading | verified | retrying | failed
    attempt: int = 1


ProgressCallback = Callable[[ChunkProgress], None]


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

    def __init__(self, socks: str | None = None, workers: int = 0, attempts: int = ATTEMPTS,
                 backoff: float = 0.2) -> None:
        self.socks = socks
        self.workers = workers
        self.attempts = attempts
        self.backoff = backoff

    # -- HTTP ----------------------------------------------------------------------
    def _session(self, isolation: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # never pick up a proxy from the environment
        if self.socks:
            # distinct SOCKS credentials per stream: tor puts each on its own circuit (IsolateSOCKSAuth)
            proxy = f"socks5h://{isolation}:x@{self.socks}"
            session.proxies = {"http": proxy, "https": proxy}
        return session

    @staticmethod
    def _url(ref: FileRef, tail: str) -> str:
        return f"http://{ref.address}/m/{ref.root}/{tail}"

    def fetch_manifest(self, ref: FileRef, cancel: threading.Event | None = None, isolation: str | None = None) -> Manifest:
        last: Exception | None = None
        for attempt in range(self.attempts):
            _check(cancel)
            try:
                with self._session(isolation or f"ichain-{uuid.uuid4().hex[:8]}-m") as s:
                    r = s.get(self._url(ref, "manifest"), timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
                if r.status_code == 404:
                    raise TransferError(f"the peer at {ref.address} does not serve {ref.root[:12]}…")
                r.raise_for_status()
                if len(r.content) > 1 << 20:
                    raise IntegrityError("manifest is too large")
                return Manifest.from_json(r.content, expected_root=ref.root)
            except requests.RequestException as exc:
                last = exc
                self._sleep(attempt, cancel)
        raise PeerUnreachable(f"cannot reach {ref.address}: {_short(last)}")

    # -- the whole file ------------------------------------------------------------
    def fetch(self, ref: FileRef, dest: Path, work: Path, progress: ProgressCallback | None = None,
              cancel: threading.Event | None = None, **unpack_limits) -> FetchResult:
        """Fetch `ref` into the new folder `dest`, using `work` for chunks (kept for resume)."""
        started = time.monotonic()
        dest, work = Path(dest), Path(work)
        if dest.exists() and any(dest.iterdir()):
            raise TransferError(f"destination {dest} is not empty")
        work.mkdir(parents=True, exist_ok=True)
        # one SOCKS identity (so one tor circuit) per chunk stream; chunk 0 reuses the manifest's
        prefix = f"ichain-{uuid.uuid4().hex[:8]}"
        manifest = self.fetch_manifest(ref, cancel, isolation=f"{prefix}-0")
        report = progress or (lambda p: None)
        stats = {"downloaded": 0, "resumed": 0, "retries": 0}
        lock = threading.Lock()
        chunk_cancel = threading.Event()

        def cancelled() -> bool:
            return chunk_cancel.is_set() or (cancel is not None and cancel.is_set())

        def one(index: int) -> None:
            info = manifest.chunks[index]
            final = work / f"chunk-{index}.bin"
            if final.exists() and final.stat().st_size == info.size and _sha256(final) == info.sha256:
                with lock:
                    stats["resumed"] += info.size
                report(ChunkProgress(manifest.root, index, info.size, info.size, "verified"))
                return
            final.unlink(missing_ok=True)
            part = work / f"chunk-{index}.part"
            for attempt in range(1, self.attempts + 1):
                if cancelled():
                    raise Cancelled("transfer cancelled; partial chunks kept for resume")
                try:
                    got, resumed, digest = self._download(ref, info.index, info.size, part, report, attempt, cancelled,
                                                          f"{prefix}-{index}")
                    with lock:
                        stats["downloaded"] += got
                        stats["resumed"] += resumed
                    if part.stat().st_size == info.size and digest == info.sha256:
                        part.replace(final)
                        report(ChunkProgress(manifest.root, index, info.size, info.size, "verified", attempt))
                        return
                    part.unlink(missing_ok=True)  # wrong bytes: start this chunk over
                    error: Exception = IntegrityError(f"chunk {index} failed verification")
                except OSError as exc:  # requests' errors are OSErrors too
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise TransferError(f"disk full while writing chunk {index} to {work}; "
                                            "partial chunks are kept for resume") from None
                    error = exc
                with lock:
                    stats["retries"] += 1
                done = part.stat().st_size if part.exists() else 0
                report(ChunkProgress(manifest.root, index, done, info.size, "retrying", attempt))
                self._sleep(attempt, cancel)
            report(ChunkProgress(manifest.root, index, 0, info.size, "failed", self.attempts))
            if isinstance(error, IntegrityError):
                raise error
            raise PeerUnreachable(f"chunk {index} from {ref.address}: {_short(error)}")

        for info in manifest.chunks:
            report(ChunkProgress(manifest.root, info.index, 0, info.size, "waiting"))
        workers = self.workers or len(manifest.chunks)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch") as pool:
            futures = [pool.submit(one, i) for i in range(len(manifest.chunks))]
            finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in finished if f.exception() is not None]
            if failed:
                chunk_cancel.set()
                wait(pending)
                raise failed[0].exception()  # type: ignore[misc]
        _check(cancel)
        paths = [work / f"chunk-{i}.bin" for i in range(len(manifest.chunks))]
        staging = dest.with_name(f".{dest.name}.unpacking")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            files = unseal_to_folder(manifest, ref.key, paths, staging, **unpack_limits)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TransferError(f"disk full while unpacking into {dest.parent}; "
                                    "the verified chunks are kept for another try") from None
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if dest.exists():
            dest.rmdir()
        staging.replace(dest)
        shutil.rmtree(work, ignore_errors=True)
        return FetchResult(manifest, files, stats["downloaded"], stats["resumed"], stats["retries"],
                           time.monotonic() - started)

    def _download(self, ref: FileRef, index: int, size: int, part: Path, report: ProgressCallback, attempt: int,
                  cancelled: Callable[[], bool], isolation: str) -> tuple[int, int, str]:
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
        with self._session(isolation) as s:
            with s.get(self._url(ref, f"chunk/{index}"), headers=headers, stream=True,
                       timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)) as r:
                if r.status_code == 200 and have:
                    have = 0  # server ignored the range: start over
                    digest = hashlib.sha256()
                elif r.status_code not in (200, 206):
                    r.raise_for_status()
                    raise requests.HTTPError(f"unexpected status {r.status_code}")
                mode = "ab" if have else "wb"
                last_report = 0.0
                with open(part, mode) as out:
                    for block in r.iter_content(BLOCK):
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
        delay = min(5.0, self.backoff * (2 ** attempt))
        if cancel is not None:
            if cancel.wait(delay):
                raise Cancelled("transfer cancelled")
        else:
            time.sleep(delay)


def _hasher(path: Path):
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


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    text = str(exc)
    if "Connection refused" in text or "Failed to establish" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:160] if text else type(exc).__name__
