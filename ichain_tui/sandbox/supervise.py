"""Provides the supervision of one started task (`Live`, `supervise`): its output stream read into
bounded line tails (`OutputStreams`, Docker's multiplexed frames through the SDK's `frames_iter`),
the kill at the time limit, on a cancel or (where the kernel does not enforce them) when the
output passes its caps, and what is read back from the engine afterwards (exit code, OOM)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import DockerException, NotFound
from docker.utils.socket import STDERR, frames_iter

from . import outputfs
from .cgroup import CgroupWatch

TAIL_LINES = 200
MAX_LINE = 4096
POLL_S = 0.05

LineCallback = Callable[[str, str], None]  # (stream name, line)


@dataclass
class Live:
    """One started task: its container, output stream and the thread reading it, its cgroup."""

    container: Any
    sock: Any
    reader: threading.Thread
    watch: CgroupWatch
    started: float
    exec_id: str | None  # None when the task is the container's main process

    def exit_code(self, api: Any) -> int | None:
        return _exit_code(api, self.exec_id) if self.exec_id else _main_exit_code(self.container)

    def stop(self) -> None:
        """Kill the container; its output stream then ends."""
        try:
            self.container.kill()
        except DockerException:
            pass
        self.reader.join(10)


@dataclass
class Stops:
    """Why a run was ended from outside (all False: it ended by itself)."""

    timed_out: bool = False
    output_exceeded: bool = False
    cancelled: bool = False

    @property
    def killed(self) -> bool:
        """Stopped before it could exit: at the time limit or on a cancel."""
        return self.timed_out or self.cancelled


def supervise(
    live: Live,
    time_limit: float,
    polled: outputfs.OutputArea | None,
    cancel: threading.Event | None,
    every: tuple[float, Callable[[float], None]] | None = None,
) -> Stops:
    """Wait for the task's output to end; kill the container at the limit, a cancel, or (where
    the kernel does not enforce the caps) when the polled output passes them. A container
    that ended under the task (gVisor's sandbox killed out of memory) ends the wait at once.
    `every` (seconds, callback): called that often while the task runs (checkpoint saving), with
    the time limit as its deadline (time.monotonic()) so that it returns by then."""
    stops = Stops()
    last_state_check = live.started
    last_size_check = 0.0
    last_every = live.started
    while live.reader.is_alive():
        live.reader.join(POLL_S)
        live.watch.sample()
        now = time.monotonic()
        if every is not None and now - last_every >= every[0]:
            last_every = now
            every[1](live.started + time_limit)
        if cancel is not None and cancel.is_set():
            stops.cancelled = True
        elif now - live.started > time_limit:
            stops.timed_out = True
        elif polled is not None and now - last_size_check > 0.2:
            last_size_check = now
            size, entries = _tree_usage(polled.path)
            stops.output_exceeded = size > polled.max_bytes or entries > polled.max_files
        if stops.killed or stops.output_exceeded:
            live.stop()
            break
        if now - last_state_check > 1.0:
            last_state_check = now
            if not _running(live.container):
                _shutdown(live.sock)  # the stream may never end by itself
                live.reader.join(10)
                break
    return stops


def _main_exit_code(container: Any) -> int | None:
    try:
        return int(container.wait(timeout=10).get("StatusCode"))
    except (DockerException, ValueError, TypeError, OSError):
        return None


def _running(container: Any) -> bool:
    try:
        container.reload()
    except NotFound:
        return False
    except DockerException:
        return True  # the engine did not answer this time: ask again later
    return bool(container.attrs.get("State", {}).get("Status") == "running")


def _shutdown(sock: Any) -> None:
    raw = getattr(sock, "_sock", sock)
    if raw is None:  # the reader closed it already: the stream has ended
        return
    try:
        raw.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def oom_killed(container: Any) -> bool:
    try:
        container.reload()
    except DockerException:
        return False
    return bool(container.attrs.get("State", {}).get("OOMKilled"))


def _exit_code(api: Any, exec_id: str) -> int | None:
    deadline = time.monotonic() + 5
    while True:
        try:
            info = api.exec_inspect(exec_id)
        except NotFound:  # the container itself ended (killed with its sandbox)
            return None
        if not info.get("Running") or time.monotonic() > deadline:
            code = info.get("ExitCode")
            return None if code is None else int(code)
        time.sleep(0.02)


class OutputStreams:
    """Splits the task's output (Docker's multiplexed stream, read with the SDK's `frames_iter`)
    into lines, keeping a bounded tail per stream."""

    def __init__(self, on_line: LineCallback | None) -> None:
        self.on_line = on_line
        self.tails: dict[str, deque[str]] = {
            "stdout": deque(maxlen=TAIL_LINES),
            "stderr": deque(maxlen=TAIL_LINES),
        }
        self.sizes = {"stdout": 0, "stderr": 0}
        self._partial = {"stdout": b"", "stderr": b""}

    def pump(self, sock: Any) -> None:
        raw = getattr(sock, "_sock", sock)
        try:
            # The engine client's read timeout must not end a task that prints nothing for a while:
            # the stream ends when the task does (or is killed at its time limit).
            raw.settimeout(None)
            for stream, chunk in frames_iter(sock, tty=False):
                self._feed("stderr" if stream == STDERR else "stdout", chunk)
        except OSError:
            pass
        finally:
            for name in ("stdout", "stderr"):
                if self._partial[name]:
                    self._emit(name, self._partial[name])
                    self._partial[name] = b""
            for handle in {id(sock): sock, id(raw): raw}.values():  # the wrapper and the socket itself
                if handle is None:
                    continue
                try:
                    handle.close()
                except OSError:
                    pass

    def _feed(self, name: str, chunk: bytes) -> None:
        self.sizes[name] += len(chunk)
        data = self._partial[name] + chunk
        lines = data.split(b"\n")
        self._partial[name] = lines.pop()[:MAX_LINE]  # a line longer than MAX_LINE keeps its start
        if self.on_line is None and len(lines) > TAIL_LINES:
            lines = lines[-TAIL_LINES:]
        for line in lines:
            self._emit(name, line)

    def _emit(self, name: str, line: bytes) -> None:
        text = line[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        self.tails[name].append(text)
        if self.on_line is not None:
            self.on_line(name, text)


def tree_size(path: Path) -> int:
    return _tree_usage(path)[0]


def _tree_usage(path: Path) -> tuple[int, int]:
    """Bytes and entries under `path`, without recursion."""
    total = entries = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                for entry in listing:
                    entries += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total, entries
