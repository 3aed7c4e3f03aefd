"""Provides `CgroupWatch`: peak memory, OOM kills and pids-limit hits of a running container,
read from its cgroup files (v1 or v2) while it runs, and its current `Usage` (CPU time, memory
and the memory limit) for a dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Usage:
    cpu_usec: int  # CPU time used so far, all cores, in microseconds
    memory_bytes: int  # now
    memory_limit: int  # 0: none found


class CgroupWatch:
    def __init__(self, pid: int) -> None:
        self.memory_dir: Path | None = None
        self.pids_dir: Path | None = None
        self.cpu_dir: Path | None = None
        self.v2 = False
        self.peak_memory = 0
        self.oom_kills = 0
        self.pids_limit_hits = 0
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return
        for line in lines:
            _, controllers, path = line.split(":", 2)
            rel = path.lstrip("/")
            if controllers == "":  # cgroup v2 unified hierarchy
                base = (
                    CGROUP_ROOT / rel
                    if (CGROUP_ROOT / "cgroup.controllers").exists()
                    else CGROUP_ROOT / "unified" / rel
                )
                if (base / "memory.current").exists():
                    self.memory_dir = self.memory_dir or base
                    self.pids_dir = self.pids_dir or base
                    self.cpu_dir = self.cpu_dir or base
                    self.v2 = True
            for name in controllers.split(","):
                if name == "memory" and (CGROUP_ROOT / "memory" / rel).exists():
                    self.memory_dir = CGROUP_ROOT / "memory" / rel
                elif name == "pids" and (CGROUP_ROOT / "pids" / rel).exists():
                    self.pids_dir = CGROUP_ROOT / "pids" / rel
                elif name == "cpuacct" and (CGROUP_ROOT / controllers / rel).exists():
                    self.cpu_dir = CGROUP_ROOT / controllers / rel

    def sample(self) -> None:
        """Read the counters once; call repeatedly while the container runs (values only grow)."""
        if self.memory_dir is not None:
            if self.v2:
                peak = _read_int(self.memory_dir / "memory.peak") or _read_int(
                    self.memory_dir / "memory.current"
                )
                events = _read_kv(self.memory_dir / "memory.events")
            else:
                peak = _read_int(self.memory_dir / "memory.max_usage_in_bytes")
                events = _read_kv(self.memory_dir / "memory.oom_control")
            self.peak_memory = max(self.peak_memory, peak)
            self.oom_kills = max(self.oom_kills, events.get("oom_kill", 0))
        if self.pids_dir is not None:
            self.pids_limit_hits = max(
                self.pids_limit_hits, _read_kv(self.pids_dir / "pids.events").get("max", 0)
            )

    def usage(self) -> Usage:
        """CPU time and memory now (zeros where the cgroup is not readable)."""
        if self.v2:
            cpu = _read_kv(self.cpu_dir / "cpu.stat").get("usage_usec", 0) if self.cpu_dir else 0
            memory = _read_int(self.memory_dir / "memory.current") if self.memory_dir else 0
            limit = _read_int(self.memory_dir / "memory.max") if self.memory_dir else 0
        else:
            cpu = _read_int(self.cpu_dir / "cpuacct.usage") // 1000 if self.cpu_dir else 0  # ns
            memory = _read_int(self.memory_dir / "memory.usage_in_bytes") if self.memory_dir else 0
            limit = _read_int(self.memory_dir / "memory.limit_in_bytes") if self.memory_dir else 0
        return Usage(cpu, memory, limit if 0 < limit < 1 << 60 else 0)


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                out[parts[0]] = int(parts[1])
    except OSError:
        pass
    return out
