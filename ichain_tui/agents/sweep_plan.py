"""Provides `place_runs`: where a sweep's pending runs go — the places providers offer now (their
idle slots, then their queues), best first by round, score, rate and free slots, never a
provider a run already failed at, within the budget left. A place in a provider's queue is in a
later round: its run waits for earlier runs on that slot, so its execute window covers them
(`(round + 1) x time limit + transfer time`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..chain.client import DEFAULT_TRANSFER_S
from .selection import Candidate, gpus_on_chain
from .sweep_state import Run

BOUND_WINDOWS = 6  # a task holds stake for its execute window plus this many review windows


@dataclass(frozen=True)
class Place:
    run: int  # the run's index
    candidate: Candidate
    payment: int
    fee: int
    round: int
    execute_window: int

    @property
    def provider(self) -> str:
        return self.candidate.address

    @property
    def cost(self) -> int:
        return self.payment + self.fee


def places_of(c: Candidate) -> list[int]:
    """The rounds of the places `c` offers now: 0 for each idle slot, then 1, 2, ... for its
    queue (a place k-th in line waits for k // slots runs before it)."""
    p = c.provider
    slots = max(1, p.slots)
    return [(p.running + k) // slots for k in range(p.room)]


def place_runs(
    runs: list[Run],
    candidates: list[Candidate],
    *,
    me: str | None,
    time_limit: int,
    gpus: int,
    review_window: int,
    fee_for: Callable[[int], int],
    lock_for: Callable[[int], int],
    budget_left: int,
    max_new: int,
) -> list[Place]:
    """Places for up to `max_new` of `runs` (pending ones, in order), each at a provider it has not
    tried, costing no more than `budget_left` in all."""
    offers: list[tuple[int, float, int, int, Candidate]] = []
    for c in candidates:
        p = c.provider
        wanted = gpus_on_chain(gpus, p)
        if (
            c.address == me
            or not p.available
            or wanted > p.gpus
            or not p.hardware.offers_gpus(gpus)
            or p.rate_per_hour < 0
        ):
            continue
        for k, round_ in enumerate(places_of(c)):
            offers.append((round_, -c.score, p.rate_per_hour, k, c))
    offers.sort(key=lambda o: (o[0], o[1], o[2], o[3]))
    locked: dict[str, int] = {}  # stake each provider's new places lock (its free stake must hold them)
    placed: list[Place] = []
    spent = 0
    used_offer: set[int] = set()
    for run in runs:
        if len(placed) >= max_new:
            break
        for i, (round_, _, _, _, c) in enumerate(offers):
            if i in used_offer or c.address in run.tried:
                continue
            p = c.provider
            payment = p.price_for(time_limit, gpus_on_chain(gpus, p))
            fee = fee_for(payment)
            window = (round_ + 1) * time_limit + DEFAULT_TRANSFER_S
            if window + BOUND_WINDOWS * review_window > p.max_lock:
                continue
            lock = lock_for(payment)
            if p.free_stake < locked.get(c.address, 0) + lock:
                continue
            if spent + payment + fee > budget_left:
                continue
            used_offer.add(i)
            locked[c.address] = locked.get(c.address, 0) + lock
            spent += payment + fee
            placed.append(Place(run.index, c, payment, fee, round_, window))
            break
    return placed


def cheapest_run(
    candidates: list[Candidate],
    me: str | None,
    time_limit: int,
    gpus: int,
    fee_for: Callable[[int], int],
    dearest: bool = False,
) -> int | None:
    """The least (or with `dearest`, the most) one run costs at any provider that could take it
    (None: nobody can)."""
    costs = [
        c.provider.price_for(time_limit, gpus_on_chain(gpus, c.provider))
        for c in candidates
        if c.address != me and c.provider.available and gpus_on_chain(gpus, c.provider) <= c.provider.gpus
    ]
    totals = [cost + fee_for(cost) for cost in costs]
    if not totals:
        return None
    return max(totals) if dearest else min(totals)
