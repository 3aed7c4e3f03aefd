"""Provides `Sandbox`: one `execute` or `check` of a task in a locked-down container.

Every run: no network, read-only root, small tmpfs /tmp, non-root user, all capabilities dropped,
no-new-privileges, a seccomp profile of our own (no io_uring, ptrace, namespaces...), /proc files
that describe the host masked, memory (= memory + swap) / CPU / pids limits, a wall-clock limit
that kills (however long the task is silent), and the container removed whatever happens. The
container runtime is Docker's `runc` or gVisor's `runsc`. Task and output are mounted from neutral
paths. `execute` writes into its own filesystem with a byte and an inode cap the kernel enforces
(see `outputfs`); the result is then copied out as plain files and folders. Output lines stream
through a callback; only a bounded tail is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import _create_container_args
from docker.types import DeviceRequest, LogConfig

from . import outputfs, seccomp
from .cgroup import CgroupWatch
from .checkpoint import CHECKPOINT_EVERY_S, CHECKPOINT_NAME, FINAL_SAVE_S, CheckpointSaver
from .deps import DepsLimits, ensure_deps_image, requirements_of
from .engine import LABEL, SandboxError, reap_stale
from .gpu import Gpu, detect_gpus, device_requests
from .image import ensure_pinned
from .placement import Placement
from .staging import stage_name, staged
from .supervise import LineCallback, Live, OutputStreams, oom_killed, supervise, tree_size
from .taskspec import DATASET_MOUNT, TaskSpec, is_pinned

TMPFS_MB = 64
MiB = 1024 * 1024
DEFAULT_MAX_FILES = 20_000
RUNSC_THREADS = 256  # host threads gVisor's own kernel may need beside the task

# Docker's own masked and read-only paths, and the files that describe the host to a task
MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/cmdline",
    "/proc/config.gz",
    "/proc/modules",
    "/proc/kallsyms",
    "/proc/partitions",
    "/proc/diskstats",
    "/proc/swaps",
    "/proc/vmallocinfo",
    "/proc/iomem",
    "/proc/ioports",
    "/proc/slabinfo",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


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
    dropped: list[str] = field(default_factory=list)  # special files and links not copied out

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (
            self.timed_out or self.oom_killed or self.output_exceeded or self.cancelled
        )

    @property
    def reason(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return "killed at the time limit" + (" (process limit reached)" if self.pids_limit_hit else "")
        if self.oom_killed:
            return "killed: out of memory"
        if self.output_exceeded:
            return "refused: output over the size cap"
        if self.exit_code == 0:
            return "ok"
        hint = " (process limit reached)" if self.pids_limit_hit else ""
        return f"exit code {self.exit_code}{hint}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["reason"] = self.reason
        return data


@dataclass(frozen=True)
class RunUsage:
    mode: str  # execute | check
    seconds: float  # since it started
    cpu_cores: float  # CPU used since the last look, in cores (1.0: one core busy)
    memory_bytes: int
    memory_limit: int  # 0: unknown


class Sandbox:
    """Runs tasks on one Docker engine with one runtime image."""

    def __init__(
        self,
        dc: docker.DockerClient,
        image: str,
        gpus: list[Gpu] | None = None,
        runtime: str = "runc",
        max_output_files: int = DEFAULT_MAX_FILES,
        kernel_quota: bool | None = None,
        package_index: str = "",
        deps_limits: DepsLimits | None = None,
    ) -> None:
        """`kernel_quota` None: per-run filesystems where the host allows them (root, loop devices)."""
        self.dc = dc
        self.image = image
        self.gpus = detect_gpus() if gpus is None else gpus
        self.runtime = runtime
        self.max_output_files = max_output_files
        self.package_index = package_index  # where tasks' requirements.txt come from ("": nowhere)
        self.deps_limits = deps_limits or DepsLimits()
        self.kernel_quota = outputfs.kernel_quota_available() if kernel_quota is None else kernel_quota
        self._running: dict[str, tuple[str, Live]] = {}  # container id -> (mode, run)
        self._cpu_seen: dict[str, tuple[float, int]] = {}  # container id -> (when, CPU microseconds)
        reap_stale(dc)
        outputfs.sweep_stale()

    def image_for(self, spec: TaskSpec) -> str:
        """The image the task runs in: its own (pulled by digest) or the runtime, with its
        requirements.txt installed when it has one (built once per requirements, then reused)."""
        base = spec.image or self.image
        if is_pinned(base):
            ensure_pinned(self.dc, base)  # a task's own image comes by digest, or not at all
        requirements = requirements_of(spec.folder, spec.packages)
        if requirements is None:
            return base
        tag, _built = ensure_deps_image(self.dc, base, requirements, self.package_index, self.deps_limits)
        return tag

    def usage(self) -> list[RunUsage]:
        """What each run in progress uses now: CPU (in cores, since the last call), memory and its
        limit, read from the container's cgroup (a dashboard calls this every few seconds)."""
        now = time.monotonic()
        found = []
        for cid, (mode, live) in list(self._running.items()):
            usage = live.watch.usage()
            then, cpu_then = self._cpu_seen.get(cid, (live.started, 0))
            wall_usec = int((now - then) * 1_000_000)
            cores = (usage.cpu_usec - cpu_then) / wall_usec if wall_usec > 0 else 0.0
            self._cpu_seen[cid] = (now, usage.cpu_usec)
            found.append(
                RunUsage(mode, now - live.started, max(0.0, cores), usage.memory_bytes, usage.memory_limit)
            )
        for cid in set(self._cpu_seen) - set(self._running):
            self._cpu_seen.pop(cid)
        return found

    # -------------------------------------------------------------------- public
    def execute(
        self,
        spec: TaskSpec,
        out_dir: Path,
        checkpoint: Path | None = None,
        spent_s: float = 0.0,
        on_saved: Callable[[float], object] | None = None,
        **kw: Any,
    ) -> RunResult:
        """`python3 task.py execute /out` with /out an empty area under the task's caps; the
        result is copied into `out_dir` (created, must be empty) as plain files and folders.

        With `checkpoint` (a folder that outlives the run): the task may keep checkpoints in
        `$ICHAIN_CHECKPOINT` (`/out/.checkpoint`, inside the output cap); they are copied to
        `checkpoint` every `CHECKPOINT_EVERY_S` and at the end (`on_saved` is told the seconds
        spent so far), and a run that finds one starts with them and `ICHAIN_RESUME=1`. `spent_s`
        (seconds earlier runs used) comes off the time limit. The checkpoint is not part of the
        result."""
        if checkpoint is None:
            return self._run_writable(spec, "execute", Path(out_dir), None, **kw)
        saver = CheckpointSaver(
            Path(checkpoint), spent_s, on_saved, self.max_output_files, spec.output_mb * MiB
        )
        spec = replace(spec, time_limit=max(1.0, spec.time_limit - spent_s))
        return self._run_writable(spec, "execute", Path(out_dir), None, saver=saver, **kw)

    def check(self, spec: TaskSpec, result_dir: Path, stage: str | None = None, **kw: Any) -> RunResult:
        """`python3 task.py check /out` with the result read-only.

        With `stage` (see `staging.stage_name`), task and result are mounted from a neutral
        per-task path that the provider's pre-check and the validator's check share, so the two
        runs see identical mount sources, environment, hostname and limits."""
        if not Path(result_dir).is_dir():
            raise SandboxError(f"result folder {result_dir} does not exist")
        if stage is None:
            return self._run(spec, "check", Path(result_dir), writable=False, **kw)
        with staged(spec.folder, Path(result_dir), stage) as (task_dir, out_dir):
            assert out_dir is not None  # staged with a result folder
            return self._run(replace(spec, folder=task_dir), "check", out_dir, writable=False, **kw)

    def run_command(self, spec: TaskSpec, command: list[str], out_dir: Path, **kw: Any) -> RunResult:
        """Any command under the same limits (benchmarks, diagnostics)."""
        return self._run_writable(spec, "command", Path(out_dir), command, **kw)

    def _run_writable(
        self, spec: TaskSpec, mode: str, out_dir: Path, command: list[str] | None, **kw: Any
    ) -> RunResult:
        out_dir.mkdir(parents=True, exist_ok=True)
        if any(out_dir.iterdir()):
            raise SandboxError(f"output folder {out_dir} is not empty")
        uid, gid = _container_ids()
        saver: CheckpointSaver | None = kw.pop("saver", None)
        with (
            outputfs.OutputArea(
                spec.output_mb * MiB, self.max_output_files, uid, gid, kernel=self.kernel_quota
            ) as area,
            staged(spec.folder, None, stage_name(os.getpid(), id(area), time.time())) as (task_dir, _),
        ):
            if saver is not None:
                kw["extra_env"] = saver.restore(area.path, uid, gid)
                kw["every"] = (CHECKPOINT_EVERY_S, saver.save)
            try:
                run = self._run(
                    replace(spec, folder=task_dir),
                    mode,
                    area.path,
                    writable=True,
                    command=command,
                    area=area,
                    **kw,
                )
            finally:
                if saver is not None:
                    saver.save(time.monotonic() + FINAL_SAVE_S)  # the last state, whatever ended the run
            if run.output_exceeded:
                return run
            if saver is not None:
                shutil.rmtree(area.path / CHECKPOINT_NAME, ignore_errors=True)  # not part of the result
            try:
                exported = outputfs.export(area.path, out_dir, self.max_output_files, spec.output_mb * MiB)
            except outputfs.OutputTooLarge:  # holes count: what a file claims is what it costs
                shutil.rmtree(out_dir, ignore_errors=True)
                out_dir.mkdir()
                run.output_exceeded = True
                return run
        run.output_bytes = exported.bytes
        run.dropped = exported.dropped
        return run

    # -------------------------------------------------------------------- internals
    @property
    def _task_is_main(self) -> bool:
        return self.runtime == "runsc"

    @staticmethod
    def _command(mode: str, command: list[str] | None) -> list[str]:
        return command or ["python3", "/task/task.py", mode, "/out"]

    def create_kwargs(
        self,
        spec: TaskSpec,
        mode: str,
        out_dir: Path,
        writable: bool,
        command: list[str] | None = None,
        placement: Placement | None = None,
    ) -> dict[str, Any]:
        """Everything handed to `containers.create`: the whole security policy in one place.

        Under runc the container's first process only sleeps and the task runs as an exec inside
        it, so the cgroup (peak memory, OOM kills, pids-limit hits) can still be read after the
        task ends. Under gVisor the task is the first process itself: processes exec'd into a
        gVisor sandbox do not get the container's seccomp profile.
        """
        memory = spec.memory_mb * 1024 * 1024
        gpus = device_requests(spec.gpus, self.gpus)
        if placement is not None and spec.gpus:  # this slot's own GPUs, never another task's
            gpus = [DeviceRequest(device_ids=[str(i) for i in placement.gpu_ids], capabilities=[["gpu"]])]
        pinned = {"cpuset_cpus": placement.cpuset} if placement is not None and placement.cpus else {}
        return dict(
            **pinned,
            image=spec.image or self.image,
            command=self._command(mode, command) if self._task_is_main else ["sleep", "infinity"],
            hostname="sandbox",
            working_dir="/task",
            user="{}:{}".format(*_container_ids()),
            environment=self._environment(spec, mode),
            volumes={
                str(spec.folder): {"bind": "/task", "mode": "ro"},
                str(out_dir.resolve()): {"bind": "/out", "mode": "rw" if writable else "ro"},
                **(
                    {str(spec.dataset_dir.resolve()): {"bind": DATASET_MOUNT, "mode": "ro"}}
                    if spec.dataset_dir is not None
                    else {}
                ),
            },
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={TMPFS_MB}m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true", seccomp.security_opt()],
            runtime=self.runtime,
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=round(spec.cpus * 1_000_000_000),
            pids_limit=self._host_pids(spec),
            ulimits=self._ulimits(spec),
            ipc_mode="private",
            log_config=LogConfig(type="none"),
            device_requests=gpus,
            labels={LABEL: "1", f"{LABEL}.pid": str(os.getpid()), f"{LABEL}.mode": mode},
            stdin_open=False,
            tty=False,
            detach=True,
        )

    def _host_pids(self, spec: TaskSpec) -> int:
        """The engine's pids limit. Under gVisor the host cgroup holds the sandbox kernel's own
        threads, not the task's processes: it gets room for those, and the task's limit is the
        RLIMIT_NPROC that gVisor enforces inside (see `_ulimits`)."""
        return spec.pids + RUNSC_THREADS if self.runtime == "runsc" else spec.pids

    def _ulimits(self, spec: TaskSpec) -> list[docker.types.Ulimit]:
        limits = [docker.types.Ulimit(name="core", soft=0, hard=0)]
        if self.runtime == "runsc":  # under runc the host counts RLIMIT_NPROC per uid: not used there
            limits.append(docker.types.Ulimit(name="nproc", soft=spec.pids, hard=spec.pids))
        return limits

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
            **({"ICHAIN_DATASET": DATASET_MOUNT} if spec.dataset_dir is not None else {}),
            **(
                {"ICHAIN_PARAMS": spec.params_json()}
                | {f"ICHAIN_PARAM_{name.upper()}": _param_text(value) for name, value in spec.params.items()}
                if spec.params
                else {}
            ),
        }

    def _create(self, kwargs: dict[str, Any]) -> Any:
        """`containers.create` plus what the SDK has no argument for: masked and read-only paths."""
        args = _create_container_args({**kwargs, "version": self.dc.api._version})
        args["host_config"]["MaskedPaths"] = MASKED_PATHS
        args["host_config"]["ReadonlyPaths"] = READONLY_PATHS
        return self.dc.containers.get(self.dc.api.create_container(**args)["Id"])

    def _run(
        self,
        spec: TaskSpec,
        mode: str,
        out_dir: Path,
        writable: bool,
        command: list[str] | None = None,
        on_line: LineCallback | None = None,
        cancel: threading.Event | None = None,
        area: outputfs.OutputArea | None = None,
        extra_env: dict[str, str] | None = None,
        every: tuple[float, Callable[[float], None]] | None = None,
        placement: Placement | None = None,
    ) -> RunResult:
        spec = replace(spec, image=self.image_for(spec))
        kwargs = self.create_kwargs(spec, mode, out_dir, writable, command, placement)
        kwargs["environment"].update(extra_env or {})
        try:
            container = self._create(kwargs)
        except ImageNotFound:
            raise SandboxError(f"image {kwargs['image']} is missing: run `ichain image build`") from None
        except (APIError, DockerException) as exc:
            raise SandboxError(
                f"cannot create the sandbox container: {str(exc).splitlines()[0][:200]}"
            ) from None
        streams = OutputStreams(on_line)
        try:
            live = self._start(container, kwargs, self._command(mode, command), streams)
            self._running[container.id] = (mode, live)
            polled = area if area is not None and not area.kernel else None
            stops = supervise(live, spec.time_limit, polled, cancel, every)
            wall = time.monotonic() - live.started
            exit_code = live.exit_code(self.dc.api)
            live.watch.sample()  # the cgroup outlives the task: final peak, OOM and pids counters
            if oom_killed(container):  # gVisor: the whole sandbox is what the kernel kills
                live.watch.oom_kills = max(live.watch.oom_kills, 1)
        finally:
            self._running.pop(container.id, None)
            try:
                container.remove(force=True)
            except (NotFound, DockerException):
                pass
        if area is not None and area.full():
            stops.output_exceeded = True
        watch = live.watch
        return RunResult(
            mode=mode,
            exit_code=None if stops.killed else exit_code,
            wall_s=round(wall, 3),
            peak_memory_bytes=watch.peak_memory,
            oom_killed=watch.oom_kills > 0 and not stops.killed,
            timed_out=stops.timed_out,
            pids_limit_hit=watch.pids_limit_hits > 0,
            output_exceeded=stops.output_exceeded,
            cancelled=stops.cancelled,
            output_bytes=tree_size(out_dir) if writable else 0,
            stdout_bytes=streams.sizes["stdout"],
            stderr_bytes=streams.sizes["stderr"],
            stdout_tail=list(streams.tails["stdout"]),
            stderr_tail=list(streams.tails["stderr"]),
        )

    def _start(
        self, container: Any, kwargs: dict[str, Any], command: list[str], streams: OutputStreams
    ) -> Live:
        """Start the task (as the container's main process under gVisor, as an exec under runc)
        with its output stream attached and a reader pumping it into `streams`."""
        api = self.dc.api
        exec_id = None
        if self._task_is_main:
            sock = api.attach_socket(container.id, params={"stdout": 1, "stderr": 1, "stream": 1})
            container.start()
            started = time.monotonic()
            container.reload()
        else:
            container.start()
            container.reload()
            exec_id = api.exec_create(
                container.id,
                command,
                stdout=True,
                stderr=True,
                user=kwargs["user"],
                environment=kwargs["environment"],
                workdir="/task",
            )["Id"]
            started = time.monotonic()
            sock = api.exec_start(exec_id, socket=True)
        watch = CgroupWatch(int(container.attrs["State"].get("Pid") or 0))
        reader = threading.Thread(target=streams.pump, args=(sock,), daemon=True, name="sandbox-output")
        reader.start()
        return Live(container, sock, reader, watch, started, exec_id)


def _container_ids() -> tuple[int, int]:
    """nobody when we are root; otherwise our own ids (the engine maps nothing for us)."""
    return (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())


def open_sandbox(
    image_name: str,
    runtime: str = "runc",
    max_output_files: int = DEFAULT_MAX_FILES,
    package_index: str = "",
    deps_limits: DepsLimits | None = None,
) -> Sandbox:
    """The local engine with `image_name` present (never built here), ready to run tasks."""
    from .. import fixes
    from . import engine, image

    dc = engine.client()
    image.ensure_image(dc, image_name, build=False)
    if runtime not in engine.runtimes(dc):
        fix = fixes.gvisor() if runtime == "runsc" else "register it with dockerd"
        raise SandboxError(f"the Docker engine has no {runtime!r} runtime: {fix}")
    return Sandbox(
        dc,
        image_name,
        runtime=runtime,
        max_output_files=max_output_files,
        package_index=package_index,
        deps_limits=deps_limits,
    )


def _param_text(value: object) -> str:
    """A run parameter as an environment variable: JSON for booleans (true/false), else as written."""
    return json.dumps(value) if isinstance(value, bool) else str(value)
