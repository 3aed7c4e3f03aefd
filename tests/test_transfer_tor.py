"""Transfers through onion services on a private Tor network (5 authorities on 127.0.0.1)."""

from __future__ import annotations

import os
import re
import signal
import threading

import pytest
from transfer_helpers import random_folder, tree_digest

from ichain_tui.transfer.errors import PeerUnreachable
from ichain_tui.transfer.fetcher import Fetcher
from ichain_tui.transfer.locator import FileRef
from ichain_tui.transfer.manifest import seal_folder
from ichain_tui.transfer.server import ChunkServer
from ichain_tui.transfer.tor import TorError, tor_binary


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    root = tmp_path_factory.mktemp("tor")
    src = random_folder(root / "src", 20)
    return src, seal_folder(src, root / "sealed", chunks=4)


def fetcher(net, **kw) -> Fetcher:
    return Fetcher(socks=f"127.0.0.1:{net.client.socks_port}", **kw)


def test_20_mb_through_an_onion_service_arrives_intact_on_isolated_circuits(tor_network, sealed, tmp_path):
    src, s = sealed
    with ChunkServer() as server:
        server.add(s)
        onion = tor_network.service.controller().create_onion(server.port)
        assert re.fullmatch(r"[a-z2-7]{56}\.onion:80", onion)
        result = fetcher(tor_network).fetch(
            FileRef(s.root, s.key, "tor", onion), tmp_path / "dst", tmp_path / "w"
        )
        circuits = tor_network.client.controller().controller.get_info("circuit-status")
    assert tree_digest(tmp_path / "dst") == tree_digest(src)
    assert result.bytes_downloaded == s.manifest.sealed_size
    users = set(re.findall(r"SOCKS_USERNAME=\"(ichain-[0-9a-f]{8}-\d+)\"", circuits))
    assert len(users) >= 4  # one isolated circuit per chunk stream


def test_server_killed_mid_transfer_and_restarted_resumes_over_tor(tor_network, sealed, tmp_path):
    src, s = sealed
    server = ChunkServer(throttle_bps=3_000_000).start()
    server.add(s)
    port = server.port
    onion = tor_network.service.controller().create_onion(port)
    ref = FileRef(s.root, s.key, "tor", onion)
    killed = threading.Event()

    def progress(p):
        if p.state == "downloading" and p.done > 500_000 and not killed.is_set():
            killed.set()
            server.stop()

    with pytest.raises(PeerUnreachable):
        fetcher(tor_network, attempts=2, backoff=0.05).fetch(
            ref, tmp_path / "dst", tmp_path / "w", progress=progress
        )
    with ChunkServer(port=port) as again:
        again.add(s)
        result = fetcher(tor_network).fetch(ref, tmp_path / "dst", tmp_path / "w")
    assert result.resumed_bytes > 500_000
    assert tree_digest(tmp_path / "dst") == tree_digest(src)


def test_corrupted_chunk_is_fetched_again_over_tor(tor_network, sealed, tmp_path):
    src, s = sealed
    path = s.chunk_path(1)
    good = path.read_bytes()
    bad = bytearray(good)
    bad[-5] ^= 0x55
    path.write_bytes(bytes(bad))

    def progress(p):
        if p.index == 1 and p.state == "retrying":
            path.write_bytes(good)

    try:
        with ChunkServer() as server:
            server.add(s)
            onion = tor_network.service.controller().create_onion(server.port)
            result = fetcher(tor_network, backoff=0.05).fetch(
                FileRef(s.root, s.key, "tor", onion), tmp_path / "dst", tmp_path / "w", progress=progress
            )
    finally:
        path.write_bytes(good)
    assert result.retries >= 1
    assert tree_digest(tmp_path / "dst") == tree_digest(src)


def test_stuck_publication_is_recreated(tor_network):
    """With every HSDir frozen the first upload never completes; the service is removed and
    created again once they answer, instead of hosting forever behind an unpublished onion."""
    pids = [a.process.process.pid for a in tor_network.authorities]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    timer = threading.Timer(6.0, lambda: [os.kill(pid, signal.SIGCONT) for pid in pids])
    timer.start()
    try:
        tor = tor_network.service.controller()
        before = set(tor.controller.list_ephemeral_hidden_services(detached=False))
        onion = tor.create_onion(9, timeout=4.0, attempts=4)
        after = set(tor.controller.list_ephemeral_hidden_services(detached=False))
    finally:
        timer.join()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    created = after - before
    assert created == {onion.split(".onion")[0]}  # the stuck one was removed, only the published one remains


def test_missing_tor_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TorError, match="tor is not installed"):
        tor_binary()
