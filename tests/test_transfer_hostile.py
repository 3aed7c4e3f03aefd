"""Issue 10: a hostile peer cannot exhaust a fetcher (memory, threads, time, disk) and a hostile
client cannot lock the chunk server."""

from __future__ import annotations

import gzip
import socket
import threading
import time

import pytest
from transfer_helpers import random_folder

from ichain_tui.transfer import fetcher as fetcher_module
from ichain_tui.transfer.errors import Cancelled, IntegrityError, PeerUnreachable, TransferError
from ichain_tui.transfer.fetcher import Fetcher
from ichain_tui.transfer.locator import FileRef
from ichain_tui.transfer.logstream import LogInbox, LogPusher, post_within
from ichain_tui.transfer.manifest import ChunkInfo, Manifest, compute_root, seal_folder
from ichain_tui.transfer.server import (
    HEADER_TIMEOUT_S,
    MAX_CONNECTIONS,
    POST_DEADLINE_S,
    SLOW_AFTER_S,
    ChunkServer,
)

ROOT = "ab" * 32


class RawPeer:
    """A TCP server on 127.0.0.1 that answers every connection with `handler(conn, request_head)`."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.requests.append(head)
            try:
                self.handler(conn, head)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def _ref(peer, root=ROOT) -> FileRef:
    return FileRef(root, b"k" * 32, "direct", peer.address)


def test_an_endless_manifest_stops_at_its_cap(tmp_path):
    def endless(conn, head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        block = b"[" * 65536
        for _ in range(512):  # 32 MiB, far past the cap, unless the reader stops
            conn.sendall(block)

    peer = RawPeer(endless)
    with pytest.raises(IntegrityError, match="larger than 1048576 bytes"):
        Fetcher(attempts=1).fetch_manifest(_ref(peer))


def test_an_encoded_manifest_is_refused_not_inflated(tmp_path):
    bomb = gzip.compress(b" " * (64 << 20))  # 64 MiB of spaces in about 64 KiB

    def gzipped(conn, head):
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb) + bomb
        )

    peer = RawPeer(gzipped)
    with pytest.raises(IntegrityError, match="encoded manifest"):
        Fetcher(attempts=1).fetch_manifest(_ref(peer))
    assert b"accept-encoding: identity" in peer.requests[0].lower()


def test_a_redirect_is_not_followed(tmp_path):
    target = RawPeer(lambda conn, head: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    redirecting = RawPeer(
        lambda conn, head: conn.sendall(
            f"HTTP/1.1 302 Found\r\nLocation: http://{target.address}/m/{ROOT}/manifest\r\nContent-Length: 0\r\n\r\n".encode()
        )
    )
    with pytest.raises(IntegrityError, match="redirect"):
        Fetcher(attempts=1).fetch_manifest(_ref(redirecting))
    time.sleep(0.2)
    assert target.requests == []  # the other address never got a GET


def test_a_dripping_manifest_ends_at_its_deadline(monkeypatch):
    monkeypatch.setattr(fetcher_module, "MANIFEST_DEADLINE_S", 2.0)

    def drip(conn, head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(60):
            conn.sendall(b" ")
            time.sleep(0.5)

    peer = RawPeer(drip)
    started = time.monotonic()
    with pytest.raises(PeerUnreachable, match="did not send the manifest within 2 s"):
        Fetcher(attempts=1).fetch_manifest(_ref(peer))
    assert time.monotonic() - started < 4


def test_a_cancel_cuts_a_stalled_read_at_once():
    def stall(conn, head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{")
        time.sleep(30)

    peer = RawPeer(stall)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        Fetcher(attempts=1).fetch_manifest(_ref(peer), cancel=cancel)
    assert time.monotonic() - started < 1.5


def _forged_manifest(chunks: int, plain_size: int) -> Manifest:
    """A manifest whose root is right for its (hostile) entries: the requester chose the root."""
    from ichain_tui.transfer import crypto

    infos = tuple(
        ChunkInfo(i, plain_size, crypto.sealed_size(plain_size, 1 << 20), "00" * 32) for i in range(chunks)
    )
    fid = "11" * 16
    total = chunks * plain_size
    return Manifest(fid, total, 1 << 20, infos, compute_root(fid, total, 1 << 20, infos))


def _serving(manifest: Manifest, chunk_handler=None) -> RawPeer:
    body = manifest.to_json()

    def handler(conn, head):
        if b"/manifest" in head.split(b"\r\n")[0]:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif chunk_handler:
            chunk_handler(conn, head)

    return RawPeer(handler)


def test_a_1_tib_file_is_refused_before_any_chunk_is_written(tmp_path):
    manifest = _forged_manifest(4, 1 << 38)  # 4 x 256 GiB
    peer = _serving(manifest)
    with pytest.raises(TransferError, match=r"more than the .* this transfer accepts"):
        Fetcher(attempts=1).fetch(_ref(peer, manifest.root), tmp_path / "dest", tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []
    assert all(b"/chunk/" not in r for r in peer.requests)


def test_a_4096_chunk_manifest_gets_a_bounded_pool_and_a_slow_stream_is_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(fetcher_module, "RATE_WINDOW_S", 1.0)
    monkeypatch.setattr(fetcher_module, "MIN_RATE_BPS", 1000)
    manifest = _forged_manifest(4096, 1024)

    def trickle(conn, head):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1052\r\n\r\n")
        for _ in range(20):
            conn.sendall(b"x")
            time.sleep(0.2)

    peer = _serving(manifest, trickle)
    threads = []
    stop = threading.Event()

    def count():
        while not stop.wait(0.1):
            threads.append(sum(t.name.startswith("fetch") for t in threading.enumerate()))

    threading.Thread(target=count, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(PeerUnreachable, match="slower than 1000 bytes/s"):
            Fetcher(attempts=1).fetch(_ref(peer, manifest.root), tmp_path / "dest", tmp_path / "work")
    finally:
        stop.set()
    assert 0 < max(threads) <= fetcher_module.MAX_WORKERS
    assert time.monotonic() - started < 10


def test_the_server_caps_connections_and_an_honest_fetch_evicts_idle_ones(tmp_path):
    src = random_folder(tmp_path / "src", 0.3, files=3)
    sealed = seal_folder(src, tmp_path / "sealed", chunks=2)
    with ChunkServer() as server:
        server.add(sealed)
        host, port = server.bind_address.split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(300)]
        time.sleep(0.5)
        server_threads = sum(t.name.startswith("Thread") for t in threading.enumerate())
        httpd = server._httpd
        assert httpd.active <= MAX_CONNECTIONS and httpd.refused + httpd.evicted >= 300 - MAX_CONNECTIONS
        started = time.monotonic()
        result = Fetcher(backoff=1.0).fetch(
            FileRef(sealed.root, sealed.key, "direct", server.address), tmp_path / "dest", tmp_path / "work"
        )
        assert result.files == 4
        # idle holders were evicted for it: no waiting for their header timeout
        assert time.monotonic() - started < HEADER_TIMEOUT_S
        assert server._httpd.evicted >= 1
        for conn in idle:
            conn.close()
    assert server_threads <= MAX_CONNECTIONS + 10


@pytest.mark.parametrize(
    "header", ["bytes=5-3", "bytes=999999999-", "bytes=0-1,5-6", "bytes=-5", "lines=0-1"]
)
def test_malformed_or_unsatisfiable_ranges_get_416(tmp_path, header):
    import requests

    src = random_folder(tmp_path / "src", 0.01, files=1)
    sealed = seal_folder(src, tmp_path / "sealed", chunks=1)
    with ChunkServer() as server:
        server.add(sealed)
        r = requests.get(
            f"http://{server.address}/m/{sealed.root}/chunk/0", headers={"Range": header}, timeout=5
        )
    assert r.status_code == 416 and r.headers["Content-Length"] == "0"


def test_a_peer_dripping_log_posts_and_holding_every_connection_cannot_stop_an_honest_fetch(tmp_path):
    """One peer holds all 64 connections with log POSTs whose bodies drip a byte a second (the
    headers promise 64 KiB), and more asking for chunks they never read: an honest fetch still
    completes within seconds, and each dripping POST is cut at its whole-request deadline."""
    src = random_folder(tmp_path / "src", 2.0, files=2)
    sealed = seal_folder(src, tmp_path / "sealed", chunks=2)
    inbox = LogInbox()
    with ChunkServer() as server:
        server.add(sealed)
        server.accept_logs(inbox)
        host, port = server.bind_address.split(":")
        holders = []
        for i in range(MAX_CONNECTIONS):
            conn = socket.create_connection((host, int(port)))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            if i % 2:
                conn.sendall(
                    f"POST /log/{'ab' * 16} HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n".encode()
                )
            else:
                conn.sendall(f"GET /m/{sealed.root}/chunk/0 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            holders.append(conn)

        def drip() -> None:
            for _ in range(30):
                for conn in holders[1::2]:
                    try:
                        conn.send(b"x")
                    except OSError:
                        pass
                time.sleep(1)

        threading.Thread(target=drip, daemon=True).start()
        time.sleep(SLOW_AFTER_S + 0.5)
        started = time.monotonic()
        result = Fetcher(backoff=0.5).fetch(
            FileRef(sealed.root, sealed.key, "direct", server.address), tmp_path / "dest", tmp_path / "work"
        )
        took = time.monotonic() - started
        assert result.files == 3 and took < 10, took
        time.sleep(POST_DEADLINE_S + 1)
        assert not server._httpd.deadlines  # every dripping POST was cut at its deadline
        for conn in holders:
            conn.close()


def test_a_log_post_to_a_server_dripping_its_answer_ends_at_its_deadline_and_close_returns():
    """The requester's server answers a log POST with a status line and then one header byte
    every 2 s: the POST gives up at its whole deadline (a per-read timeout never would), and the
    pusher's close() returns within its flush time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return

            def drip(c: socket.socket = conn) -> None:
                try:
                    c.recv(65536)
                    c.sendall(b"HTTP/1.1 204 No Content\r\n")
                    for _ in range(60):
                        c.sendall(b"X")
                        time.sleep(2)
                except OSError:
                    pass

            threading.Thread(target=drip, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    started = time.monotonic()
    assert post_within(f"127.0.0.1:{port}", "/log/x", b"body", None, 3.0) == 0
    assert time.monotonic() - started < 5
    pusher = LogPusher(f"127.0.0.1:{port}", b"k" * 32, b"ctx").start()
    for i in range(50):
        pusher.add("stdout", f"line {i}")
    time.sleep(0.5)
    started = time.monotonic()
    pusher.close(flush_s=3.0)
    assert time.monotonic() - started < 4
    listener.close()
