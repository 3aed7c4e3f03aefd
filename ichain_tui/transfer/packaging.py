"""Provides deterministic packing of a folder into a tar and safe unpacking of untrusted tars.

Packing: sorted names, mtime 0, uid/gid 0, no user names, modes 0644/0755, regular files and
folders only (a link or device in the folder is an error). The same content gives the same bytes.
Unpacking refuses absolute paths, `..`, symlinks, hard links, devices and FIFOs, and caps the
total size, the number of entries, the length and depth of names and the size of extended
(PAX/GNU long-name) headers before they are read into memory. Neither direction recurses over the
tree, so no folder depth can exhaust the stack.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from .errors import TransferError, UnsafeArchive

MAX_TOTAL_BYTES = 8 * 1024**3
MAX_ENTRIES = 100_000
MAX_NAME = 1024  # characters of a whole relative path
MAX_COMPONENT = 255  # bytes of one name (the limit of common filesystems)
MAX_DEPTH = 64
MAX_HEADER = 64 * 1024  # bytes of one PAX or GNU long-name header


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses an extended header larger than MAX_HEADER before tarfile reads it whole."""

    # tarfile's private hooks for the two extended headers (not in typeshed)
    def _proc_gnulong(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        _bounded_header(self.size)
        parent: Any = super()
        result: tarfile.TarInfo = parent._proc_gnulong(tarfile_)
        return result

    def _proc_pax(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        _bounded_header(self.size)
        parent: Any = super()
        result: tarfile.TarInfo = parent._proc_pax(tarfile_)
        return result


def _bounded_header(size: int) -> None:
    if size > MAX_HEADER:
        raise UnsafeArchive(f"archive has an extended header of {size} bytes (limit {MAX_HEADER})")


def check_name(name: str) -> None:
    """Refuse a relative name that no common filesystem could hold, or that nests too deep."""
    parts = PurePosixPath(name).parts
    if len(name) > MAX_NAME or len(parts) > MAX_DEPTH:
        raise UnsafeArchive(
            f"entry {name[:60]!r}… is longer than {MAX_NAME} characters or deeper than {MAX_DEPTH}"
        )
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT:
            raise UnsafeArchive(f"entry {name[:60]!r}… has a name longer than {MAX_COMPONENT} bytes")


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
    """Every file and folder under `folder`, sorted depth-first, without recursion."""
    found: list[PurePosixPath] = []
    stack: list[tuple[Path, PurePosixPath]] = [(folder, PurePosixPath())]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise TransferError(f"cannot read {directory}: {exc.strerror or exc}") from None
        subfolders = []
        for entry in entries:
            rel = prefix / entry.name
            try:
                check_name(rel.as_posix())
            except UnsafeArchive as exc:
                raise TransferError(f"{folder}: {exc}") from None
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise TransferError(
                    f"{folder / rel} is a symbolic link; tasks may contain only files and folders"
                )
            if stat.S_ISDIR(mode):
                found.append(rel)
                subfolders.append((Path(entry.path), rel))
            elif stat.S_ISREG(mode):
                found.append(rel)
            else:
                raise TransferError(f"{folder / rel} is not a regular file")
        stack.extend(reversed(subfolders))
    return sorted(found, key=lambda rel: rel.parts)


def unpack(
    archive: BinaryIO, dest: Path, max_bytes: int = MAX_TOTAL_BYTES, max_entries: int = MAX_ENTRIES
) -> int:
    """Extract an untrusted tar stream into the empty folder `dest`; returns the number of files."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise TransferError(f"destination {dest} is not empty")
    root = dest.resolve()
    total = entries = files = 0
    try:
        with tarfile.open(fileobj=archive, mode="r|", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                entries += 1
                if entries > max_entries:
                    raise UnsafeArchive(f"archive has more than {max_entries} entries")
                name = member.name
                parts = PurePosixPath(name).parts
                if name.startswith("/") or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
                    raise UnsafeArchive(f"archive entry {name!r} escapes the destination")
                check_name(name)
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
                fd = os.open(
                    target,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                    0o755 if member.mode & 0o111 else 0o644,
                )
                with os.fdopen(fd, "wb") as handle:
                    while block := source.read(1 << 20):
                        handle.write(block)
                files += 1
    except tarfile.TarError as exc:
        raise UnsafeArchive(f"not a valid tar archive: {exc}") from None
    except FileExistsError as exc:
        raise UnsafeArchive(f"archive repeats the entry {exc.filename}") from None
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.ELOOP):
            raise UnsafeArchive(f"archive entry cannot be created: {exc.strerror}") from None
        raise
    return files
