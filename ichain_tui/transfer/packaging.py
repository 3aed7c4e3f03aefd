"""Provides deterministic packing of a folder into a tar and safe unpacking of untrusted tars.

Packing: sorted names, mtime 0, uid/gid 0, no user names, modes 0644/0755, regular files and
folders only (a link or device in the folder is an error). The same content gives the same bytes.
Unpacking refuses absolute paths, `..`, symlinks, hard links, devices and FIFOs, and caps the
total size and the number of entries.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .errors import TransferError, UnsafeArchive

MAX_TOTAL_BYTES = 8 * 1024**3
MAX_ENTRIES = 100_000


def pack(folder: Path, out: BinaryIO) -> int:
    """Write the deterministic tar of `folder` to `out`; returns the number of files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TransferError(f"{folder} is not a folder")
    count = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _walk(folder):
            path = folder / rel
            st = path.lstat()
            info = tarfile.TarInfo(rel.as_posix())
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                info.size = st.st_size
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
                count += 1
    return count


def _walk(folder: Path) -> list[PurePosixPath]:
    found: list[PurePosixPath] = []

    def visit(directory: Path, prefix: PurePosixPath) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            rel = prefix / entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise TransferError(f"{folder / rel} is a symbolic link; tasks may contain only files and folders")
            if stat.S_ISDIR(mode):
                found.append(rel)
                visit(Path(entry.path), rel)
            elif stat.S_ISREG(mode):
                found.append(rel)
            else:
                raise TransferError(f"{folder / rel} is not a regular file")

    visit(folder, PurePosixPath())
    return found


def unpack(archive: BinaryIO, dest: Path, max_bytes: int = MAX_TOTAL_BYTES, max_entries: int = MAX_ENTRIES) -> int:
    """Extract an untrusted tar stream into the empty folder `dest`; returns the number of files."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise TransferError(f"destination {dest} is not empty")
    root = dest.resolve()
    total = entries = files = 0
    try:
        with tarfile.open(fileobj=archive, mode="r|") as tar:
            for member in tar:
                entries += 1
                if entries > max_entries:
                    raise UnsafeArchive(f"archive has more than {max_entries} entries")
                name = member.name
                parts = PurePosixPath(name).parts
                if name.startswith("/") or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
                    raise UnsafeArchive(f"archive entry {name!r} escapes the destination")
                if member.issym() or member.islnk():
                    raise UnsafeArchive(f"archive entry {name!r} is a link")
                if not (member.isreg() or member.isdir()):
                    raise UnsafeArchive(f"archive entry {name!r} is a device, FIFO or other special file")
                target = (root / name).resolve()
                if target != root and root not in target.parents:
                    raise UnsafeArchive(f"archive entry {name!r} escapes the destination")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True, mode=0o755)
                    continue
                total += member.size
                if total > max_bytes:
                    raise UnsafeArchive(f"archive unpacks to more than {max_bytes} bytes")
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                source = tar.extractfile(member)
                assert source is not None
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if member.mode & 0o111 else 0o644)
                with os.fdopen(fd, "wb") as handle:
                    while block := source.read(1 << 20):
                        handle.write(block)
                files += 1
    except tarfile.TarError as exc:
        raise UnsafeArchive(f"not a valid tar archive: {exc}") from None
    except FileExistsError as exc:
        raise UnsafeArchive(f"archive repeats the entry {exc.filename}") from None
    return files
