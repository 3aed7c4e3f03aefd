"""Provides the typed values the chain client returns: task states, tasks, providers, receipts, previews."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class TaskState(IntEnum):
    NONE = 0
    CREATED = 1
    ASSIGNED = 2
    EXECUTED = 3
    VALIDATING = 4
    PASSED = 5
    FAILED = 6
    CLOSED = 7
    CANCELLED = 8
    EXPIRED = 9

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def is_final(self) -> bool:
        return self in (TaskState.FAILED, TaskState.CLOSED, TaskState.CANCELLED, TaskState.EXPIRED)


@dataclass(frozen=True)
class Task:
    task_id: int
    requester: str
    state: TaskState
    deadline: int
    execute_window: int
    review_window: int
    provider: str | None
    payment: int
    validator: str | None
    validator_fee: int
    result_root: bytes | None


@dataclass(frozen=True)
class Provider:
    address: str
    stake: int
    locked: int
    price: int
    registered: bool
    available: bool
    public_key: bytes
    hardware: str

    @property
    def free_stake(self) -> int:
        return self.stake - self.locked


@dataclass(frozen=True)
class Rating:
    count: int
    total: int

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None


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
