"""Packing is deterministic; unpacking refuses hostile archives."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from ichain_tui.transfer.errors import TransferError, UnsafeArchive
from ichain_tui.transfer.packaging import pack, unpack


def tree(root):
    (root / "data").mkdir(parents=True)
    (root / "task.py").write_text("print('x')\n")
    (root / "data" / "x.bin").write_bytes(os.urandom(10_000))
    return root


def packed(folder) -> bytes:
    buf = io.BytesIO()
    pack(folder, buf)
    return buf.getvalue()


def test_same_content_gives_the_same_bytes(tmp_path):
    a = tree(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    # same content written in another order, other times and permissions
    (b / "data").mkdir()
    (b / "data" / "x.bin").write_bytes((a / "data" / "x.bin").read_bytes())
    (b / "task.py").write_text("print('x')\n")
    os.utime(b / "task.py", (1, 1))
    os.chmod(b / "data" / "x.bin", 0o600)
    assert packed(a) == packed(b)
    with tarfile.open(fileobj=io.BytesIO(packed(a))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["data", "data/x.bin", "task.py"]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)


def test_roundtrip_keeps_files_and_exec_bits(tmp_path):
    src = tree(tmp_path / "src")
    os.chmod(src / "task.py", 0o755)
    assert unpack(io.BytesIO(packed(src)), tmp_path / "out") == 2
    assert (tmp_path / "out" / "data" / "x.bin").read_bytes() == (src / "data" / "x.bin").read_bytes()
    assert os.stat(tmp_path / "out" / "task.py").st_mode & 0o111


def test_packing_refuses_links(tmp_path):
    src = tree(tmp_path / "src")
    (src / "link").symlink_to("/etc/passwd")
    with pytest.raises(TransferError, match="symbolic link"):
        packed(src)


def hostile(kind: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(info, data=b""):
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        if kind == "absolute":
            add(tarfile.TarInfo("/tmp/evil"), b"x")
        elif kind == "dotdot":
            add(tarfile.TarInfo("a/../../evil"), b"x")
        elif kind == "symlink":
            info = tarfile.TarInfo("link")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            add(info)
        elif kind == "hardlink":
            info = tarfile.TarInfo("link")
            info.type = tarfile.LNKTYPE
            info.linkname = "/etc/passwd"
            add(info)
        elif kind == "device":
            info = tarfile.TarInfo("dev")
            info.type = tarfile.CHRTYPE
            info.devmajor = 1
            info.devminor = 3
            add(info)
        elif kind == "fifo":
            info = tarfile.TarInfo("fifo")
            info.type = tarfile.FIFOTYPE
            add(info)
        elif kind == "duplicate":
            add(tarfile.TarInfo("a"), b"1")
            add(tarfile.TarInfo("a"), b"2")
        elif kind == "big":
            add(tarfile.TarInfo("big"), b"x" * 5000)
        elif kind == "many":
            for i in range(50):
                add(tarfile.TarInfo(f"f{i}"), b"x")
        elif kind == "long-name":
            add(tarfile.TarInfo("n" * 300), b"x")
        elif kind == "deep":
            add(tarfile.TarInfo("d/" * 100 + "f"), b"x")
    return buf.getvalue()


def long_header_archive(header_bytes: int) -> io.BytesIO:
    """A GNU long-name header announcing `header_bytes` (the body is never needed to refuse it)."""
    info = tarfile.TarInfo("././@LongLink")
    info.type = tarfile.GNUTYPE_LONGNAME
    info.size = header_bytes
    return io.BytesIO(info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 4096)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("absolute", "escapes"),
        ("dotdot", "escapes"),
        ("symlink", "is a link"),
        ("hardlink", "is a link"),
        ("device", "special file"),
        ("fifo", "special file"),
        ("duplicate", "repeats"),
        ("big", "more than 4096 bytes"),
        ("many", "more than 20 entries"),
        ("long-name", "longer than 255 bytes"),
        ("deep", "deeper than 64"),
    ],
)
def test_hostile_archives_are_refused(tmp_path, kind, message):
    with pytest.raises(UnsafeArchive, match=message):
        unpack(io.BytesIO(hostile(kind)), tmp_path / "out", max_bytes=4096, max_entries=20)
    assert not (tmp_path / "evil").exists() and not os.path.exists("/tmp/evil")


def test_garbage_is_not_an_archive(tmp_path):
    with pytest.raises(UnsafeArchive, match="not a valid tar"):
        unpack(io.BytesIO(os.urandom(5000)), tmp_path / "out")


def test_unpack_never_overwrites_a_non_empty_destination(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine").write_text("keep")
    with pytest.raises(TransferError, match="not empty"):
        unpack(io.BytesIO(packed(tree(tmp_path / "src"))), tmp_path / "out")
    assert (tmp_path / "out" / "mine").read_text() == "keep"


def test_huge_extended_header_is_refused_before_it_is_read(tmp_path):
    # tarfile would read a 256 MiB long-name header whole into memory
    with pytest.raises(UnsafeArchive, match="extended header of 268435456 bytes"):
        unpack(long_header_archive(256 << 20), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_packing_a_tree_2100_folders_deep_is_one_clear_error(tmp_path, monkeypatch):
    here = tmp_path / "src"
    here.mkdir()
    monkeypatch.chdir(here)
    for _ in range(2100):  # deeper than the stack and than PATH_MAX allows to name
        os.mkdir("a")
        os.chdir("a")
    with pytest.raises(TransferError, match="deeper than 64"):
        packed(here)
