"""Provides the provider pool as a requester sees it (registered providers from events, their
current profile, rating and price) and the choice of a provider or validator."""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.client import MarketClient
from ..chain.types import Provider, Rating


@dataclass(frozen=True)
class Candidate:
    provider: Provider
    rating: Rating

    @property
    def address(self) -> str:
        return self.provider.address

    @property
    def score(self) -> float:
        """Average rating, unrated providers counted as 3 of 5 with the weight of one rating."""
        return (self.rating.total + 3.0) / (self.rating.count + 1)


def pool(market: MarketClient) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for event in market.events("ProviderRegistered"):
        address = event.args["provider"]
        if address not in seen:
            seen[address] = Candidate(market.provider(address), market.rating(address))
    return list(seen.values())


def choose_provider(market: MarketClient, payment: int, exclude: set[str] = frozenset()) -> Candidate | None:
    """The best-rated available provider that accepts `payment` and has the stake to hold it."""
    lock = market.lock_for(payment)
    me = market.account.address if market.account else None
    fits = [
        c for c in pool(market)
        if c.provider.available and c.provider.price <= payment and c.provider.free_stake >= lock
        and c.address != me and c.address not in exclude
    ]
    return max(fits, key=lambda c: (c.score, -c.provider.price), default=None)


def choose_validator(market: MarketClient, requester: str, provider: str | None,
                     exclude: set[str] = frozenset()) -> Candidate | None:
    fits = [
        c for c in pool(market)
        if c.address not in exclude and c.address != provider and c.address != requester
        and market.is_eligible_validator(c.address, requester, provider or requester)
    ]
    return max(fits, key=lambda c: (c.score, -c.provider.price), default=None)
