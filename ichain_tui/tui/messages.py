"""Provides the typed messages worker threads post to the TUI (the only way a worker hands
anything to the UI; Textual delivers them on the UI thread), and the enums they carry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from ..agents.events import AgentEvent
from ..chain.market_index import TaskSummary
from ..chain.rpc import RpcStatus
from ..chain.types import TaskState
from ..transfer.progress import ChunkProgress

if TYPE_CHECKING:
    from textual.screen import Screen

    from ..session import Pools, Session, TaskPreview


class TaskAction(Enum):
    """What the task detail screen can ask for."""

    REFUND = "refund"
    SETTLE = "settle"
    RATE = "rate"


@dataclass
class AgentReported(Message):
    event: AgentEvent


class ChunkMoved(Message):
    """Per-chunk progress; a newer message for the same chunk replaces a queued older one."""

    def __init__(self, progress: ChunkProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, ChunkMoved)
            and message.progress.root == self.progress.root
            and message.progress.index == self.progress.index
            and message.progress.direction == self.progress.direction
        )


@dataclass
class Connected(Message):
    """The session is up (the node answered and the market is there)."""

    session: Session


@dataclass
class RefreshWanted(Message):
    """Something changed on chain: read the views again."""


@dataclass
class StartProviding(Message):
    """Registration is confirmed (or not needed): start the provider loop."""


@dataclass
class ConnectFailed(Message):
    reason: str  # one line


@dataclass(frozen=True)
class WalletState:
    address: str | None
    balance: int
    credits: int
    keystores: list[str]
    block: int = 0  # the head when this was read
    block_time: int = 0  # its timestamp


@dataclass
class ViewsRead(Message):
    """One refresh's reading of the chain: the pools, my tasks and my wallet, at chain time `now`."""

    pools: Pools
    now: int
    mine: list[TaskSummary]
    wallet: WalletState


@dataclass
class Done(Message):
    """A worker's action went through: say so, and refresh the views."""

    text: str
    title: str


@dataclass
class FolderChecked(Message):
    folder: Path
    preview: TaskPreview


@dataclass
class FolderRefused(Message):
    reason: str  # one line, shown in the form


@dataclass
class ModalWanted(Message):
    """A worker needs the user: the screen joins the queue of modals (one at a time)."""

    screen: Screen[Any]
    callback: Callable[[Any], object] | None = None


@dataclass
class TaskFollowed(Message):
    """A followed task reached an end (or a pass waiting for the rating)."""

    task_id: int
    state: TaskState
    message: str
    result_dir: Path | None


@dataclass
class TaskRated(Message):
    """The rating transaction was confirmed and sent."""

    task_id: int
    rating: int


@dataclass
class ProviderShown(Message):
    running: bool
    busy_with: int | None
    credits: int
    stake: int
    earnings: list[int]  # wei of each credit received, oldest first


@dataclass
class TaskPrinted(Message):
    """A line a task running in this machine's sandbox printed."""

    task_id: int
    stream: str  # stdout | stderr
    line: str


@dataclass
class NodeStatusChanged(Message):
    """The node connection changed state (connected, retrying, down, wrong chain)."""

    status: RpcStatus
