"""Provides the typed messages worker threads post to the TUI."""

from __future__ import annotations

from textual.message import Message

from ..agents.events import AgentEvent
from ..chain.rpc import RpcStatus
from ..transfer.fetcher import ChunkProgress


class AgentReported(Message):
    def __init__(self, event: AgentEvent) -> None:
        super().__init__()
        self.event = event


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
        )


class WalletChanged(Message):
    def __init__(self, address: str | None, balance: int, credits: int) -> None:
        super().__init__()
        self.address, self.balance, self.credits = address, balance, credits


class TaskFollowed(Message):
    """A followed task reached an end (or a pass waiting for the rating)."""

    def __init__(self, task_id: int, state: str, message: str, result_dir: str | None) -> None:
        super().__init__()
        self.task_id, self.state, self.message, self.result_dir = task_id, state, message, result_dir


class NodeStatusChanged(Message):
    """The node connection changed state (connected, retrying, down, wrong chain)."""

    def __init__(self, status: RpcStatus) -> None:
        super().__init__()
        self.status = status
