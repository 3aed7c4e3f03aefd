"""Provides `Sandbox.run`: one `execute` or `check` of a task in a locked-down container.

Every run: no network, read-only root, small tmpfs /tmp, non-root user, all capabilities dropped,
no-new-privileges, memory (= memory + swap) / CPU / pids limits, a wall-clock limit that kills,
a cap on the output folder, and the container removed whatever happens. Output lines stream
through a callback; only a bounded tail is kept.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig

from .cgroup import CgroupWatch
from .engine import LABEL, SandboxError, reap_stale
from .gpu import Gpu, detect_gpus, device_requests
from .staging import staged
from .taskspec import TaskSpec

TAIL_LINES = 200
MAX_LINE = 4096
POLL_S = 0.05
TMPFS_MB = 64

LineCallback = Callable[[str, str], None]  # (stream name, line)


@dataclass
class RunResult:
    mode: str
    exit_code: int | None
    wall_s: float
    peak_memory_bytes: int
    oom_killed: bool
    timed_out: bool
    pids_limit_hit: bool
    output_exceeded: bool
    cancelled: bool
    output_bytes: int
    stdout_bytes: int
    stderr_bytes: int
    stdout_tail: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.oom_killed or self.output_exceeded or self.cancelled)

    @property
    def reason(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return "killed at the time limit"
        if self.oom_killed:
            return "killed: out of memory"
        if self.output_exceeded:
            return "refused: output over the size cap"
        if self.exit_code == 0:
            return "ok"
        hint = " (process limit reached)" if self.pids_limit_hit else ""
        return f"exit code {self.exit_code}{hint}"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        data["reason"] = self.reason
        return data


class Sandbox:
    """Runs tasks on one Docker engine with one runtime image."""

    def __init__(self, dc: docker.DockerClient, image: str, gpus: list[Gpu] | None = None) -> None:
        self.dc = dc
        self.image = image
        self.gpus = detect_gpus() if gpus is None else gpus
        reap_stale(dc)

    # -------------------------------------------------------------------- public
    def execute(self, spec: TaskSpec, out_dir: Path, **kw) -> RunResult:
        """`python3 task.py execute /out` with /out an empty writable folder."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if any(out_dir.iterdir()):
            raise SandboxError(f"output folder {out_dir} is not empty")
        return self._run(spec, "execute", out_dir, writable=True, **kw)

    def check(self, spec: TaskSpec, result_dir: Path, stage: str | None = None, **kw) -> RunResult:
        """`python3 task.py check /out` with the result read-only.

        With `stage` (see `staging.stage_name`), task and result are mounted from a neutral
        per-task path that the provider's pre-check and the validator's check share, so the two
        runs see identical mount sources, environment, hostname and limits."""
        if not Path(result_dir).is_dir():
            raise SandboxError(f"result folder {result_dir} does not exist")
        if stage is None:
            return self._run(spec, "check", Path(result_dir), writable=False, **kw)
        with staged(spec.folder, Path(result_dir), stage) as (task_dir, out_dir):
            return self._run(replace(spec, folder=task_dir), "check", out_dir, writable=False, **kw)

    def run_command(self, spec: TaskSpec, command: list[str], out_dir: Path, **kw) -> RunResult:
        """Any command under the same limits (benchmarks, diagnostics)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        return self._run(spec, "command", out_dir, writable=True, command=command, **kw)


    # -------------------------------------------------------------------- internals
    def create_kwargs(self, spec: TaskSpec, mode: str, out_dir: Path, writable: bool) -> dict:
        """Everything handed to `containers.create`: the whole security policy in one place.

        The container's first process only sleeps; the task runs as an exec inside it, so the
        cgroup (peak memory, OOM kills, pids-limit hits) can still be read after the task ends.
        """
        memory = spec.memory_mb * 1024 * 1024
        return dict(
            image=spec.image or self.image,
            command=["sleep", "infinity"],
            hostname="sandbox",
            working_dir="/task",
            user=_container_user(),
            environment=self._environment(spec, mode),
            volumes={
                str(spec.folder): {"bind": "/task", "mode": "ro"},
                str(out_dir.resolve()): {"bind": "/out", "mode": "rw" if writable else "ro"},
            },
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={TMPFS_MB}m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(spec.cpus * 1e9),
            pids_limit=spec.pids,
            ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
            ipc_mode="private",
            log_config=LogConfig(type="none"),
            device_requests=device_requests(spec.gpus, self.gpus),
            labels={LABEL: "1", f"{LABEL}.pid": str(os.getpid()), f"{LABEL}.mode": mode},
            stdin_open=False,
            tty=False,
            detach=True,
        )

    @staticmethod
    def _environment(spec: TaskSpec, mode: str) -> dict[str, str]:
        threads = str(max(1, int(spec.cpus)))
        return {
            "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "MPLCONFIGDIR": "/tmp",
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "ICHAIN_MODE": mode,
            "ICHAIN_COMPARATOR": spec.comparator_json(),
        }

    def _run(self, spec: TaskSpec, mode: str, out_dir: Path, writable: bool, command: list[str] | None = None,
             on_line: LineCallback | None = None, cancel: threading.Event | None = None) -> RunResult:
        kwargs = self.create_kwargs(spec, mode, out_dir, writable)
        if writable and os.getuid() == 0:
            os.chmod(out_dir, 0o777)  # the container user (nobody) writes here; the folder is ours
        try:
            container = self.dc.containers.create(**kwargs)
        except ImageNotFound:
            raise SandboxError(f"image {kwargs['image']} is missing: run `ichain image build`") from None
        except (APIError, DockerException) as exc:
            raise SandboxError(f"cannot create the sandbox container: {str(exc).splitlines()[0][:200]}") from None
        streams = _Streams(on_line)
        state = {"timed_out": False, "output_exceeded": False, "cancelled": False}
        try:
            container.start()
            container.reload()
            watch = CgroupWatch(int(container.attrs["State"].get("Pid") or 0))
            api = self.dc.api
            exec_id = api.exec_create(
                container.id, command or ["python3", "/task/task.py", mode, "/out"],
                stdout=True, stderr=True, user=kwargs["user"], environment=kwargs["environment"], workdir="/task",
            )["Id"]
            started = time.monotonic()
            sock = api.exec_start(exec_id, socket=True)
            reader = threading.Thread(target=streams.pump, args=(sock,), daemon=True, name="sandbox-output")
            reader.start()
            self._supervise(container, reader, spec, out_dir if writable else None, watch, state, started, cancel)
            wall = time.monotonic() - started
            exit_code = _exit_code(api, exec_id)
            watch.sample()  # the cgroup outlives the task: final peak, OOM and pids counters
        finally:
            try:
                container.remove(force=True)
            except (NotFound, DockerException):
                pass
        output_bytes = _tree_size(out_dir) if writable else 0
        if state["output_exceeded"]:
            _empty(out_dir)
        stopped = state["timed_out"] or state["cancelled"]
        return RunResult(
            mode=mode, exit_code=None if stopped else exit_code,
            wall_s=round(wall, 3), peak_memory_bytes=watch.peak_memory,
            oom_killed=watch.oom_kills > 0 and not stopped,
            timed_out=state["timed_out"], pids_limit_hit=watch.pids_limit_hits > 0,
            output_exceeded=state["output_exceeded"], cancelled=state["cancelled"], output_bytes=output_bytes,
            stdout_bytes=streams.sizes["stdout"], stderr_bytes=streams.sizes["stderr"],
            stdout_tail=list(streams.tails["stdout"]), stderr_tail=list(streams.tails["stderr"]),
        )

    def _supervise(self, container, reader: threading.Thread, spec: TaskSpec, out_dir: Path | None,
                   watch: CgroupWatch, state: dict, started: float, cancel: threading.Event | None) -> None:
        """Wait for the task's output to end; kill the container at the limit, the cap or a cancel."""
        cap = spec.output_mb * 1024 * 1024
        last_size_check = 0.0
        while reader.is_alive():
            reader.join(POLL_S)
            watch.sample()
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                state["cancelled"] = True
            elif now - started > spec.time_limit:
                state["timed_out"] = True
            elif out_dir is not None and now - last_size_check > 0.2:
                last_size_check = now
                if _tree_size(out_dir) > cap:
                    state["output_exceeded"] = True
            if state["cancelled"] or state["timed_out"] or state["output_exceeded"]:
                try:
                    container.kill()
                except DockerException:
                    pass
                reader.join(10)
                return


def _container_user() -> str:
    uid = os.getuid()
    return "65534:65534" if uid == 0 else f"{uid}:{os.getgid()}"


def _exit_code(api, exec_id: str) -> int | None:
    deadline = time.monotonic() + 5
    while True:
        info = api.exec_inspect(exec_id)
        if not info.get("Running") or time.monotonic() > deadline:
            code = info.get("ExitCode")
            return None if code is None else int(code)
        time.sleep(0.02)


def open_sandbox(image_name: str) -> Sandbox:
    """The local engine with `image_name` present (never built here), ready to run tasks."""
    from . import engine, image

    dc = engine.client()
    image.ensure_image(dc, image_name, build=False)
    return Sandbox(dc, image_name)


class _Streams:
    """Demultiplexes Docker's attach stream into bounded line tails per stream."""

    def __init__(self, on_line: LineCallback | None) -> None:
        self.on_line = on_line
        self.tails = {"stdout": deque(maxlen=TAIL_LINES), "stderr": deque(maxlen=TAIL_LINES)}
        self.sizes = {"stdout": 0, "stderr": 0}
        self._partial = {"stdout": b"", "stderr": b""}

    def pump(self, sock) -> None:
        raw = getattr(sock, "_sock", sock)
        try:
            # The engine client's read timeout must not end a task that prints nothing for a while:
            # the stream ends when the task does (or is killed at its time limit).
            raw.settimeout(None)
            while True:
                header = _recv_exact(raw, 8)
                if not header:
                    break
                name = "stderr" if header[0] == 2 else "stdout"
                length = int.from_bytes(header[4:8], "big")
                remaining = length
                while remaining:
                    chunk = raw.recv(min(remaining, 1 << 16))
                    if not chunk:
                        remaining = 0
                        break
                    remaining -= len(chunk)
                    self._feed(name, chunk)
        except OSError:
            pass
        finally:
            for name in ("stdout", "stderr"):
                if self._partial[name]:
                    self._emit(name, self._partial[name])
                    self._partial[name] = b""
            try:
                sock.close()
            except OSError:
                pass

    def _feed(self, name: str, chunk: bytes) -> None:
        self.sizes[name] += len(chunk)
        data = self._partial[name] + chunk
        lines = data.split(b"\n")
        self._partial[name] = lines.pop()[-MAX_LINE:]
        if self.on_line is None and len(lines) > TAIL_LINES:
            lines = lines[-TAIL_LINES:]
        for line in lines:
            self._emit(name, line)

    def _emit(self, name: str, line: bytes) -> None:
        text = line[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        self.tails[name].append(text)
        if self.on_line is not None:
            self.on_line(name, text)


def _recv_exact(sock, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf


def _tree_size(path: Path) -> int:
    total = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _empty(path: Path) -> None:
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
