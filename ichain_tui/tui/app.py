"""Provides `IchainApp`, the Textual TUI: pools, wallet, submit, transfers, tasks, provider
dashboard. All chain, Docker and transfer work runs in thread workers on the same core `Session`
and agents as the headless commands; results come back as typed messages."""

from __future__ import annotations

import argparse
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.notifications import Notify
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from ..agents.events import AgentEvent
from ..bundled import examples_dir
from ..chain.errors import NodeUnreachable
from ..chain.rpc import RpcStatus
from ..config import Settings
from ..errors import IchainError, one_line
from ..networks import preset, preset_for
from ..recent import RecentFolders
from ..session import Session, TaskPreview
from .closing import dropped_while_closing
from .focus_rules import FocusRules
from .format import block_age, eth, short
from .messages import (
    AgentReported,
    ChunkMoved,
    Connected,
    ConnectFailed,
    Done,
    ModalWanted,
    NodeStatusChanged,
    RefreshWanted,
    TaskPrinted,
    ViewsRead,
    WalletState,
)
from .palette import ActionCommands, help_sections
from .provider_actions import ProviderActions
from .screens.connect import ConnectChoice
from .screens.help import HelpScreen
from .screens.log import LogScreen
from .screens.pools import PoolsPane
from .screens.provider import ProviderPane
from .screens.submit import SubmitPane
from .screens.tasks import TasksPane
from .screens.transfers import TransfersPane
from .screens.wallet import WalletPane
from .status_line import fit
from .submit_actions import SubmitActions
from .sweep_actions import SweepActions
from .tab_labels import TABS, WIDE, tab_label
from .task_actions import TaskActions
from .wallet_actions import WalletActions

EXAMPLES = examples_dir() / "tasks"
SMALL_ROWS = 30  # up to this many rows, one toast at a time
FULL_READ_EVERY_S = 10.0  # the balance and the views are read this often even with no new block
log = logging.getLogger(__name__)


class IchainApp(FocusRules, ProviderActions, SubmitActions, WalletActions, TaskActions, SweepActions):
    CSS_PATH = "app.tcss"
    TITLE = "iChain"
    COMMANDS = App.COMMANDS | {ActionCommands}
    BINDINGS = [
        Binding("p", "tab('pools')", "Pools tab", show=False, id="tab.pools"),
        Binding("w", "tab('wallet')", "Wallet tab", show=False, id="tab.wallet"),
        Binding("s", "tab('submit')", "Submit tab", show=False, id="tab.submit"),
        Binding("t", "tab('transfers')", "Transfers tab", show=False, id="tab.transfers"),
        Binding("k", "tab('tasks')", "Tasks tab", show=False, id="tab.tasks"),
        Binding("v", "tab('provider')", "Provider tab", show=False, id="tab.provider"),
        Binding("u", "unlock", "Unlock", id="wallet.unlock"),
        Binding("n", "new_account", "New account", id="wallet.new"),
        Binding("i", "import_key", "Import key", id="wallet.import"),
        Binding("W", "withdraw", "Withdraw", id="wallet.withdraw"),
        Binding("a", "pick_provider", "Provider", id="submit.pick"),
        Binding("b", "pick_validator", "Validator", id="submit.validator"),
        Binding("ctrl+s", "submit", "Send", id="submit.send"),
        Binding("ctrl+g", "submit_sweep", "Sweep", id="submit.sweep"),
        Binding("o", "toggle_providing", "Provide", id="provider.toggle"),
        Binding("e", "edit_policy", "Policy", id="provider.policy"),
        Binding("x", "withdraw_stake", "Stake back", id="provider.withdraw_stake"),
        Binding("c", "choose_network", "Network", id="connect"),
        Binding("S", "sweeps", "Sweeps", show=False, id="sweeps"),
        Binding("r", "refresh", "Refresh", show=False, id="refresh"),
        Binding("l", "session_log", "Log", show=False, id="log"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        # shown only while a field has the focus: the visible "editing" mode (letters type there)
        Binding("escape", "leave_field", "Leave field", id="leave_field"),
    ]

    # actions that belong to one tab: shown in the footer and active only there
    TAB_OF_ACTION = {
        "new_account": "wallet",
        "import_key": "wallet",
        "withdraw": "wallet",
        "pick_provider": "submit",
        "pick_validator": "submit",
        "submit": "submit",
        "submit_sweep": "submit",
        "toggle_providing": "provider",
        "edit_policy": "provider",
        "withdraw_stake": "provider",
    }

    def __init__(
        self,
        session_factory,
        start_folder: Path | None = None,
        sandbox_factory=None,
        refresh_seconds: float = 1.0,
        initial_folder: Path | None = None,
        keymap: dict[str, str] | None = None,
        settings: Settings | None = None,
    ) -> None:
        """`settings`: what the connect dialog starts from (the factory reads them itself;
        a network chosen there is in `network_choice` when the factory runs again)."""
        super().__init__()
        self.settings = settings or Settings()
        self.network_choice: ConnectChoice | None = None
        self.keymap_setting = dict(keymap or {})  # binding id -> keys (settings `keymap`)
        self.initial_folder = initial_folder
        self.session_factory = session_factory
        self.session: Session | None = None
        self.recent = RecentFolders()
        recent = self.recent.load()
        if start_folder is None:
            start_folder = (
                initial_folder.parent
                if initial_folder is not None
                else recent[0].parent
                if recent
                else Path.cwd()
            )
        self.start_folder = start_folder
        self.recent_folders = recent
        self.sandbox_factory = sandbox_factory
        self.refresh_seconds = refresh_seconds
        self.preview: TaskPreview | None = None
        self.events: list[AgentEvent] = []
        self.provider_stop: threading.Event | None = None
        self.provider_running = None
        self.task_output: dict[int, deque[str]] = {}  # live log lines of my tasks
        self.task_progress: dict[int, deque[dict[str, Any]]] = {}  # their ICHAIN_PROGRESS values
        self.session_log: deque[str] = deque(maxlen=2000)  # the full text of what went wrong (l)
        # what the status bar shows, kept from the last messages (set on the UI thread only)
        self._wallet = WalletState(None, 0, 0, [])
        self._balance_at: float | None = None
        self._read_at = 0.0  # when the views were last read in full (monotonic)
        self._not_connected: str | None = None
        self._node: RpcStatus | None = None
        self._last_toast: tuple[tuple[str, str], float] = (("", ""), 0.0)
        self._modal_queue: list[tuple[Screen[Any], Callable[[Any], object] | None]] = []

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static("connecting…", id="status")
        panes: dict[str, Callable[[], Widget]] = {
            "pools": PoolsPane,
            "wallet": WalletPane,
            "submit": lambda: SubmitPane(self.start_folder, self.recent_folders),
            "transfers": TransfersPane,
            "tasks": TasksPane,
            "provider": ProviderPane,
        }
        with TabbedContent(initial="pools"):
            for pane_id, name, key in TABS:
                with TabPane(tab_label(name, key, WIDE), id=pane_id):
                    yield panes[pane_id]()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.keymap_setting:
            self.set_keymap(self.keymap_setting)
        self.connect()
        if self.refresh_seconds:
            self.set_interval(self.refresh_seconds, self._refresh_quietly)
        self.set_interval(2.0, self.sample_sandbox)

    # ------------------------------------------------------------------ workers
    @work(thread=True, exclusive=True, group="connect", exit_on_error=False, description="connecting")
    def connect(self) -> None:
        try:
            session = self.session_factory()
        except IchainError as exc:
            self.post_message(ConnectFailed(one_line(exc)[:160]))
            raise
        session.chain.on_status(lambda status: self.post_message(NodeStatusChanged(status)))
        session.report = lambda event: self.post_message(AgentReported(event))
        session.progress = lambda p: self.post_message(ChunkMoved(p))
        session.output = lambda task_id, stream, line: self.post_message(TaskPrinted(task_id, stream, line))
        self.post_message(Connected(session))

    @dropped_while_closing
    def on_connect_failed(self, message: ConnectFailed) -> None:
        self._not_connected = message.reason
        self.query_one(WalletPane).show_offline(self.recent_keystores(), message.reason)
        self._show_status()

    @dropped_while_closing
    def on_connected(self, message: Connected) -> None:
        self.session, self._not_connected = message.session, None
        self.action_refresh()
        if self.initial_folder is not None:
            self.action_tab("submit")
            self.query_one(SubmitPane).open_folder(self.initial_folder.resolve())
            self.preview_folder(self.initial_folder.resolve())

    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False, description="refreshing")
    def refresh_views(self, force: bool = True) -> None:
        """Read what changed: nothing at all while no new block arrived (unless `force`), else
        the wallet and the pools' changed rows from the new blocks' logs."""
        s = self.session
        if s is None:
            return
        block = s.chain.block_number()
        if not force and block == self._wallet.block:
            return
        self._read_at = time.monotonic()
        pools = s.pools()
        now = s.now()
        wallet = WalletState(s.address, s.balance(), s.credits(), s.keystores(), block, now)
        self.post_message(ViewsRead(pools, now, sorted(s.my_tasks(), key=lambda t: t.task_id), wallet))

    @dropped_while_closing
    def on_views_read(self, message: ViewsRead) -> None:
        s = self.live
        w = self._wallet = message.wallet
        self._balance_at = time.time()
        self.query_one(PoolsPane).show(message.pools, message.now)
        self.query_one(TasksPane).show(message.mine, message.now)
        funds = preset("local" if s.chain.is_dev else preset_for(s.chain.url or "", s.chain.chain_id).key)
        self.query_one(WalletPane).show(
            w.address,
            s.chain.label,
            s.chain.chain_id,
            w.balance,
            w.credits,
            w.keystores,
            funds.funds.format(address=w.address or "YOUR-ADDRESS"),
        )
        self._show_status()

    def on_done(self, message: Done) -> None:
        self.notify(message.text, title=message.title)
        self.action_refresh()

    def on_refresh_wanted(self, message: RefreshWanted) -> None:
        self.action_refresh()

    def on_modal_wanted(self, message: ModalWanted) -> None:
        self.open_modal(message.screen, message.callback)

    @dropped_while_closing
    def on_node_status_changed(self, message: NodeStatusChanged) -> None:
        self._node = message.status
        self._show_status()

    def _show_status(self) -> None:
        """The status bar says what is true now: not connected (and why), the node retrying or
        down (and since when), and a balance marked with its time when it may be stale. On a
        narrow terminal the least important parts go first (`status_line.fit`)."""
        status = self.query_one("#status", Static)
        width = max(20, self.size.width - 2)
        s = self.session
        if s is None:
            if not self._not_connected:
                status.update("connecting…")
                return
            reason = self._not_connected.replace("cannot reach the node at ", "")  # the URL stays
            parts = [("not connected", 9), (reason, 8), ("c network", 3), ("r retries", 2)]
            status.update(fit(parts, width))
            return
        w = self._wallet
        who = short(w.address) if w.address else "locked"
        network = f"{s.chain.label} ({s.chain.chain_id})"
        money = eth(w.balance)
        credits = f"credits {eth(w.credits)}" if w.credits else ""
        # a devnet mines only when sent something: an old block there is quiet, not stalled
        age = "" if s.chain.is_dev else block_age(w.block_time, time.time())
        block = f"block {w.block}{age}" if w.block else ""
        node = self._node
        if node is not None and node.state != "connected":
            when = (
                time.strftime("%H:%M:%S", time.localtime(self._balance_at)) if self._balance_at else "never"
            )
            parts = [
                (f"⚠ node {node.headline()}", 9),
                (f"({node.detail})" if node.detail else "", 1),
                (who, 4),
                (f"balance as of {when}: {money}", 8),
                (credits, 3),
            ]
        else:
            parts = [(who, 4), (network, 2), (block, 6), (money, 8), (credits, 3)]
        status.update(fit(parts, width))

    def on_resize(self) -> None:
        self._show_status()
        tabs = self.query_one(TabbedContent)
        for pane_id, name, key in TABS:
            tabs.get_tab(pane_id).label = tab_label(name, key, self.size.width)

    @dropped_while_closing
    def on_agent_reported(self, message: AgentReported) -> None:
        event = message.event
        if event.kind in ("output", "progress") and event.task_id is not None:
            self._task_log(event)  # a live log can be long: kept per task, bounded
            return
        self.events.append(event)
        self.follow_in_detail(event)
        if event.role != "requester":
            self.query_one(ProviderPane).log_line(event.line())
        self._name_transfers(event)
        if event.kind in ("error", "declined", "quarantined"):
            self._log_entry(f"{event.role} · task {event.task_id}", f"{event.kind}: {event.message}")
        if event.kind in ("error",):
            self.notify(
                event.message, title=f"{event.role} · task {event.task_id}", severity="error", markup=False
            )
        elif event.kind in (
            "created",
            "validator",
            "rated",
            "refunded",
            "settled",
            "withdrawn",
            "submitted",
            "verdict",
            "paid",
            "registered",
            "hosted",
        ):
            self.notify(event.text(), title=event.role, markup=False)  # peers' words are not markup

    def _task_log(self, event: AgentEvent) -> None:
        task_id = event.task_id
        assert task_id is not None
        detail = self._open_detail(task_id)
        if event.kind == "progress":
            report = dict(event.data["progress"])
            self.task_progress.setdefault(task_id, deque(maxlen=2000)).append(report)
            if detail is not None:
                detail.add_progress(report)
        else:
            self.task_output.setdefault(task_id, deque(maxlen=300)).append(event.message)
            if detail is not None:
                detail.add_output(event.message)

    def _name_transfers(self, event: AgentEvent) -> None:
        """Transfers are named by the task and role the agents' events give their roots."""
        pane = self.query_one(TransfersPane)
        root, task = event.data.get("root"), event.task_id
        if event.kind == "fetching" and root:
            what = event.data.get("what", "file")
            who = "" if event.role == "requester" else f" (as {event.role})"
            pane.name_transfer(root, f"task {task} · {what} from its host{who}", "down", task)
        elif event.kind == "created" and root:
            pane.name_transfer(root, f"task {task} · task files to the provider", "up", task)
        elif event.kind == "submitted" and root:
            pane.name_transfer(root, f"task {task} · result to the requester and validator", "up", task)
        elif event.kind in ("hosting", "hosted"):
            pane.hosting(event.message)
        elif event.kind in ("rated", "refunded", "settled", "closed") and task is not None:
            pane.clear_task(task)

    @dropped_while_closing
    def on_chunk_moved(self, message: ChunkMoved) -> None:
        self.query_one(TransfersPane).update_chunk(message.progress)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place decides how a failed worker is shown: a notification, never a traceback."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        title = getattr(error, "title", None) or event.worker.description or "error"
        if isinstance(error, IchainError):
            text = str(error)
            log.warning("%s: %s", event.worker.description, text)
            self._log_entry(event.worker.description or title, text)
        else:  # the traceback goes to the log (file and l), the user sees one line
            text = f"unexpected {type(error).__name__}: {error} (l shows the details)"
            log.error("%s failed", event.worker.description, exc_info=error)
            details = "".join(traceback.format_exception(error)) if error else text
            self._log_entry(event.worker.description or title, details)
        node_away = self._node is not None and self._node.state != "connected"
        if isinstance(error, NodeUnreachable) and (node_away or self.session is None):
            return  # the status bar already says it, and keeps saying it: no toast every refresh
        key = (title, text.splitlines()[0][:300] if text else "")
        if key == self._last_toast[0] and time.monotonic() - self._last_toast[1] < 30:
            return  # the same failure again within 30 s: once is enough
        self._last_toast = (key, time.monotonic())
        first = text.splitlines()[0][:300] if text else title
        self.notify(first, title=title, severity="error", timeout=8, markup=False)  # may quote a peer

    def _on_notify(self, event: Notify) -> None:
        """Toasts are for events; on a small terminal (up to 30 rows) one at a time, the newest,
        so they never cover the screen (everything also goes to the status line or the log)."""
        if self.size.height <= SMALL_ROWS:
            self._notifications.clear()
        super()._on_notify(event)

    def _log_entry(self, title: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        lines = text.rstrip().splitlines() or [""]
        self.session_log.append(f"{stamp} {title}: {lines[0]}")
        self.session_log.extend(f"         {line}" for line in lines[1:])

    def action_session_log(self) -> None:
        self.open_modal(LogScreen(self.session_log))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows, and the keys do, what the screen in front offers: under a dialog
        the app's keys rest (the dialog's own keys and q remain); a tab's actions only on it."""
        if isinstance(self.screen, ModalScreen):  # Textual's own (Tab, Shift+Tab…) keep working
            return action == "quit" or action not in self._own_actions()
        if action == "leave_field":
            return self._editing()
        tab = self.TAB_OF_ACTION.get(action)
        return tab is None or self.query_one(TabbedContent).active == tab

    @classmethod
    def _own_actions(cls) -> set[str]:
        return {b.action.split("(")[0] for b in cls.BINDINGS if isinstance(b, Binding)}

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()

    # ------------------------------------------------------------------ modals
    @staticmethod
    def _modal_key(screen: Screen[Any]) -> tuple[type, int | None]:
        return type(screen), getattr(screen, "task_id", None)

    def open_modal(self, screen: Screen[Any], callback: Callable[[Any], object] | None = None) -> None:
        """One modal at a time: one asked for while another is open (a worker's rating prompt
        over the picker, say) waits its turn; the same one asked for twice is shown once."""
        key = self._modal_key(screen)
        if self._modal_key(self.screen) == key or any(
            self._modal_key(s) == key for s, _ in self._modal_queue
        ):
            return
        if isinstance(self.screen, ModalScreen):
            self._modal_queue = [*self._modal_queue, (screen, callback)]
            return

        def done(result) -> None:
            if callback is not None:
                callback(result)
            self.call_after_refresh(self._after_modal)

        self.push_screen(screen, done)

    def _after_modal(self) -> None:
        """A dialog closed: the next action is a one-letter key, not typing, so the focus does
        not go back into the field it was in (Esc-less letters would be typed there)."""
        if self._editing():
            self.set_focus(None)
        self.refresh_bindings()
        self._next_modal()

    def _next_modal(self) -> None:
        if self._modal_queue and not isinstance(self.screen, ModalScreen):
            (screen, callback), *self._modal_queue = self._modal_queue
            self.open_modal(screen, callback)

    # ------------------------------------------------------------------ actions
    def action_tab(self, name: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = name
        # focus left in the hidden pane would pull the tabs back to it: let it go
        if self.focused is not None and tabs.get_pane(name) not in self.focused.ancestors_with_self:
            self.set_focus(None)
        self.refresh_bindings()

    def _refresh_quietly(self) -> None:
        """The periodic look for a new block (one call; more only when one arrived). While the
        node is down the chain layer waits out its cool-down (no retry storm)."""
        if self.session is not None and not any(w.is_running and w.group == "refresh" for w in self.workers):
            # balances change without a block too (a devnet's funding): read them on a timer
            due = time.monotonic() - self._read_at >= FULL_READ_EVERY_S
            self.refresh_views(force=due)

    def action_refresh(self) -> None:
        """r: refresh the views, or try to connect again when not connected."""
        if self.session is not None:
            self.session.chain.retry_now()
            self.refresh_views()
        elif self._not_connected is not None:
            self._not_connected = None
            self._show_status()  # connecting…
            self.connect()

    def action_help(self) -> None:
        self.open_modal(HelpScreen(help_sections(self, self.keymap_setting)))

    async def action_quit(self) -> None:
        """q: say so at once (the agents and the host are stopped as the app closes), then exit."""
        self.query_one("#status", Static).update("stopping… (the provider loop and the chunk server)")
        self.call_after_refresh(self.exit)

    def on_unmount(self) -> None:
        if self.provider_stop is not None:
            self.provider_stop.set()
        if self.session is not None:
            self.session.close()


def build(args: argparse.Namespace) -> IchainApp:
    """The app as `ichain` runs it: settings from the config file, the environment and the flags;
    a network chosen in the app (c) replaces them for the next connection."""
    flags: dict[str, object] = {
        "network": getattr(args, "network", None),
        "account": getattr(args, "account", None),
        "market": getattr(args, "market", None),
    }
    settings = Settings.load(None, None, **flags)
    folder = getattr(args, "folder", None)

    def session() -> Session:
        choice = app.network_choice
        if choice is None:
            return Session(settings)
        chosen = {"network": choice.network, "chain_id": choice.chain_id, "market": choice.market}
        return Session(Settings.load(None, None, **{**flags, **chosen}))

    app = IchainApp(
        session,
        initial_folder=Path(folder).expanduser() if folder else None,
        keymap=settings.keymap,
        settings=settings,
    )
    return app


def run(args: argparse.Namespace) -> int:
    from .. import logs

    app = build(args)
    logs.setup("tui", verbose=getattr(args, "verbose", False))
    app.run()
    return 0
