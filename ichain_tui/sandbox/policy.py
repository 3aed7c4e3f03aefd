"""Provides `ProviderPolicy`: what this provider agrees to run — the most memory, CPUs, processes,
wall time, output bytes and files a task may ask for, the disk it keeps free, the runtime images
it allows, how many GPUs a task may have and which container runtime isolates tasks.

Defaults are derived from the host (half its memory, its CPUs, an eighth of `pid_max`, a quarter
of the free disk for output); every value can be set in the settings. A task asking for more is
declined before anything runs, with the reason (`refusal`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .taskspec import DEFAULT_IMAGE, TaskSpec

RUNTIMES = ("runc", "runsc")
MiB = 1024 * 1024


@dataclass(frozen=True)
class ProviderPolicy:
    max_memory_mb: int
    max_cpus: float
    max_pids: int
    max_time_s: float
    max_output_mb: int
    max_output_files: int
    disk_reserve_mb: int
    allowed_images: tuple[str, ...]
    max_gpus: int
    runtime: str = "runc"
    max_dataset_cache_mb: int = 0  # sweeps' sealed datasets kept between tasks (0: none kept)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def refusal(self, spec: TaskSpec, free_disk_bytes: int | None = None) -> str | None:
        """Why this policy will not run `spec` (None: it will). Checked before anything runs."""
        asks = [
            ("memory", spec.memory_mb, self.max_memory_mb, " MB"),
            ("CPUs", spec.cpus, self.max_cpus, ""),
            ("processes", spec.pids, self.max_pids, ""),
            ("wall time", spec.time_limit, self.max_time_s, " s"),
            ("output", spec.output_mb, self.max_output_mb, " MB"),
        ]
        for what, asked, allowed, unit in asks:
            if asked > allowed:
                return f"task asks for {what} {_n(asked)}{unit}, this provider allows at most {_n(allowed)}{unit}"
        image = spec.image or ""
        # exact references only: a repository name alone would let any digest of it in (and send
        # the engine to a registry for it), the provider's own runtime image included
        if image and image not in self.allowed_images:
            return f"task asks for image {image[:80]!r}, this provider allows only {', '.join(self.allowed_images)}"
        gpus = spec.gpus
        if gpus and (self.max_gpus == 0 or gpus > self.max_gpus):
            return f"task asks for {'all' if gpus < 0 else gpus} GPUs, this provider allows {self.max_gpus}"
        if free_disk_bytes is not None:
            # the output, its sealed copy and the task's own files must fit above the reserve
            needed = 2 * spec.output_mb * MiB + self.disk_reserve_mb * MiB
            if free_disk_bytes < needed:
                return (
                    f"not enough free disk for {spec.output_mb} MB of output "
                    f"({free_disk_bytes // MiB} MB free, {self.disk_reserve_mb} MB kept in reserve)"
                )
        return None


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def host_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MiB


def host_pid_max() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 32768


def free_disk(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def for_host(
    work_dir: Path, gpu_count: int = 0, image: str = DEFAULT_IMAGE, **overrides: Any
) -> ProviderPolicy:
    """The policy for this host: defaults derived from its capacity, then `overrides` (a None
    value keeps the default; `allowed_images` may be a comma-separated string)."""
    free_mb = free_disk(work_dir) // MiB
    policy: dict[str, Any] = dict(
        max_memory_mb=max(256, host_memory_mb() // 2),
        max_cpus=float(os.cpu_count() or 1),
        max_pids=max(64, min(4096, host_pid_max() // 8)),
        max_time_s=24 * 3600.0,
        max_output_mb=max(1, min(16 * 1024, free_mb // 4)),
        max_output_files=20_000,
        disk_reserve_mb=max(512, min(4096, free_mb // 20)),
        allowed_images=(image,),
        max_gpus=gpu_count,
        runtime="runc",
        max_dataset_cache_mb=max(0, min(100 * 1024, free_mb // 4)),
    )
    for key, value in overrides.items():
        if value is None or key not in policy:
            continue
        if key == "allowed_images" and isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip()) or (image,)
        policy[key] = value
    if policy["runtime"] not in RUNTIMES:
        raise ValueError(f"container runtime must be one of {', '.join(RUNTIMES)}, not {policy['runtime']!r}")
    return ProviderPolicy(**policy)


def from_settings(settings: Any, work_dir: Path, gpu_count: int = 0) -> ProviderPolicy:
    """The policy the settings describe (see `config.Settings`, the `max_*` fields)."""
    return for_host(
        work_dir,
        gpu_count,
        settings.docker_image,
        max_memory_mb=settings.max_memory_mb,
        max_cpus=settings.max_cpus,
        max_pids=settings.max_pids,
        max_time_s=settings.max_time_s,
        max_output_mb=settings.max_output_mb,
        max_output_files=settings.max_output_files,
        disk_reserve_mb=settings.disk_reserve_mb,
        allowed_images=settings.allowed_images,
        max_gpus=settings.max_gpus,
        runtime=settings.container_runtime,
        max_dataset_cache_mb=settings.max_dataset_cache_mb,
    )


def clamp(spec: TaskSpec, policy: ProviderPolicy) -> TaskSpec:
    """`spec` within `policy` (a validator runs a check under its own limits, never above them)."""
    from dataclasses import replace

    return replace(
        spec,
        memory_mb=min(spec.memory_mb, policy.max_memory_mb),
        cpus=min(spec.cpus, policy.max_cpus),
        pids=min(spec.pids, policy.max_pids),
        time_limit=min(spec.time_limit, policy.max_time_s),
        output_mb=min(spec.output_mb, policy.max_output_mb),
    )
