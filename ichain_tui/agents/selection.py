"""Provides the provider pool as a requester sees it (registered providers from events, their
current profile and validated record) and the choice of a provider or a named validator.

The score counts only what cost real money: ratings of tasks that a randomly drawn validator
passed, weighted by their payment, smoothed by a prior of `PRIOR_WEIGHT` wei of neutral (3/5)
ratings, and scaled down by the share of failed validations. A handful of cheap ratings cannot
outrank a real history: to pass a provider with W wei of 5-star validated volume, an attacker must
buy more than W of validated volume and pay the drawn validators at least `minFeeBps` of it.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from ..amounts import format_eth
from ..chain.client import MarketClient
from ..chain.types import Provider, Rating
from ..sandbox.taskspec import TaskSpec

PRIOR_WEIGHT = 10**17  # wei of neutral ratings every provider starts with
PRIOR_SCORE = 3


def score_of(rating: Rating) -> float:
    """Smoothed, payment-weighted rating (1..5) times the share of validations passed."""
    smoothed = (rating.weighted_score + PRIOR_WEIGHT * PRIOR_SCORE) / (rating.rated_weight + PRIOR_WEIGHT)
    reliability = (rating.passes + 1) / (rating.validated + 1)
    return smoothed * reliability


@dataclass(frozen=True)
class Candidate:
    provider: Provider
    rating: Rating

    @property
    def address(self) -> str:
        return self.provider.address

    @property
    def score(self) -> float:
        return score_of(self.rating)


def pool(market: MarketClient) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for event in market.events("ProviderRegistered"):
        address = event.args["provider"]
        if address not in seen:
            seen[address] = Candidate(market.provider(address), market.rating(address))
    return list(seen.values())


def _best(fits: list[Candidate]) -> Candidate | None:
    return max(fits, key=lambda c: (c.score, -c.provider.rate_per_hour, c.provider.free_slots), default=None)


def _lock(slash_bps: int, payment: int) -> int:
    """`Marketplace.lockFor`: the stake a task of `payment` locks from its provider and validator."""
    return payment * slash_bps // 10_000


def choose_provider(
    market: MarketClient,
    payment: int | None = None,
    exclude: Collection[str] = frozenset(),
    candidates: list[Candidate] | None = None,
    gpus: int = 0,
    lock_s: int = 0,
    time_limit: int = 3600,
) -> Candidate | None:
    """The best-scored available provider with a free slot that accepts `payment` for a task of
    `time_limit` seconds on `gpus` GPUs (None: its rates x the limit, then the payment is that),
    has the free stake to hold it and accepts a lock of `lock_s` seconds (execute window + 6
    review windows; its `maxLock`)."""
    me = market.account.address if market.account else None
    slash_bps = market.slash_bps
    fits = []
    for c in candidates if candidates is not None else pool(market):
        wanted = gpus_on_chain(gpus, c.provider)
        price = c.provider.price_for(time_limit, wanted)
        pay = max(price, 1) if payment is None else payment
        if (
            c.provider.available
            and c.provider.free_slots > 0
            and price <= pay
            and pay > 0
            and c.address != me
            and c.address not in exclude
            and c.provider.free_stake >= _lock(slash_bps, pay)
            and wanted <= c.provider.gpus
            and c.provider.hardware.offers_gpus(gpus)
            and lock_s <= c.provider.max_lock
        ):
            fits.append(c)
    return _best(fits)


def task_limits(spec: TaskSpec, provider: Provider) -> tuple[int, int]:
    """A task's on-chain time limit (whole seconds, rounded up) and GPU count for `provider`."""
    return math.ceil(spec.time_limit), gpus_on_chain(spec.gpus, provider)


def gpus_on_chain(asked: int, provider: Provider) -> int:
    """The GPU count a task asks for on chain: `-1` (every GPU) is the provider's whole offer."""
    return max(1, provider.gpus) if asked < 0 else asked


def validator_refusal(
    slash_bps: int, requester: str | None, provider: str, payment: int, c: Candidate
) -> str | None:
    """Why `c` may not be named validator of this task (`Marketplace.isEligibleValidator`), or None."""
    lock = _lock(slash_bps, payment)
    if c.address == provider:
        return "the task's provider"
    if c.address == requester:
        return "you, the requester"
    if not c.provider.available:
        return "not available"
    if c.provider.free_stake < lock:
        return f"free stake {format_eth(c.provider.free_stake)} < lock {format_eth(lock)}"
    return None


def provider_refusal(me: str | None, gpus: int, c: Candidate, lock_s: int = 0) -> str | None:
    """Why a task of `me` asking for `gpus` GPUs, holding the provider's stake `lock_s` seconds,
    cannot go to `c`, or None."""
    if c.address == me:
        return "you: a provider cannot take its own task"
    if not c.provider.available:
        return "not available"
    if c.provider.free_slots == 0:
        return f"full: {c.provider.running} of {c.provider.slots} slots running"
    if lock_s > c.provider.max_lock:
        return f"accepts at most {_hours(c.provider.max_lock)} of windows (this task: {_hours(lock_s)})"
    if not c.provider.hardware.offers_gpus(gpus) or gpus_on_chain(gpus, c.provider) > c.provider.gpus:
        return f"offers {c.provider.gpus} GPUs (the task asks for {gpus})" if gpus > 0 else "no GPU"
    return None


def eligible_validators(
    market: MarketClient,
    requester: str,
    provider: str,
    payment: int,
    candidates: list[Candidate] | None = None,
) -> list[Candidate]:
    """Who may be named validator of this task (`Marketplace.isEligibleValidator`, from the
    candidates' profiles read once): available, enough free stake, neither requester nor provider."""
    slash_bps = market.slash_bps
    return [
        c
        for c in (candidates if candidates is not None else pool(market))
        if validator_refusal(slash_bps, requester, provider, payment, c) is None
    ]


def choose_validator(
    market: MarketClient,
    requester: str,
    provider: str,
    payment: int,
    exclude: Collection[str] = frozenset(),
    candidates: list[Candidate] | None = None,
) -> Candidate | None:
    """The best-scored provider that may be named as validator of this task."""
    return _best(
        [
            c
            for c in eligible_validators(market, requester, provider, payment, candidates)
            if c.address not in exclude
        ]
    )


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.3g} h"
