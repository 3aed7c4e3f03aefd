"""Provides `MarketIndex`: every task and provider of a market, built from its logs and kept
current from new logs only.

The first `sync` reads the market's (and its Ratings contract's) whole history with raw
`eth_getLogs` in the ranges the node accepts and the ratings of all providers with one
`statsOfMany` call per 500; later syncs read only the logs of blocks not seen yet and re-read only
the ratings those logs touch. Only settled blocks (`Chain.settled_block`) are applied, so a reorg
of younger blocks never shows; a reverted development chain starts the index over.

Every task state change goes through the contract's `_setState`, which emits `TaskStateChanged`;
every provider field shown here has its own event: the logs are the whole story.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from eth_abi.abi import decode
from web3 import Web3

from ..hardware import HardwareProfile
from .client import MarketClient
from .events import read_logs
from .types import Provider, Rating, TaskState, ValidatorMode

RATINGS_PER_CALL = 1000

# ProviderAssigned is left out: it is emitted only by createTask, whose TaskCreated names the
# provider too (and it carries an envelope: a fifth of a whole history's bytes)
TASK_EVENTS = ("TaskCreated", "ValidatorAssigned", "DrawRequested", "TaskStateChanged")
PROVIDER_EVENTS = (
    "ProviderRegistered",
    "ProviderUpdated",
    "TermsChanged",
    "AvailabilityChanged",
    "StakeChanged",
)


@dataclass(frozen=True)
class TaskSummary:
    """A task as its events tell it (what the pools show; `MarketClient.task` has the rest)."""

    task_id: int
    requester: str
    provider: str | None
    validator: str | None
    mode: ValidatorMode
    payment: int
    validator_fee: int
    state: TaskState
    deadline: int
    block: int  # of the latest change


@dataclass(frozen=True)
class Changes:
    """What one `sync` changed: task ids and provider addresses; `reset`: everything is new."""

    tasks: frozenset[int] = frozenset()
    providers: frozenset[str] = frozenset()
    reset: bool = False
    block: int = 0

    def __bool__(self) -> bool:
        return self.reset or bool(self.tasks) or bool(self.providers)


@dataclass
class _State:
    tasks: dict[int, TaskSummary] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    ratings: dict[str, Rating] = field(default_factory=dict)
    provider_blocks: dict[str, int] = field(default_factory=dict)  # block of each one's latest change
    block: int = -1  # the newest block applied


class MarketIndex:
    """Tasks and providers of `market`, current up to `block` (the newest settled block synced)."""

    def __init__(self, market: MarketClient) -> None:
        self.market = market
        self._lock = threading.Lock()
        self._state = _State()
        self._rewinds = market.chain.rewinds
        self.generation = 0  # how often the index started over (a reader's "changed since" resets)
        self._names: dict[str, str] = {  # topic 0 -> event name
            _hex(getattr(market.contract.events, name).topic): name
            for name in (*TASK_EVENTS, *PROVIDER_EVENTS)
        }
        self._names[_hex(market.ratings.events.Rated.topic)] = "Rated"
        self.logs_read = 0

    # ------------------------------------------------------------------ reading
    @property
    def block(self) -> int:
        return self._state.block

    @property
    def tasks(self) -> dict[int, TaskSummary]:
        return self._state.tasks

    @property
    def providers(self) -> dict[str, Provider]:
        return self._state.providers

    def rating(self, address: str) -> Rating:
        return self._state.ratings.get(address, Rating())

    def changed_since(self, block: int) -> tuple[list[TaskSummary], list[str]]:
        """Tasks (by id) and provider addresses changed in blocks after `block` (-1: all)."""
        with self._lock:
            state = self._state
            tasks = sorted((t for t in state.tasks.values() if t.block > block), key=lambda t: t.task_id)
            providers = [a for a, b in state.provider_blocks.items() if b > block]
            return tasks, providers

    def sync(self) -> Changes:
        """Apply the logs of the settled blocks not seen yet; returns what changed."""
        with self._lock:
            chain = self.market.chain
            reset = self._state.block < 0 or chain.rewinds != self._rewinds
            if reset:
                self._state, self._rewinds = _State(), chain.rewinds
                self.generation += 1
            settled = chain.settled_block()
            start = max(self._state.block + 1, self.market.deploy_block)
            if settled < start:
                return Changes(reset=reset, block=self._state.block)
            tasks: set[int] = set()
            providers: set[str] = set()
            rerate: set[str] = set()
            logs = read_logs(
                chain.w3,
                [self.market.address, self.market.ratings_address],
                [list(self._names)],
                start,
                settled,
                self.market.log_window,
                raw=True,
            )
            self.logs_read += len(logs)
            for log in logs:
                self._apply(log, tasks, providers, rerate)
            if reset:
                rerate = set(self._state.providers)
            self._read_ratings(rerate)
            for address in providers | rerate:
                self._state.provider_blocks[address] = settled
            self._state.block = settled
            return Changes(frozenset(tasks), frozenset(providers | rerate), reset, settled)

    # ------------------------------------------------------------------ applying logs
    def _apply(self, log: dict[str, Any], tasks: set[int], providers: set[str], rerate: set[str]) -> None:
        """One log, as the node's JSON (hex strings). A whole market's history is tens of thousands
        of these, so task logs are read straight from the hex and their summaries built directly."""
        topics = log["topics"]
        name = self._names.get(topics[0])
        if name is None:
            return
        data = log["data"]
        block = int(log["blockNumber"], 16)
        state = self._state
        if name in PROVIDER_EVENTS:
            address = _address(topics[1])
            self._apply_provider(name, address, data)
            providers.add(address)
            return
        if name == "Rated":
            rerate.add(_address(topics[1]))
            return
        task_id = int(topics[1], 16)
        tasks.add(task_id)
        if name == "TaskCreated":
            state.tasks[task_id] = TaskSummary(
                task_id=task_id,
                requester=_address(topics[2]),
                provider=_optional_address(topics[3]),
                validator=None,
                mode=ValidatorMode(_hex_word(data, 0)),
                payment=_hex_word(data, 1),
                validator_fee=_hex_word(data, 2),
                state=TaskState.ASSIGNED,
                deadline=0,
                block=block,
            )
            created = state.tasks[task_id].provider
            if created:
                self._running(created, +1)
                providers.add(created)
            return
        task = state.tasks.get(task_id)
        if task is None:  # a log of a task created before the history read (cannot happen on a whole read)
            return
        new_state, deadline, validator = task.state, task.deadline, task.validator
        if name == "TaskStateChanged":
            new_state, deadline = TaskState(int(topics[2], 16)), _hex_word(data, 0)
            if task.state is TaskState.ASSIGNED and new_state is not TaskState.ASSIGNED and task.provider:
                self._running(task.provider, -1)
                providers.add(task.provider)
            if new_state in (TaskState.PASSED, TaskState.REJECTED) and task.provider:
                rerate.add(task.provider)  # the only states in which Ratings records a verdict
        elif name == "ValidatorAssigned":
            validator = _address(topics[2])
        elif name == "DrawRequested":  # a new draw: nobody is the validator until it is resolved
            validator = None
        state.tasks[task_id] = TaskSummary(
            task_id,
            task.requester,
            task.provider,
            validator,
            task.mode,
            task.payment,
            task.validator_fee,
            new_state,
            deadline,
            block,
        )

    def _apply_provider(self, name: str, address: str, data: str) -> None:
        """`data`: the log's data as hex. Every task moves its provider's stake, so StakeChanged
        is most of a market's logs: it is read from the hex, the record built directly."""
        known = self._state.providers.get(address)
        if name == "ProviderRegistered":
            key, stake, hardware = decode(["bytes", "uint256", "string"], bytes.fromhex(data[2:]))
            self._state.providers[address] = Provider(
                address=address,
                stake=int(stake),
                locked=0,
                rate_per_hour=0,  # TermsChanged follows in the same transaction
                registered=True,
                available=False,  # AvailabilityChanged follows in the same transaction
                public_key=bytes(key),
                hardware=HardwareProfile.parse(str(hardware)),
            )
            return
        if known is None:
            return
        if name == "TermsChanged":
            rate, gpu_rate, max_lock, retention, slots, gpus, queue = (_hex_word(data, i) for i in range(7))
            changed = replace(
                known,
                rate_per_hour=rate,
                rate_per_gpu_hour=gpu_rate,
                max_lock=max_lock,
                retention=retention,
                slots=slots,
                gpus=gpus,
                queue=queue,
            )
        elif name == "ProviderUpdated":
            (text,) = decode(["string"], bytes.fromhex(data[2:]))
            changed = replace(known, hardware=HardwareProfile.parse(str(text)))
        elif name == "AvailabilityChanged":
            changed = replace(known, available=bool(_hex_word(data, 0)))
        elif name == "StakeChanged":
            changed = Provider(  # most of a market's logs: built directly, not through replace()
                known.address,
                _hex_word(data, 0),
                _hex_word(data, 1),
                known.rate_per_hour,
                known.registered,
                known.available,
                known.public_key,
                known.hardware,
                known.max_lock,
                known.retention,
                known.rate_per_gpu_hour,
                known.slots,
                known.running,
                known.gpus,
                known.queue,
            )
        else:
            return
        self._state.providers[address] = changed

    def _running(self, provider: str | None, delta: int) -> None:
        """A task of `provider` entered (+1) or left (-1) Assigned: its running count on chain."""
        known = self._state.providers.get(provider or "")
        if known is not None:
            self._state.providers[known.address] = replace(known, running=max(0, known.running + delta))

    def _read_ratings(self, addresses: set[str]) -> None:
        wanted = sorted(addresses)
        for start in range(0, len(wanted), RATINGS_PER_CALL):
            batch = wanted[start : start + RATINGS_PER_CALL]
            self._state.ratings.update(zip(batch, self.market.ratings_of(batch), strict=True))


def _hex(topic: Any) -> str:
    text = topic if isinstance(topic, str) else bytes(topic).hex()
    return "0x" + text.removeprefix("0x").lower()


def _hex_word(data: str, index: int) -> int:
    """Word `index` of a log's data as the node sends it ("0x" and 64 hex digits a word)."""
    return int(data[2 + 64 * index : 66 + 64 * index] or "0", 16)


@lru_cache(maxsize=65536)
def _address(topic: str) -> str:
    """The checksummed address in a topic (cached: a market's logs name the same few thousand)."""
    return Web3.to_checksum_address(int(topic, 16).to_bytes(20, "big"))


def _optional_address(topic: str) -> str | None:
    return None if int(topic, 16) == 0 else _address(topic)
