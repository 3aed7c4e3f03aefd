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
from ichain_tui.transfer.manifest import ChunkInfo, Manifest, compute_root, seal_folder
from ichain_tui.transfer.server import HEADER_TIMEOUT_S, MAX_CONNECTIONS, ChunkServer

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


def test_the_server_caps_connections_and_cuts_idle_ones_and_a_real_fetch_still_succeeds(tmp_path):
    src = random_folder(tmp_path / "src", 0.3, files=3)
    sealed = seal_folder(src, tmp_path / "sealed", chunks=2)
    with ChunkServer() as server:
        server.add(sealed)
        host, port = server.bind_address.split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(300)]
        time.sleep(0.5)
        server_threads = sum(t.name.startswith("Thread") for t in threading.enumerate())
        assert server._httpd.active <= MAX_CONNECTIONS and server._httpd.refused >= 300 - MAX_CONNECTIONS
        started = time.monotonic()
        result = Fetcher(backoff=1.0).fetch(
            FileRef(sealed.root, sealed.key, "direct", server.address), tmp_path / "dest", tmp_path / "work"
        )
        assert result.files == 4
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 15  # the idle ones were cut
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
