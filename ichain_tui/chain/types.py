"""Provides the typed values the chain client returns: task states, tasks, providers, receipts, previews."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ..hardware import HardwareProfile


class TaskState(IntEnum):
    """Marketplace v3 task states (same order as `Marketplace.State`)."""

    NONE = 0
    ASSIGNED = 1  # provider executing until the deadline
    VALIDATING = 2  # result committed, verdict due by the deadline
    EXECUTED = 3  # no validator: the provider claims by revealing its key
    PASSED = 4  # validated pass: provider paid, key public, rating open
    FAILED = 5  # fail verdict: the provider may appeal until the deadline
    APPEALED = 6  # a drawn appeal validator decides by the deadline
    CLOSED = 7  # provider paid
    REJECTED = 8  # the fail stands: requester refunded
    CANCELLED = 9  # the provider declined: requester refunded
    EXPIRED = 10  # a deadline passed: requester refunded

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def is_final(self) -> bool:
        """No money left in the task (a Passed task may still be rated)."""
        return self in (
            TaskState.PASSED,
            TaskState.CLOSED,
            TaskState.REJECTED,
            TaskState.CANCELLED,
            TaskState.EXPIRED,
        )

    @property
    def provider_paid(self) -> bool:
        return self in (TaskState.PASSED, TaskState.CLOSED)


class ValidatorMode(IntEnum):
    """How a task's validator is chosen (same order as `Marketplace.Mode`)."""

    NONE = 0  # no validator: pay on delivery of the key
    NAMED = 1  # named by the requester; the provider consents by not declining
    RANDOM = 2  # drawn from the pool by the hash of the creating block, when the result is in

    @property
    def label(self) -> str:
        return {0: "none", 1: "named", 2: "random"}[int(self)]


REPLACED, RATED, COUNTED = 1, 2, 4


@dataclass(frozen=True)
class Task:
    task_id: int
    requester: str
    state: TaskState
    mode: ValidatorMode
    flags: int
    deadline: int
    review_window: int
    provider: str | None
    payment: int
    validator: str | None
    validator_fee: int
    key_commit: bytes | None
    first_validator: str | None
    bound: int = 0  # every exit is decided by then (created + execute window + 6 review windows)
    draw_block: int = 0  # a pending draw's seed block (0: none pending)
    excluded: str | None = None  # a validator that declined or was replaced
    time_limit: int = 0  # seconds the task may run (its on-chain terms)
    gpus: int = 0  # GPUs it asked for

    @property
    def draw_pending(self) -> bool:
        return self.draw_block != 0

    @property
    def replaced(self) -> bool:
        return bool(self.flags & REPLACED)

    @property
    def rated(self) -> bool:
        return bool(self.flags & RATED)

    @property
    def counted(self) -> bool:
        """Decided (or to be decided) by a validator drawn at random: counts toward reputation."""
        return bool(self.flags & COUNTED)


@dataclass(frozen=True)
class Provider:
    address: str
    stake: int
    locked: int
    rate_per_hour: int  # wei per hour of a task's time limit
    registered: bool
    available: bool
    public_key: bytes
    hardware: HardwareProfile  # parsed from what the provider wrote (untrusted)
    max_lock: int = 0  # seconds a task may hold its stake (execute window + 6 review windows)
    retention: int = 0  # seconds it serves a paid result (advertised)
    rate_per_gpu_hour: int = 0  # wei per GPU-hour asked for, on top of the hourly rate
    slots: int = 1  # tasks it executes at once
    running: int = 0  # tasks assigned to it and not yet delivered, declined or expired
    gpus: int = 0  # GPUs it offers
    queue: int = 0  # tasks it accepts beyond its slots, each waiting for one

    @property
    def free_stake(self) -> int:
        return self.stake - self.locked

    @property
    def free_slots(self) -> int:
        """Slots idle now (a task given now starts at once)."""
        return max(0, self.slots - self.running)

    @property
    def room(self) -> int:
        """Tasks it accepts now: idle slots plus places in its queue (`createTask` reverts
        `ProviderFull` at 0)."""
        return max(0, self.slots + self.queue - self.running)

    @property
    def queued(self) -> int:
        """Tasks of its queue waiting for a slot."""
        return max(0, self.running - self.slots)

    def price_for(self, time_limit: int, gpus: int = 0) -> int:
        """The least payment it accepts for `time_limit` seconds on `gpus` GPUs (the contract's
        `priceOf`: rates x limit, rounded up to the wei)."""
        return price_for(self.rate_per_hour, self.rate_per_gpu_hour, time_limit, gpus)


def price_for(rate_per_hour: int, rate_per_gpu_hour: int, time_limit: int, gpus: int = 0) -> int:
    """(rate per hour + gpus x rate per GPU-hour) x time limit / 1 hour, rounded up (as on chain)."""
    return -(-(rate_per_hour + gpus * rate_per_gpu_hour) * time_limit // 3600)


@dataclass(frozen=True)
class ProviderTerms:
    """What a provider offers on chain (`Marketplace.Terms`)."""

    rate_per_hour: int
    rate_per_gpu_hour: int = 0
    max_lock: int = 7 * 86400
    retention: int = 30 * 86400
    slots: int = 8  # the agent always says how many; 8 is what a bare rate in a test or bench gets
    gpus: int = 0
    queue: int = 0  # tasks accepted beyond the slots, each waiting for one

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int]:
        return (
            self.rate_per_hour,
            self.rate_per_gpu_hour,
            self.max_lock,
            self.retention,
            self.slots,
            self.gpus,
            self.queue,
        )

    def matches(self, provider: Provider) -> bool:
        return (
            provider.rate_per_hour,
            provider.rate_per_gpu_hour,
            provider.max_lock,
            provider.retention,
            provider.slots,
            provider.gpus,
            provider.queue,
        ) == self.as_tuple()


@dataclass(frozen=True)
class TaskTerms:
    """One task's terms as `createTask` / `createTasks` take them (`Marketplace.TaskTerms`)."""

    provider: str
    payment: int
    task_root: bytes
    time_limit: int = 3600
    gpus: int = 0
    mode: ValidatorMode = ValidatorMode.RANDOM
    validator: str | None = None
    validator_fee: int = 0
    execute_window: int | None = None  # None: the time limit plus DEFAULT_TRANSFER_S
    review_window: int = 3600
    provider_envelope: bytes = b""

    @property
    def value(self) -> int:
        return self.payment + self.validator_fee


@dataclass(frozen=True)
class Rating:
    """A provider's validated record (`Ratings.statsOf`): only tasks decided by drawn validators."""

    validated: int = 0
    passes: int = 0
    fails: int = 0
    count: int = 0  # counted ratings
    paid_volume: int = 0  # wei paid for validated passes
    rated_weight: int = 0  # wei: sum of the payments of rated tasks
    weighted_score: int = 0  # sum of payment x score

    @property
    def average(self) -> float | None:
        """Payment-weighted average score, None before the first counted rating."""
        return self.weighted_score / self.rated_weight if self.rated_weight else None


@dataclass(frozen=True)
class GasPreview:
    """What a state-changing call will cost before it is sent."""

    action: str
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee: int
    value: int

    @property
    def expected_cost(self) -> int:
        """Wei for gas at the current base fee plus tip."""
        return self.gas * min(self.max_fee_per_gas, self.base_fee + self.max_priority_fee_per_gas)

    @property
    def max_cost(self) -> int:
        """Upper bound in wei for gas (gas limit x max fee)."""
        return self.gas * self.max_fee_per_gas


@dataclass(frozen=True)
class TxResult:
    action: str
    tx_hash: str
    block: int
    gas_used: int
    effective_gas_price: int
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fee_paid(self) -> int:
        return self.gas_used * self.effective_gas_price


@dataclass(frozen=True)
class ChainEvent:
    """One decoded contract log."""

    name: str
    block: int
    tx_hash: str
    log_index: int
    args: dict[str, Any]
