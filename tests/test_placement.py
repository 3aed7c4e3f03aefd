"""The provider's machine ledger (`sandbox.placement`): what each running task holds never
overlaps another's and never exceeds the host."""

from __future__ import annotations

import random
import threading

from ichain_tui.sandbox.placement import Reservations, check_reserve_mb, default_slots


def test_default_slots_follow_the_machine():
    assert default_slots(gpus=4, cores=64, memory_mb=256_000) == 4  # one per GPU
    assert default_slots(gpus=0, cores=2, memory_mb=24_000) == 1
    assert default_slots(gpus=0, cores=16, memory_mb=8_192) == 4  # memory bounds it
    assert default_slots(gpus=0, cores=64, memory_mb=512_000) == 8
    assert default_slots(gpus=0, cores=1, memory_mb=512) == 1


def test_each_task_gets_gpus_and_whole_cores_of_its_own():
    r = Reservations(slots=4, cores=8, memory_mb=64_000, gpu_ids=[0, 1, 2, 3])
    a = r.reserve(cpus=2, memory_mb=8000, gpus=1)
    b = r.reserve(cpus=3, memory_mb=8000, gpus=2)
    assert a and b
    assert not set(a.gpu_ids) & set(b.gpu_ids) and len(b.gpu_ids) == 2
    assert not set(a.cpus) & set(b.cpus) and (len(a.cpus), len(b.cpus)) == (2, 3)
    assert a.slot != b.slot and a.cpuset == "0,1"
    assert r.reserve(cpus=1, memory_mb=1000, gpus=2) is None  # one GPU left
    c = r.reserve(cpus=3, memory_mb=1000, gpus=1)
    assert c is not None and r.reserve(cpus=1, memory_mb=1000, gpus=0) is None  # every core taken
    r.release(a)
    assert r.reserve(cpus=1, memory_mb=1000, gpus=-1) is None  # "every GPU" waits for all four
    r.release(b)
    r.release(c)
    d = r.reserve(cpus=1, memory_mb=1000, gpus=-1)
    assert d is not None and d.gpu_ids == (0, 1, 2, 3)


def test_small_tasks_share_a_core_and_never_oversubscribe_it():
    r = Reservations(slots=8, cores=2, memory_mb=24_000, gpu_ids=[])
    quarter = [r.reserve(cpus=0.25, memory_mb=256, gpus=0) for _ in range(4)]
    assert all(quarter) and len({p.cpus for p in quarter if p}) == 1  # packed onto one core
    whole = r.reserve(cpus=1, memory_mb=256, gpus=0)
    assert whole is not None and whole.cpus != quarter[0].cpus  # the other core stayed whole for it
    assert r.reserve(cpus=0.1, memory_mb=256, gpus=0) is None  # both cores fully held
    r.release(quarter[0])
    assert r.reserve(cpus=0.3, memory_mb=256, gpus=0) is None  # 0.25 free is not 0.3
    assert r.reserve(cpus=0.25, memory_mb=256, gpus=0) is not None


def test_slots_and_memory_bound_the_machine():
    r = Reservations(slots=2, cores=16, memory_mb=16_000, gpu_ids=[])
    assert r.memory_mb == 16_000 - check_reserve_mb(16_000)  # kept back for validation checks
    assert r.refusal(cpus=1, memory_mb=r.memory_mb + 1, gpus=0) is not None
    assert r.refusal(cpus=17, memory_mb=1, gpus=0) is not None
    assert r.refusal(cpus=1, memory_mb=1, gpus=1) is not None
    assert r.refusal(cpus=16, memory_mb=r.memory_mb, gpus=0) is None
    a = r.reserve(cpus=1, memory_mb=r.memory_mb - 100, gpus=0)
    assert a is not None and r.reserve(cpus=1, memory_mb=200, gpus=0) is None
    assert r.reserve(cpus=1, memory_mb=100, gpus=0) is not None
    assert r.reserve(cpus=1, memory_mb=1, gpus=0) is None  # both slots held


def test_threads_racing_for_the_machine_never_exceed_it():
    r = Reservations(slots=6, cores=4, memory_mb=40_000, gpu_ids=[0, 1])
    rng = random.Random(7)
    broken: list[str] = []

    def worker(seed: int) -> None:
        local = random.Random(seed)
        for _ in range(300):
            p = r.reserve(local.choice([0.2, 0.5, 1, 2]), local.choice([500, 4000]), local.choice([0, 0, 1]))
            held = r.held()
            gpus = [g for h in held for g in h.gpu_ids]
            per_core: dict[int, int] = {}
            for h in held:
                for core in h.cpus:
                    per_core[core] = per_core.get(core, 0) + h.milli_cpus // len(h.cpus)
            if len(gpus) != len(set(gpus)) or any(v > 1000 for v in per_core.values()):
                broken.append(str(held))
            if sum(h.memory_mb for h in held) > r.memory_mb or len(held) > r.slots:
                broken.append(str(held))
            if p is not None:
                r.release(p)

    threads = [threading.Thread(target=worker, args=(rng.random(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert broken == []
    assert r.held() == []
