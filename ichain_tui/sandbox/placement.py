"""Provides `Placement` (the GPUs, CPU set and memory one running task holds) and `Reservations`
(what a provider's machine hands out to its slots: a task gets its cores pinned as a CPU set —
whole cores of its own when it asks for one CPU or more, a share of one core beside other small
tasks when it asks for less — whole GPUs by device id and a memory reservation; the sum of what
is handed out never exceeds the host, and a share is kept back for validation checks), with
`default_slots`, how many tasks a machine runs at once.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

MAX_DEFAULT_SLOTS = 8
MB_PER_DEFAULT_SLOT = 2048  # a CPU-only slot needs at least this much memory to be worth offering


@dataclass(frozen=True)
class Placement:
    """One task's share of the machine. `gpu_ids`: device indices it alone uses; `cpus`: cores it
    is pinned to (empty: not pinned); `memory_mb`: reserved for it (its limit stays its own)."""

    slot: int
    gpu_ids: tuple[int, ...] = ()
    cpus: tuple[int, ...] = ()
    memory_mb: int = 0
    milli_cpus: int = 0  # the CPU it reserved on those cores, in thousandths of a core

    @property
    def cpuset(self) -> str:
        """The CPU set as Docker takes it ("0,1,2")."""
        return ",".join(str(c) for c in self.cpus)

    def describe(self) -> str:
        gpus = f"GPU {','.join(map(str, self.gpu_ids))}" if self.gpu_ids else "no GPU"
        return f"slot {self.slot}: {gpus}, CPUs {self.cpuset or 'any'}, {self.memory_mb} MB"


def default_slots(gpus: int, cores: int, memory_mb: int) -> int:
    """One slot per GPU on a GPU box; otherwise one per two cores and per 2 GiB, at most 8."""
    if gpus > 0:
        return gpus
    return max(1, min(MAX_DEFAULT_SLOTS, cores // 2, memory_mb // MB_PER_DEFAULT_SLOT))


def check_reserve_mb(memory_mb: int) -> int:
    """Memory kept back for validation checks, which must never wait behind executions."""
    return max(1024, memory_mb // 8)


class Reservations:
    """Thread-safe ledger of the machine's slots, cores, GPUs and memory."""

    def __init__(self, slots: int, cores: int, memory_mb: int, gpu_ids: list[int]) -> None:
        self.slots = max(1, slots)
        self._cores = list(range(max(1, cores)))
        self._gpus = list(gpu_ids)
        self.memory_mb = max(0, memory_mb - check_reserve_mb(memory_mb))
        self.check_memory_mb = check_reserve_mb(memory_mb)
        self._held: dict[int, Placement] = {}
        self._lock = threading.Lock()

    def refusal(self, cpus: float, memory_mb: int, gpus: int) -> str | None:
        """Why a task asking this can never be placed here (None: it can, now or later)."""
        if gpus > len(self._gpus):
            return f"the task asks for {gpus} GPUs; this provider has {len(self._gpus)}"
        if math.ceil(cpus) > len(self._cores):
            return f"the task asks for {cpus:g} CPUs; this provider has {len(self._cores)}"
        if memory_mb > self.memory_mb:
            return f"the task asks for {memory_mb} MB; this provider reserves at most {self.memory_mb} MB per task"
        return None

    def reserve(self, cpus: float, memory_mb: int, gpus: int) -> Placement | None:
        """A placement for the task, or None while the slots, cores, GPUs or memory it needs are
        held by others. `gpus` -1: every GPU. A task of one CPU or more gets `ceil(cpus)` cores
        nobody else uses; a smaller one shares the fullest core it still fits on."""
        with self._lock:
            free_slots = [s for s in range(self.slots) if s not in self._held]
            if not free_slots:
                return None
            held = self._held.values()
            free_gpus = [g for g in self._gpus if not any(g in p.gpu_ids for p in held)]
            wanted_gpus = len(self._gpus) if gpus < 0 else gpus
            if len(free_gpus) < wanted_gpus or sum(p.memory_mb for p in held) + memory_mb > self.memory_mb:
                return None
            used = {c: 0 for c in self._cores}
            for p in held:
                for core in p.cpus:
                    used[core] += p.milli_cpus // len(p.cpus)
            milli = max(1, round(cpus * 1000))
            if milli >= 1000:
                whole = math.ceil(milli / 1000)
                idle = [c for c in self._cores if used[c] == 0]
                if len(idle) < whole:
                    return None
                cores, milli = tuple(idle[:whole]), whole * 1000
            else:
                fits = [c for c in self._cores if used[c] + milli <= 1000]
                if not fits:
                    return None
                cores = (max(fits, key=lambda c: (used[c], -c)),)  # pack: whole cores stay free
            placement = Placement(
                slot=free_slots[0],
                gpu_ids=tuple(free_gpus[:wanted_gpus]),
                cpus=cores,
                memory_mb=memory_mb,
                milli_cpus=milli,
            )
            self._held[placement.slot] = placement
            return placement

    def release(self, placement: Placement) -> None:
        with self._lock:
            if self._held.get(placement.slot) == placement:
                del self._held[placement.slot]

    def held(self) -> list[Placement]:
        with self._lock:
            return sorted(self._held.values(), key=lambda p: p.slot)
