"""Provides `CappedProxy`: the only way out for pip while it downloads a task's dependencies, an
HTTP proxy on 127.0.0.1 that counts what pip downloads and cuts it off at the provider's cap.

pip is started with `--proxy` pointing here (and an environment with nothing else in it). For a
plain-HTTP index the proxy sees each response's head: a package file whose `Content-Length` does
not fit what is left of the cap is refused before a byte of it is relayed, and every package byte
counts as it passes. Through an HTTPS tunnel (`CONNECT`) only the bytes can be counted: all of them
count. Either way the download stops the moment the count passes the cap, so pip never writes more
than the cap (plus one read buffer) to disk.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

HEAD_MAX = 64 * 1024
PAGE_MAX = 64 * 1024 * 1024  # one index page, which does not count against the cap
PACKAGE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".metadata", ".egg")
CONNECT_TIMEOUT_S = 20.0
IDLE_TIMEOUT_S = 60.0
BUFFER = 64 * 1024


class CappedProxy:
    """A forward proxy for one pip run; `exceeded` says whether the cap stopped a download."""

    def __init__(self, cap_bytes: int) -> None:
        self.cap = cap_bytes
        self.counted = 0
        self.exceeded = False
        self.refused: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="deps-proxy")
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CappedProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ counting
    def _take(self, n: int) -> bool:
        """Count `n` package bytes; False once the cap is passed (the download must stop)."""
        with self._lock:
            self.counted += n
            if self.counted > self.cap:
                self.exceeded = True
            return not self.exceeded

    def _fits(self, n: int) -> bool:
        with self._lock:
            if self.counted + n > self.cap:
                self.exceeded = True
                return False
            return True

    # ------------------------------------------------------------------ one connection
    def _handle(self, client: socket.socket) -> None:
        client.settimeout(IDLE_TIMEOUT_S)
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            request_line, _, header_text = head.partition(b"\r\n")
            parts = request_line.decode("latin-1").split()
            if len(parts) != 3:
                return
            method, target, _version = parts
            if method == "CONNECT":
                self._tunnel(client, target, rest)
            else:
                self._forward(client, method, target, header_text, rest)
        except OSError:
            pass
        finally:
            try:
                client.close()
            except OSError:
                pass

    def _tunnel(self, client: socket.socket, target: str, rest: bytes) -> None:
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit() or self.exceeded:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n")
            return
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S)
        try:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            _relay(client, upstream, self._take)
        finally:
            upstream.close()

    def _forward(
        self, client: socket.socket, method: str, target: str, header_text: bytes, rest: bytes
    ) -> None:
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname or method not in ("GET", "HEAD"):
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n")
            return
        package = url.path.lower().endswith(PACKAGE_SUFFIXES)
        if package and self.exceeded:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n")
            return
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = [
            line
            for line in header_text.split(b"\r\n")
            if line and not line.lower().startswith((b"connection:", b"proxy-", b"keep-alive:"))
        ]
        request = f"{method} {path} HTTP/1.1\r\n".encode() + b"\r\n".join(headers)
        request += b"\r\nConnection: close\r\n\r\n"
        upstream = socket.create_connection((url.hostname, url.port or 80), timeout=CONNECT_TIMEOUT_S)
        try:
            upstream.sendall(request + rest)
            upstream.settimeout(IDLE_TIMEOUT_S)
            head, body = _read_head(upstream)
            if head is None:
                return
            length = _content_length(head)
            if package and length is not None and not self._fits(length):
                self.refused.append(url.path.rsplit("/", 1)[-1])
                client.sendall(b"HTTP/1.1 507 Over the provider's cap\r\nConnection: close\r\n\r\n")
                return
            lines = [
                ln
                for ln in head.split(b"\r\n")
                if not ln.lower().startswith((b"connection:", b"keep-alive:"))
            ]
            client.sendall(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n")
            budget = [PAGE_MAX]

            def count(n: int) -> bool:
                if package:
                    return self._take(n)
                budget[0] -= n
                return budget[0] >= 0

            if body and not count(len(body)):
                return
            client.sendall(body)
            while True:
                chunk = upstream.recv(BUFFER)
                if not chunk or not count(len(chunk)):
                    return
                client.sendall(chunk)
        finally:
            upstream.close()


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(BUFFER)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > HEAD_MAX:
            return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def _relay(a: socket.socket, b: socket.socket, take: Callable[[int], bool]) -> None:
    """Copy both ways until either side closes; bytes from `b` (upstream) are counted."""
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], IDLE_TIMEOUT_S)
        if not ready:
            return
        for sock in ready:
            chunk = sock.recv(BUFFER)
            if not chunk:
                return
            if sock is b:
                if not take(len(chunk)):
                    return
                a.sendall(chunk)
            else:
                b.sendall(chunk)
