"""Provides `SocketWatch`: cuts the open HTTP streams of one transfer at once when it is cancelled
or its deadline passes, so no blocked read outlives either (a peer dripping a byte every few
seconds, or a SIGTERM whose grace period must hold)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from typing import Any


def shut_down(sockets: Iterable[socket.socket]) -> None:
    """Shut every socket down for reading and writing: a thread blocked on one wakes at once."""
    for sock in list(sockets):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def socket_of(response: Any) -> socket.socket | None:
    """The socket under a streamed `requests` response (None where the library hides it)."""
    try:
        sock: socket.socket = response.raw._fp.fp.raw._sock
        return sock
    except AttributeError:
        return None


class SocketWatch:
    def __init__(self, cancel: threading.Event | None = None, deadline: float | None = None) -> None:
        """`deadline` is a `time.monotonic()` value (None: no deadline)."""
        self.cancel = cancel
        self.deadline = deadline
        self.expired = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="transfer-watch")

    def __enter__(self) -> SocketWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(2)

    def track(self, response: Any) -> None:
        sock = socket_of(response)
        if sock is not None:
            with self._lock:
                self._open.add(sock)
            if self.stopped():
                self._cut()

    def untrack(self, response: Any) -> None:
        sock = socket_of(response)
        with self._lock:
            self._open.discard(sock)

    def stopped(self) -> bool:
        return (self.cancel is not None and self.cancel.is_set()) or self.expired

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.expired = True
            if self.stopped():
                self._cut()

    def _cut(self) -> None:
        with self._lock:
            sockets = list(self._open)
        shut_down(sockets)
