"""Server and fetcher over direct TCP on 127.0.0.1: parallel, verified, retried, resumed, cancellable."""

from __future__ import annotations

import io
import tarfile
import threading

import pytest
from transfer_helpers import random_folder, tree_digest

from ichain_tui.transfer.errors import (
    Cancelled,
    IntegrityError,
    PeerUnreachable,
    TransferError,
    UnsafeArchive,
)
from ichain_tui.transfer.fetcher import Fetcher
from ichain_tui.transfer.locator import FileRef
from ichain_tui.transfer.manifest import seal_folder, seal_stream
from ichain_tui.transfer.server import ChunkServer


@pytest.fixture
def sealed(tmp_path):
    src = random_folder(tmp_path / "src", 20)
    return src, seal_folder(src, tmp_path / "sealed", chunks=4)


def ref_for(sealed, server):
    return FileRef(sealed.root, sealed.key, "direct", server.address)


def test_20_mb_folder_arrives_intact_with_progress_per_chunk(sealed, tmp_path):
    src, s = sealed
    events = []
    with ChunkServer() as server:
        server.add(s)
        result = Fetcher().fetch(
            ref_for(s, server), tmp_path / "dst", tmp_path / "work", progress=events.append
        )
    assert tree_digest(tmp_path / "dst") == tree_digest(src)
    assert result.files == 4 and result.bytes_downloaded == s.manifest.sealed_size
    finals = {e.index: e for e in events if e.state == "verified"}
    assert sorted(finals) == [0, 1, 2, 3]
    assert all(finals[i].done == finals[i].size == s.manifest.chunks[i].size for i in finals)
    assert {e.index for e in events if e.state == "downloading"} == {0, 1, 2, 3}
    assert not (tmp_path / "work").exists()


def test_wrong_commitment_is_refused_before_any_chunk(sealed, tmp_path):
    _, s = sealed
    with ChunkServer() as server:
        server.add(s)
        bad = FileRef("00" * 32, s.key, "direct", server.address)
        with pytest.raises(Exception, match="does not serve"):
            Fetcher(attempts=1).fetch(bad, tmp_path / "dst", tmp_path / "work")
        other = seal_folder(random_folder(tmp_path / "o", 0.1), tmp_path / "os", chunks=1)
        server._files[other.root] = s  # a peer that answers for another root with the wrong manifest
        with pytest.raises(IntegrityError, match="commitment"):
            Fetcher(attempts=1).fetch(
                FileRef(other.root, s.key, "direct", server.address), tmp_path / "d2", tmp_path / "w2"
            )
    assert not (tmp_path / "dst").exists()


def test_corrupted_chunk_is_fetched_again(sealed, tmp_path):
    src, s = sealed
    path = s.chunk_path(2)
    good = path.read_bytes()
    bad = bytearray(good)
    bad[1000] ^= 0xFF
    path.write_bytes(bytes(bad))
    retried = threading.Event()

    def progress(p):
        if p.index == 2 and p.state == "retrying" and not retried.is_set():
            path.write_bytes(good)  # the server's disk is healed; the next attempt gets good bytes
            retried.set()

    with ChunkServer() as server:
        server.add(s)
        result = Fetcher(backoff=0.01).fetch(
            ref_for(s, server), tmp_path / "dst", tmp_path / "work", progress=progress
        )
    assert retried.is_set() and result.retries >= 1
    assert tree_digest(tmp_path / "dst") == tree_digest(src)


def test_server_killed_mid_transfer_then_restarted_resumes(sealed, tmp_path):
    src, s = sealed
    server = ChunkServer(throttle_bps=4_000_000).start()
    server.add(s)
    port = server.port
    killed = threading.Event()

    def progress(p):
        if p.state == "downloading" and p.done > 1_000_000 and not killed.is_set():
            killed.set()
            server.stop()

    with pytest.raises(PeerUnreachable):
        Fetcher(attempts=2, backoff=0.01).fetch(
            ref_for(s, server), tmp_path / "dst", tmp_path / "work", progress=progress
        )
    kept = sum(p.stat().st_size for p in (tmp_path / "work").iterdir())
    assert kept > 1_000_000  # partial chunks stay on disk
    assert not (tmp_path / "dst").exists() or not any((tmp_path / "dst").iterdir())
    with ChunkServer(port=port) as again:
        again.add(s)
        result = Fetcher().fetch(ref_for(s, again), tmp_path / "dst", tmp_path / "work")
    assert result.resumed_bytes > 1_000_000
    assert result.bytes_downloaded + result.resumed_bytes == s.manifest.sealed_size
    assert tree_digest(tmp_path / "dst") == tree_digest(src)


def test_cancel_keeps_partials_for_resume(sealed, tmp_path):
    src, s = sealed
    cancel = threading.Event()

    def progress(p):
        if p.state == "downloading" and p.done > 500_000:
            cancel.set()

    with ChunkServer(throttle_bps=4_000_000) as server:
        server.add(s)
        with pytest.raises(Cancelled):
            Fetcher().fetch(
                ref_for(s, server), tmp_path / "dst", tmp_path / "work", progress=progress, cancel=cancel
            )
        assert any((tmp_path / "work").iterdir())
        result = Fetcher().fetch(ref_for(s, server), tmp_path / "dst", tmp_path / "work")
    assert result.resumed_bytes > 0
    assert tree_digest(tmp_path / "dst") == tree_digest(src)


def test_unreachable_peer_is_one_clear_error(tmp_path):
    ref = FileRef("ab" * 32, b"\x00" * 32, "direct", "127.0.0.1:9")
    with pytest.raises(PeerUnreachable, match="connection refused"):
        Fetcher(attempts=2, backoff=0.01).fetch(ref, tmp_path / "dst", tmp_path / "work")


def test_hostile_archive_behind_a_valid_commitment_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../escape")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    raw = buf.getvalue()
    with open(tmp_path / "plain", "w+b") as plain:
        plain.write(raw)
        s = seal_stream(plain, len(raw), tmp_path / "sealed", 1)
    with ChunkServer() as server:
        server.add(s)
        with pytest.raises(UnsafeArchive, match="escapes"):
            Fetcher().fetch(ref_for(s, server), tmp_path / "deep" / "dst", tmp_path / "work")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "deep" / "dst").exists()


def test_destination_with_content_is_never_overwritten(sealed, tmp_path):
    _, s = sealed
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "mine").write_text("keep")
    with ChunkServer() as server:
        server.add(s)
        with pytest.raises(Exception, match="not empty"):
            Fetcher().fetch(ref_for(s, server), tmp_path / "dst", tmp_path / "work")
    assert (tmp_path / "dst" / "mine").read_text() == "keep"


def test_disk_full_is_one_clear_error_and_keeps_what_it_has(sealed, tmp_path, monkeypatch):
    """A 2 MiB tmpfs as the work folder: the 20 MB fetch is refused before any chunk is written;
    and when the disk fills up during a transfer, what was verified is kept."""
    import subprocess

    from ichain_tui.transfer import fetcher

    _, s = sealed
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    try:
        with ChunkServer() as server:
            server.add(s)
            with pytest.raises(TransferError, match=r"not enough disk in .*: 104 MiB needed, 2 MiB free"):
                Fetcher(backoff=0.01).fetch(ref_for(s, server), tmp_path / "dst", small / "work")
            assert list((small / "work").iterdir()) == []
            monkeypatch.setattr(fetcher, "_check_sizes", lambda *args: None)  # the disk fills up later
            with pytest.raises(TransferError, match="disk full while writing chunk"):
                Fetcher(backoff=0.01).fetch(ref_for(s, server), tmp_path / "dst", small / "work")
        assert sum(p.stat().st_size for p in (small / "work").iterdir()) > 1_000_000  # kept for resume
        assert not (tmp_path / "dst").exists()
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_host_keeps_its_port_across_restarts_so_addresses_on_chain_stay_valid(tmp_path):
    """Issue 14: a provider or requester restarted mid-task serves on the port its envelopes name."""
    from ichain_tui.agents.hosting import Host

    identity = tmp_path / "host.json"
    first = Host(identity=identity)
    address = first.address
    first.stop()
    second = Host(identity=identity)
    try:
        assert second.address == address
    finally:
        second.stop()
    taken = Host(identity=identity)  # the port is busy now: a new one, remembered
    other = Host(identity=identity)
    try:
        assert other.address != taken.address
        assert str(other.server.port) in identity.read_text()
    finally:
        taken.stop()
        other.stop()


def test_a_peer_asking_a_restarted_host_before_it_republishes_gets_the_file(sealed, tmp_path):
    """A restarted host listens a moment before its owner re-adds the files it served: a fetch in
    that moment is told to try again (503), not "does not serve" (final), and then gets the file.
    A file that is really not there is still "does not serve" once the warm-up is over."""
    from ichain_tui.agents.hosting import Host

    src, s = sealed
    identity = tmp_path / "host.json"
    Host(identity=identity).stop()
    restarted = Host(identity=identity)
    try:
        late = threading.Timer(0.8, restarted.publish, args=(s,))
        late.start()
        result = Fetcher(backoff=0.2).fetch(
            FileRef(s.root, s.key, "direct", restarted.address), tmp_path / "dst", tmp_path / "work"
        )
        late.join()
        assert tree_digest(tmp_path / "dst") == tree_digest(src)
        assert result.files == 4
    finally:
        restarted.stop()
    with ChunkServer(warmup_s=0.3) as server:
        missing = FileRef("11" * 32, s.key, "direct", server.address)
        with pytest.raises(PeerUnreachable, match="503"):
            Fetcher(attempts=1).fetch(missing, tmp_path / "d1", tmp_path / "w1")
        threading.Event().wait(0.4)
        with pytest.raises(TransferError, match="does not serve"):
            Fetcher(attempts=1).fetch(missing, tmp_path / "d2", tmp_path / "w2")
