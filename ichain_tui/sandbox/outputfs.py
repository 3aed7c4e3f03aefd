"""Provides `OutputArea`: where a task writes its result, and `export`, which copies a finished
result out of it into an ordinary folder owned by the provider.

As root with loop devices (the provider's usual case), the area is a filesystem of its own: an
ext4 image sized so the task can write exactly its byte cap, created with exactly its inode cap,
mounted nosuid,nodev,noexec at a neutral path. The kernel refuses the write (ENOSPC) that would
pass either cap, so no task can allocate past it, however fast it writes or whatever it calls
(fallocate, many empty files). Without root the area is a private folder and the caller polls.

`export` walks the result without recursion and copies only regular files (0644, or 0755 when
executable) and folders (0755): no setuid bit, FIFO, socket, device or link leaves the area, and
names that could not be packed (too long, too deep) refuse the result. It counts what a file
claims (its apparent size, holes included) against the byte cap and never writes more than the
cap: a sparse file of 4 GiB in a 1 MiB area is refused, not copied as 4 GiB of blocks. It never
waits on anything the task controls: files are opened non-blocking (a lease the task holds, or a
FIFO put in a file's place, fails the open at once instead of holding it for the kernel's
lease-break time) and checked again after opening, and a deadline bounds the whole walk.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..process import pid_alive
from ..transfer.errors import UnsafeArchive
from ..transfer.packaging import check_name
from .engine import SandboxError

PREFIX = "ichain-out-"
MiB = 1024 * 1024
INODE_BYTES = 256
SLACK_BYTES = 4 * MiB  # ext4's own metadata beside the inode tables


def kernel_quota_available() -> bool:
    """Whether per-task filesystems can be made here (root, loop devices, mkfs.ext4, mount)."""
    return (
        os.geteuid() == 0
        and Path("/dev/loop-control").exists()
        and shutil.which("mkfs.ext4") is not None
        and shutil.which("mount") is not None
    )


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{command[0]} failed: {(done.stderr or done.stdout).strip()[:200]}")


@dataclass
class Usage:
    bytes_left: int
    files_left: int


class OutputArea:
    """A fresh, empty area for one run's /out; remove it with `close()` (or use `with`)."""

    def __init__(
        self,
        max_bytes: int,
        max_files: int,
        uid: int,
        gid: int,
        base: Path | None = None,
        kernel: bool | None = None,
    ) -> None:
        self.max_bytes, self.max_files = max_bytes, max_files
        self.kernel = kernel_quota_available() if kernel is None else kernel
        self.root = Path(base or tempfile.gettempdir()) / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._image = self.root.with_suffix(".img")
        self._mounted = False
        os.mkdir(self.root, 0o700)
        try:
            if self.kernel:
                self._make_filesystem(uid, gid)
            else:
                self.path = self.root / "out"
                os.mkdir(self.path, 0o700)
                if os.geteuid() == 0:
                    os.chown(self.path, uid, gid)
        except BaseException:
            self.close()
            raise

    def _make_filesystem(self, uid: int, gid: int) -> None:
        size = self.max_bytes + (self.max_files + 64) * INODE_BYTES + SLACK_BYTES
        with open(self._image, "wb") as handle:
            handle.truncate(size)
        _run(
            "mkfs.ext4",
            "-q",
            "-F",
            "-O",
            "^has_journal,^resize_inode",
            "-m",
            "0",
            "-N",
            str(self.max_files + 16),
            "-E",
            "lazy_itable_init=1,nodiscard",
            str(self._image),
        )
        _run("mount", "-o", "loop,nosuid,nodev,noexec", str(self._image), str(self.root))
        self._mounted = True
        os.chmod(self.root, 0o755)
        shutil.rmtree(self.root / "lost+found", ignore_errors=True)
        # what the filesystem holds beyond the cap is taken by a file the task cannot see or free
        free = os.statvfs(self.root)
        excess = free.f_bavail * free.f_frsize - self.max_bytes
        if excess > 0:
            fd = os.open(self.root / ".reserve", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0)
            try:
                os.posix_fallocate(fd, 0, excess)
            finally:
                os.close(fd)
        self.path = self.root / "out"
        os.mkdir(self.path, 0o700)
        os.chown(self.path, uid, gid)
        # ext4 rounds the inode count up: the inodes beyond the cap are taken the same way
        spare = self.root / ".reserve.d"
        os.mkdir(spare, 0o700)
        for i in range(max(0, os.statvfs(self.root).f_favail - self.max_files)):
            os.close(os.open(spare / str(i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0))

    def usage(self) -> Usage:
        """What is left under the kernel's caps (only meaningful for a kernel area)."""
        free = os.statvfs(self.path)
        return Usage(free.f_bavail * free.f_frsize, free.f_favail)

    def full(self) -> bool:
        """Whether the task ran into either cap (a kernel area with no room, or no inode, left)."""
        if not self.kernel:
            return False
        left = self.usage()
        # a large write that does not fit fails whole: up to about 1 MiB can stay free at the cap
        return left.bytes_left < min(MiB + 64 * 1024, self.max_bytes // 4) or left.files_left < 2

    def close(self) -> None:
        if self._mounted:
            done = subprocess.run(["umount", str(self.root)], capture_output=True, timeout=60, check=False)
            if done.returncode != 0:  # something still holds it: detach now, freed when released
                subprocess.run(["umount", "-l", str(self.root)], capture_output=True, timeout=60, check=False)
            self._mounted = False
        shutil.rmtree(self.root, ignore_errors=True)
        try:
            self._image.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> OutputArea:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sweep_stale(base: Path | None = None) -> int:
    """Unmount and remove areas left by processes that died mid-run; returns how many."""
    base = Path(base or tempfile.gettempdir())
    removed = 0
    for entry in base.glob(f"{PREFIX}*"):
        if entry.suffix == ".img":
            continue
        pid = entry.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        if os.path.ismount(entry):
            subprocess.run(["umount", "-l", str(entry)], capture_output=True, timeout=60, check=False)
        shutil.rmtree(entry, ignore_errors=True)
        entry.with_suffix(".img").unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass
class Exported:
    files: int
    bytes: int
    dropped: list[str]  # special files and links left behind


class OutputTooLarge(SandboxError):
    """The files claim more bytes than the cap (holes count): nothing past the cap was written."""


class ExportTimedOut(SandboxError):
    """The deadline passed before the copy was done."""


def export(
    source: Path, dest: Path, max_files: int, max_bytes: int | None = None, deadline: float | None = None
) -> Exported:
    """Copy the result in `source` into the empty folder `dest`: regular files and folders only,
    at most `max_bytes` by apparent size, done by `deadline` (time.monotonic()) or refused."""
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise SandboxError(f"output folder {dest} is not empty")
    files = total = entries = 0
    dropped: list[str] = []
    stack: list[tuple[int, PurePosixPath]] = []
    top = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    stack.append((top, PurePosixPath()))
    try:
        while stack:
            dir_fd, rel_dir = stack.pop()
            try:
                for name in sorted(os.listdir(dir_fd)):
                    rel = rel_dir / name
                    entries += 1
                    if entries > max_files:
                        raise SandboxError(f"result refused: more than {max_files} files and folders")
                    try:
                        check_name(rel.as_posix())
                    except UnsafeArchive as exc:
                        raise SandboxError(f"result refused: {exc}") from None
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    target = dest / rel
                    if stat.S_ISDIR(st.st_mode):
                        os.mkdir(target, 0o755)
                        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                        stack.append((child, rel))
                    elif stat.S_ISREG(st.st_mode):
                        _check_deadline(deadline)
                        mode = 0o755 if st.st_mode & 0o111 else 0o644
                        # non-blocking: a lease or a FIFO swapped in fails here, it does not wait
                        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
                        try:
                            opened = os.fstat(src)
                            if not stat.S_ISREG(opened.st_mode):
                                dropped.append(rel.as_posix())
                                continue
                            room = None if max_bytes is None else max_bytes - total
                            if room is not None and opened.st_size > room:
                                raise OutputTooLarge(
                                    f"result refused: its files claim more than {max_bytes} bytes "
                                    f"({rel.as_posix()[:80]} alone claims {opened.st_size})"
                                )
                            out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
                            try:
                                total += _copy(src, out, opened.st_size, deadline)
                            finally:
                                os.close(out)
                        finally:
                            os.close(src)
                        os.chmod(target, mode)
                        files += 1
                    else:
                        dropped.append(rel.as_posix())
            finally:
                os.close(dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise SandboxError(f"disk full while copying the result to {dest}") from None
        raise SandboxError(f"result refused: {exc.strerror or exc}") from None
    finally:
        for fd, _ in stack:
            os.close(fd)
    return Exported(files, total, dropped)


def _copy(src: int, out: int, size: int, deadline: float | None) -> int:
    """At most `size` bytes (the size the file had when opened: one that grows meanwhile is cut)."""
    copied = 0
    while copied < size:
        _check_deadline(deadline)
        n = os.sendfile(out, src, None, min(1 << 24, size - copied))
        if n == 0:
            break
        copied += n
    return copied


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ExportTimedOut("copying the files took past the deadline")
