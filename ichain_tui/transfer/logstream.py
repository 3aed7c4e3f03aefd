"""Provides the live log of a running task: the lines the task prints on the provider's machine
reach its requester while it runs.

The provider seals numbered batches of lines with a key only it and the requester can compute
(`crypto.pair_key`: ECDH of their registered keys, bound to chain, market and task) and POSTs them
to the requester's chunk server, over the transport the task's files came by. The requester's
`LogInbox` keeps what opens with that key and is newer than what it has, and drops the rest: a
stranger's batch, a replay or an oversized body costs it one small read. Lines of the form
`ICHAIN_PROGRESS {"epoch": 3, "loss": 0.41}` are progress: `progress_of` parses them.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socks as pysocks

from . import crypto
from .errors import IntegrityError
from .watchdog import shut_down

MAX_BATCH_BYTES = 64 * 1024  # a POST body the inbox reads at most
MAX_LINE_CHARS = 2_000
BUFFER_LINES = 2_000  # lines a pusher holds while the requester is unreachable (oldest dropped)
PUSH_EVERY_S = 0.3
POST_DEADLINE_S = 10.0  # a whole log POST (connect, send, status line and headers), not one read
PROGRESS_PREFIX = "ICHAIN_PROGRESS "

LogSink = Callable[[list[tuple[str, str]]], None]  # (stream, line) pairs, in order


def log_context(task_context: bytes) -> bytes:
    return b"ichain-log1" + task_context


def log_tag(context: bytes) -> str:
    """The inbox slot of one task's log (a name, not a secret: batches must open to count)."""
    return hashlib.sha256(context).hexdigest()[:32]


def seal_batch(key: bytes, context: bytes, seq: int, lines: list[tuple[str, str]]) -> bytes:
    body = json.dumps({"seq": seq, "lines": lines}, separators=(",", ":")).encode()
    return crypto.seal_with(key, body, context)


def printable(text: str) -> str:
    """No terminal control sequences from a task's output reach the requester's screen."""
    return "".join(c if c.isprintable() or c == "\t" else "?" for c in text)


def open_batch(key: bytes, context: bytes, sealed: bytes) -> tuple[int, list[tuple[str, str]]]:
    try:
        body = json.loads(crypto.open_with(key, sealed, context))
        seq = int(body["seq"])
        lines = [(str(s)[:8], printable(str(t)[:MAX_LINE_CHARS])) for s, t in body["lines"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"not a log batch: {exc}") from None
    return seq, lines


def progress_of(line: str) -> dict[str, Any] | None:
    """The JSON object of an `ICHAIN_PROGRESS {...}` line (numbers and short strings only)."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        value = json.loads(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {
        str(k)[:40]: v
        for k, v in list(value.items())[:20]
        if (isinstance(v, (int, float)) and not isinstance(v, bool)) or (isinstance(v, str) and len(v) <= 80)
    }


def progress_words(values: dict[str, Any]) -> str:
    """A progress report as words: "epoch 3, loss 0.41"."""
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


@dataclass
class _Slot:
    key: bytes
    context: bytes
    sink: LogSink
    last_seq: int = -1


class LogInbox:
    """The requester's side: one slot per task it hosts; `receive` is called by the chunk server."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def accept(self, key: bytes, context: bytes, sink: LogSink) -> str:
        tag = log_tag(context)
        with self._lock:
            self._slots.setdefault(tag, _Slot(key, context, sink))
        return tag

    def close(self, context: bytes) -> None:
        with self._lock:
            self._slots.pop(log_tag(context), None)

    def receive(self, tag: str, body: bytes) -> int:
        """An HTTP status: 204 taken, 404 no such log here, 403 does not open, 409 not newer."""
        with self._lock:
            slot = self._slots.get(tag)
        if slot is None:
            return 404
        try:
            seq, lines = open_batch(slot.key, slot.context, body)
        except IntegrityError:
            return 403
        with self._lock:
            if seq <= slot.last_seq:
                return 409
            slot.last_seq = seq
        slot.sink(lines)
        return 204


@dataclass
class LogPusher:
    """The provider's side: lines go into a bounded buffer; a thread POSTs them in batches."""

    address: str  # the requester's host:port (or onion)
    key: bytes
    context: bytes
    socks: str | None = None
    lines: deque[tuple[str, str]] = field(default_factory=deque)
    dropped: int = 0  # lines lost to the bound while the requester was unreachable
    sent_batches: int = 0
    failures: int = 0
    _seq: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _flush_until: float = 0.0  # close(): the pusher's thread sends what is left until then

    def start(self) -> LogPusher:
        self._thread = threading.Thread(target=self._run, daemon=True, name="log-pusher")
        self._thread.start()
        return self

    def add(self, stream: str, line: str) -> None:
        with self._lock:
            self.lines.append((stream, line[:MAX_LINE_CHARS]))
            self._trim()

    def _trim(self) -> None:
        while len(self.lines) > BUFFER_LINES:  # the oldest go first
            self.lines.popleft()
            self.dropped += 1

    def close(self, flush_s: float = 3.0) -> None:
        """Let the pusher's thread send what is left for up to `flush_s`, then stop. Never does
        network I/O in the caller's thread, and returns within `flush_s` whatever the requester's
        server does (each POST is cut at POST_DEADLINE_S; the thread is a daemon)."""
        self._flush_until = time.monotonic() + flush_s
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=flush_s)

    def _run(self) -> None:
        while not self._stop.wait(PUSH_EVERY_S):
            self._push()
        while self.lines and time.monotonic() < self._flush_until and self.failures < 3:
            self._push(min(POST_DEADLINE_S, max(0.1, self._flush_until - time.monotonic())))

    def _push(self, deadline_s: float = POST_DEADLINE_S) -> None:
        with self._lock:
            if not self.lines:
                return
            batch: list[tuple[str, str]] = []
            size = 64
            while self.lines and size + len(self.lines[0][1]) + 16 < MAX_BATCH_BYTES - 1024:
                item = self.lines.popleft()
                batch.append(item)
                size += len(item[1].encode()) + 16
            seq = self._seq
            self._seq += 1
        body = seal_batch(self.key, self.context, seq, batch)
        status = post_within(self.address, f"/log/{log_tag(self.context)}", body, self.socks, deadline_s)
        ok = status in (204, 409)
        if ok:
            self.sent_batches += 1
            self.failures = 0
            return
        self.failures += 1
        with self._lock:  # back in front, to try again (the buffer stays bounded)
            self.lines.extendleft(reversed(batch))
            self._trim()


def post_within(address: str, path: str, body: bytes, socks: str | None, deadline_s: float) -> int:
    """POST `body` to http://`address``path` (through the SOCKS proxy `socks`, names resolved by
    it) and return the status, or 0 when it failed or did not end within `deadline_s` in all: the
    socket is cut at the deadline, so a server that drips its answer a byte at a time cannot hold
    the caller (a per-read timeout never fires against a drip)."""
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=deadline_s)
    cut = threading.Event()

    def expire() -> None:
        cut.set()
        shut_down([conn.sock] if conn.sock else [])

    timer = threading.Timer(deadline_s, expire)
    timer.daemon = True
    timer.start()
    try:
        if socks:
            proxy_host, _, proxy_port = socks.rpartition(":")
            conn.sock = pysocks.create_connection(
                (host.strip("[]"), int(port)),
                timeout=deadline_s,
                proxy_type=pysocks.SOCKS5,
                proxy_addr=proxy_host,
                proxy_port=int(proxy_port),
                proxy_rdns=True,
            )
        conn.request("POST", path, body=body, headers={"Content-Type": "application/octet-stream"})
        response = conn.getresponse()
        response.read(1024)
        return 0 if cut.is_set() else int(response.status)  # a cut stream can look like an answer
    except (OSError, http.client.HTTPException, pysocks.ProxyError, ValueError):
        return 0
    finally:
        timer.cancel()
        conn.close()
