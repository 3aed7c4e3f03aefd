"""Provides the provider's hardware profile: NVIDIA GPU detection (model, VRAM), the one-line summary
posted on chain, and the Docker device request for tasks that want GPUs."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from docker.types import DeviceRequest

from ..hardware import GpuModel, HardwareProfile
from .engine import SandboxError


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    vram_mb: int


def detect_gpus(nvidia_smi: str | None = None) -> list[Gpu]:
    """GPUs that `nvidia-smi` reports; none when the tool or a driver is missing."""
    exe = nvidia_smi or shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return parse_nvidia_smi(out.stdout)


def parse_nvidia_smi(text: str) -> list[Gpu]:
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        try:
            gpus.append(Gpu(index=int(parts[0]), name=parts[1], vram_mb=int(float(parts[2]))))
        except ValueError:
            continue
    return gpus


def summary(gpus: list[Gpu]) -> str:
    if not gpus:
        return "none"
    names: dict[str, int] = {}
    for gpu in gpus:
        key = f"{gpu.name} {gpu.vram_mb // 1024}GB"
        names[key] = names.get(key, 0) + 1
    return ", ".join(f"{count}x {name}" for name, count in names.items())


def local_profile(gpus: list[Gpu] | None = None) -> HardwareProfile:
    """CPU threads, RAM and GPUs of this machine, as registered in the provider profile."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    except (ValueError, OSError):
        ram = 0
    found = detect_gpus() if gpus is None else gpus
    return HardwareProfile(
        cpus=os.cpu_count() or 0, ram_gb=ram, gpus=tuple(GpuModel(g.name, g.vram_mb) for g in found)
    )


def device_requests(wanted: int, available: list[Gpu]) -> list[DeviceRequest]:
    """The Docker device request for a task wanting `wanted` GPUs (-1 = all); refuse when short."""
    if wanted == 0:
        return []
    if not available:
        raise SandboxError(
            f"the task asks for {'all' if wanted < 0 else wanted} GPU(s); this machine has none"
        )
    if wanted > len(available):
        raise SandboxError(f"the task asks for {wanted} GPUs; this machine has {len(available)}")
    if wanted < 0:
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    ids = [str(g.index) for g in available[:wanted]]
    return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]
