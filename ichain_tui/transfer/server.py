"""Provides `ChunkServer`: an HTTP server for the sealed chunks of one or more files.

    GET /m/<root>/manifest        the manifest JSON
    GET /m/<root>/chunk/<i>       sealed chunk i (Range requests supported, for resuming)

Only ciphertext is served; names are manifest roots. It binds where it is told (127.0.0.1 by
default) and serves files that were added to it, nothing else.

A peer may be hostile: at most MAX_CONNECTIONS are served at once; when they are all taken, a new
connection evicts the slowest one (idle or waiting for its headers longest, else the one moving
fewer than MIN_RATE_BPS), and is refused only when every connection is moving data. A
connection must send its request line and headers within HEADER_TIMEOUT_S and may sit idle
between requests for at most IDLE_TIMEOUT_S; a log POST must arrive whole within
POST_DEADLINE_S; every socket read and write has a timeout; a malformed or unsatisfiable range is
answered 416. So one peer holding every connection (dripping headers or a POST body, or asking for
chunks and never reading them) cannot keep honest peers out.

A server restarted after a crash is told `warmup_s`: for that long an unknown root is answered
503 (try again) instead of 404 (final), because its owner is still re-adding the files it served
before the crash, and a peer that asks in that moment must not give up on them.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .logstream import MAX_BATCH_BYTES, LogInbox
from .manifest import SealedFile
from .progress import ChunkProgress, ProgressCallback
from .watchdog import shut_down

MAX_CONNECTIONS = 64
HEADER_TIMEOUT_S = 10.0
POST_DEADLINE_S = 10.0  # a whole log POST body (64 KiB at most)
MIN_RATE_BPS = 32 * 1024  # a request moving less than this, after SLOW_AFTER_S, may be evicted
SLOW_AFTER_S = 2.0
IDLE_TIMEOUT_S = 15.0
SOCKET_TIMEOUT_S = 60.0
SEND_STEP = 1 << 20  # bytes per sendfile call when not throttled: progress at least every MiB

_PATH = re.compile(r"^/m/([0-9a-f]{64})/(manifest|chunk/(\d{1,5}))$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_LOG_PATH = re.compile(r"^/log/([0-9a-f]{32})$")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S  # every read and write of this connection

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; the owner reports progress
        pass

    def do_GET(self) -> None:
        match = _PATH.match(self.path)
        sealed = self.server.files.get(match.group(1)) if match else None
        if sealed is None:
            if match and time.monotonic() < self.server.warm_until:
                self.send_response(503)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._error(404)
            return
        assert match is not None  # a file was found, so the path matched
        if match.group(2) == "manifest":
            body = sealed.manifest.to_json()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        index = int(match.group(3))
        if index >= len(sealed.manifest.chunks):
            self._error(404)
            return
        path = sealed.chunk_path(index)
        size = path.stat().st_size
        start, end = 0, size - 1
        rng = self.headers.get("Range")
        if rng:
            m = _RANGE.match(rng.strip())
            if not m or int(m.group(1)) >= max(size, 1):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if end < start:  # e.g. bytes=5-3
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        length = end - start + 1 if size else 0
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        self.wfile.flush()
        throttle = self.server.throttle_bps
        step = max(16384, throttle // 20) if throttle else SEND_STEP
        progress = self.server.progress
        root = sealed.root
        with open(path, "rb") as handle:
            sent = 0
            while sent < length and not self.server.stopping.is_set():
                tick = time.monotonic()
                step_sent = self.connection.sendfile(handle, start + sent, min(step, length - sent)) or 0
                sent += step_sent
                self.server.moved(self.connection, sent)
                self.server.count_sent(root, step_sent)
                if progress is not None:
                    state = "sent" if start + sent >= size else "sending"
                    progress(ChunkProgress(root, index, start + sent, size, state, direction="up"))
                if throttle:
                    time.sleep(max(0.0, step / throttle - (time.monotonic() - tick)))

    def do_POST(self) -> None:
        """A sealed batch of a running task's log lines, for the `LogInbox` (requester's side)."""
        match = _LOG_PATH.match(self.path)
        inbox = self.server.inbox
        try:
            length = int(self.headers.get("Content-Length") or -1)
        except ValueError:
            length = -1
        if not match or inbox is None:
            self._error(404)
            return
        if not 0 < length <= MAX_BATCH_BYTES:
            self._error(413)
            self.close_connection = True  # the body is not read
            return
        self.server.deadlines[self.connection] = time.monotonic() + POST_DEADLINE_S
        try:
            body = self.rfile.read(length)
        finally:
            self.server.deadlines.pop(self.connection, None)
        self._error(inbox.receive(match.group(1), body))

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def handle_one_request(self) -> None:
        # waiting for a request line and headers: the reaper cuts this connection if they are late
        self.server.waiting[self.connection] = (
            time.monotonic(),
            self.server.served.get(self.connection, False),
        )
        super().handle_one_request()
        self.server.served[self.connection] = True

    def parse_request(self) -> bool:
        self.server.waiting.pop(self.connection, None)
        self.server.requests[self.connection] = (time.monotonic(), 0)
        return super().parse_request()

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        self.server.waiting.pop(self.connection, None)
        self.server.served.pop(self.connection, None)
        self.server.requests.pop(self.connection, None)
        self.server.deadlines.pop(self.connection, None)
        super().finish()

    def _error(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = MAX_CONNECTIONS

    def __init__(
        self, address: tuple[str, int], files: dict[str, SealedFile], throttle_bps: int | None
    ) -> None:
        self.files = files
        self.throttle_bps = throttle_bps
        self.progress: ProgressCallback | None = None  # told of every step a chunk is sent
        self.inbox: LogInbox | None = None  # takes running tasks' log batches (POST /log/<tag>)
        self.stopping = threading.Event()
        self.warm_until = 0.0  # until then an unknown root is "try again", not "not here"
        self.connections: set[socket.socket] = set()
        self.waiting: dict[
            socket.socket, tuple[float, bool]
        ] = {}  # since when, and whether idle after a request
        self.served: dict[socket.socket, bool] = {}
        self.sent_by_root: dict[str, int] = {}  # bytes sent of each file since the server started
        self._sent_lock = threading.Lock()
        self.requests: dict[socket.socket, tuple[float, int]] = {}  # request started, bytes moved
        self.deadlines: dict[socket.socket, float] = {}  # whole-request deadlines (log POSTs)
        self.refused = 0
        self.evicted = 0
        self.active = 0
        self._count = threading.Lock()
        super().__init__(address, _Handler)
        self._reaper = threading.Thread(target=self._reap, daemon=True, name="chunk-server-reaper")
        self._reaper.start()

    def moved(self, conn: socket.socket, sent: int) -> None:
        started, _ = self.requests.get(conn, (time.monotonic(), 0))
        self.requests[conn] = (started, sent)

    def count_sent(self, root: str, n: int) -> None:
        with self._sent_lock:
            self.sent_by_root[root] = self.sent_by_root.get(root, 0) + n

    def _slowest(self) -> socket.socket | None:
        """The connection a newcomer may take the place of: the one waiting (for headers, or idle
        between requests) longest, else the request moving slowest below MIN_RATE_BPS."""
        now = time.monotonic()
        waiting = sorted((since, conn) for conn, (since, _idle) in list(self.waiting.items()))
        if waiting and now - waiting[0][0] > 0.5:
            return waiting[0][1]
        slow = []
        for conn, (started, sent) in list(self.requests.items()):
            elapsed = now - started
            if elapsed > SLOW_AFTER_S and sent / elapsed < MIN_RATE_BPS:
                slow.append((sent / elapsed, conn))
        return min(slow, key=lambda pair: pair[0])[1] if slow else None

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count:
            full = self.active >= MAX_CONNECTIONS
            victim = self._slowest() if full else None
            if full and victim is None:
                self.refused += 1
            else:
                self.active += 1
                self.evicted += victim is not None
        if full and victim is None:
            self.shutdown_request(request)  # closed at once, no thread
            return
        if victim is not None:  # its thread ends at once; the newcomer is served meanwhile
            self.waiting.pop(victim, None)
            self.requests.pop(victim, None)
            shut_down([victim])
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count:
                self.active -= 1

    def _reap(self) -> None:
        """Cut connections that are late with their headers or idle too long."""
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            late = [conn for conn, deadline in list(self.deadlines.items()) if now > deadline]
            for conn in late:
                self.deadlines.pop(conn, None)
                shut_down([conn])
            for conn, (since, idle) in list(self.waiting.items()):
                if now - since > (IDLE_TIMEOUT_S if idle else HEADER_TIMEOUT_S):
                    self.waiting.pop(conn, None)
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


class ChunkServer:
    """Serves sealed files until `stop()`; use `address` to tell peers where to fetch."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        advertise_host: str | None = None,
        throttle_bps: int | None = None,
        warmup_s: float = 0.0,
    ) -> None:
        """`throttle_bps` limits each connection (demos, tests); None serves as fast as it can.
        `warmup_s` > 0 for a restart: unknown roots are answered 503 for that long after `start`."""
        self._files: dict[str, SealedFile] = {}
        self._httpd = _Server((host, port), self._files, throttle_bps)
        self._warmup_s = warmup_s
        self.advertise_host = advertise_host or host
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="chunk-server"
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def bind_address(self) -> str:
        host = self._httpd.server_address[0]
        return f"{host if isinstance(host, str) else host.decode()}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.advertise_host}:{self.port}"

    def accept_logs(self, inbox: LogInbox) -> None:
        self._httpd.inbox = inbox

    def sent_bytes(self, root: str) -> int:
        """Bytes of the file `root` sent to peers so far (chunks and their retries)."""
        return self._httpd.sent_by_root.get(root, 0)

    def on_progress(self, callback: ProgressCallback | None) -> None:
        """Tell `callback` how far each chunk being sent is (direction "up")."""
        self._httpd.progress = callback

    def add(self, sealed: SealedFile) -> str:
        self._files[sealed.root] = sealed
        return sealed.root

    def remove(self, root: str) -> None:
        self._files.pop(root, None)

    def start(self) -> ChunkServer:
        self._httpd.warm_until = time.monotonic() + self._warmup_s
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (what a crash looks like to peers)."""
        self._httpd.stopping.set()
        shut_down(self._httpd.connections)
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ChunkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_sealed(directory: Path, key: bytes) -> SealedFile:
    """Re-open a sealed file from its folder (after a restart)."""
    from .manifest import Manifest

    manifest = Manifest.from_json((Path(directory) / "manifest.json").read_bytes())
    for info in manifest.chunks:
        if os.path.getsize(Path(directory) / f"chunk-{info.index}.bin") != info.size:
            raise FileNotFoundError(f"chunk {info.index} of {manifest.root} is missing or incomplete")
    return SealedFile(manifest, key, Path(directory))
