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
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from . import crypto
from .errors import IntegrityError

MAX_BATCH_BYTES = 64 * 1024  # a POST body the inbox reads at most
MAX_LINE_CHARS = 2_000
BUFFER_LINES = 2_000  # lines a pusher holds while the requester is unreachable (oldest dropped)
PUSH_EVERY_S = 0.3
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

    def __post_init__(self) -> None:
        self._session = requests.Session()
        self._session.trust_env = False  # never a proxy from the environment: only `socks`
        if self.socks:
            proxy = f"socks5h://{self.socks}"
            self._session.proxies = {"http": proxy, "https": proxy}

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
        """Send what is left (for up to `flush_s`), then stop."""
        deadline = time.monotonic() + flush_s
        while self.lines and time.monotonic() < deadline and self.failures < 3:
            self._push()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=flush_s)

    def _run(self) -> None:
        while not self._stop.wait(PUSH_EVERY_S):
            self._push()

    def _push(self) -> None:
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
        url = f"http://{self.address}/log/{log_tag(self.context)}"
        try:
            response = self._session.post(url, data=body, timeout=10)
            ok = response.status_code in (204, 409)
        except requests.RequestException:
            ok = False
        if ok:
            self.sent_batches += 1
            self.failures = 0
            return
        self.failures += 1
        with self._lock:  # back in front, to try again (the buffer stays bounded)
            self.lines.extendleft(reversed(batch))
            self._trim()
