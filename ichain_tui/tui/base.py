"""Provides `AppBase`: what the app's action groups (`ProviderActions`, `SubmitActions`) share —
the attributes `IchainApp` sets, declared once, and the session accessors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.message import Message

from ..errors import IchainError

if TYPE_CHECKING:
    from collections import deque
    from typing import Any

    from ..agents.events import AgentEvent
    from ..agents.provider import ProviderAgent
    from ..chain.rpc import RpcStatus
    from ..chain.transactions import PreparedCall
    from ..config import Settings
    from ..recent import RecentFolders
    from ..sandbox.runner import Sandbox
    from ..session import Session, TaskPreview
    from .screens.connect import ConnectChoice


class AppBase(App[None]):
    """The base of `IchainApp`, which sets the attributes declared here and `open_modal`."""

    session: Session | None
    settings: Settings
    network_choice: ConnectChoice | None
    events: list[AgentEvent]
    task_output: dict[int, deque[str]]
    task_progress: dict[int, deque[dict[str, Any]]]
    _not_connected: str | None
    _node: RpcStatus | None
    sandbox_factory: Callable[[], Sandbox] | None
    provider_stop: threading.Event | None
    provider_running: tuple[Sandbox, ProviderAgent] | None  # while providing: for the dashboard
    preview: TaskPreview | None
    recent: RecentFolders
    open_modal: Callable[..., None]

    @property
    def live(self) -> Session:
        """The connected session; a worker started before the connection gets one clear line."""
        if self.session is None:
            raise IchainError("not connected to a chain yet (r retries)")
        return self.session

    def _need_session(self) -> Session | None:
        if self.session is None:
            self.notify("not connected to a chain yet", severity="warning")
        return self.session

    rate: Callable[[int, int], object]  # SubmitActions' worker
    action_refresh: Callable[[], None]  # IchainApp's
    connect: Callable[[], object]  # IchainApp's worker
    _show_status: Callable[[], None]  # IchainApp's
    _log_entry: Callable[[str, str], None]  # IchainApp's: a line in the session log (l)

    def confirm_then_send(self, call: PreparedCall, title: str, lines: list[str], done: Message) -> None:
        """From a worker: every value-moving transaction goes through the same dialog with its gas
        and cost preview (`ConfirmScreen`); only Enter sends it, then `done` is posted."""
        from .messages import ModalWanted
        from .screens.confirm import ConfirmScreen

        preview = call.preview()  # a call the contract would refuse fails here, as one line

        def confirmed(ok: bool) -> None:
            if ok:
                self.send_confirmed(call, done)

        self.post_message(ModalWanted(ConfirmScreen(title, preview, lines), confirmed))

    @work(thread=True, group="send", exit_on_error=False, description="Transaction")
    def send_confirmed(self, call: PreparedCall, done: Message) -> None:
        call.send()
        self.post_message(done)
