"""Provides `Session`: what an interactive front end needs from the core, in one object — the
wallet, the connected market, the requester agent with its host and fetcher, pools and previews.

It holds no UI code; the TUI calls it from worker threads and turns its callbacks into messages.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import locations
from .agents import factory
from .agents.events import AgentEvent, Reporter, TaskOutput, ignore
from .agents.hosting import Host
from .agents.requester import Outcome, RequesterAgent
from .agents.selection import Candidate
from .chain import deployments
from .chain.client import MarketClient
from .chain.errors import ChainError, WalletError
from .chain.market_index import MarketIndex, TaskSummary
from .chain.network import Chain
from .chain.types import GasPreview, Task, TaskState, ValidatorMode
from .chain.wallet import Wallet, public_key
from .config import Settings
from .connection import open_chain
from .errors import IchainError
from .sandbox.taskspec import TaskSpec, load_task
from .transfer.manifest import SealedFile, seal_folder
from .transfer.progress import ChunkProgress, ProgressCallback

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from .agents.provider import ProviderAgent
    from .agents.sweep import SweepRunner
    from .agents.sweep_state import SweepState
    from .chain.transactions import PreparedCall
    from .sandbox.runner import Sandbox


@dataclass(frozen=True)
class TaskTerms:
    """What a requester offers for one task: who runs it, for how much, how it is validated and
    how long each step may take."""

    provider: str
    payment: int
    fee: int
    execute_window: int
    review_window: int
    mode: ValidatorMode = ValidatorMode.RANDOM
    validator: str | None = None
    time_limit: int = 3600  # on-chain terms: the payment covers the provider's rates x this
    gpus: int = 0


@dataclass(frozen=True)
class TaskPreview:
    spec: TaskSpec
    sealed: SealedFile

    @property
    def size(self) -> int:
        return self.sealed.manifest.total_size

    @property
    def chunks(self) -> int:
        return len(self.sealed.manifest.chunks)

    @property
    def root(self) -> str:
        return self.sealed.root


POOLS = ("executing", "delivered", "validating", "finished")
_POOL_OF_STATE = {
    TaskState.ASSIGNED: "executing",  # the provider runs it until its deadline
    TaskState.EXECUTED: "delivered",  # result committed, no validator: payment on the key's reveal
    TaskState.VALIDATING: "validating",
    TaskState.FAILED: "validating",  # the provider may appeal
    TaskState.APPEALED: "validating",
}


def pool_of(state: TaskState) -> str:
    """Which pool a task in `state` is in (one of `POOLS`)."""
    return _POOL_OF_STATE.get(state, "finished")


@dataclass(frozen=True)
class Pools:
    """What changed in the market since the last reading (everything when `reset`)."""

    tasks: list[TaskSummary]  # changed tasks, by id
    providers: list[Candidate]  # changed registered providers (available or not)
    reset: bool
    counts: dict[str, int]  # tasks in each pool, after the change
    block: int  # the newest block the reading includes


class Session:
    def __init__(
        self,
        settings: Settings,
        chain: Chain | None = None,
        market_address: str | None = None,
        wallet: Wallet | None = None,
        results_root: Path | None = None,
    ) -> None:
        self.settings = settings
        self.results_root = results_root
        self.wallet = wallet or Wallet()
        self.chain = chain or open_chain(settings)
        address = market_address or settings.market or deployments.recorded(self.chain.chain_id)
        if not address:
            raise ChainError(
                f"no Marketplace known for chain {self.chain.chain_id}: run `ichain chain deploy`"
            )
        self.market = MarketClient(self.chain, address)
        self.index = MarketIndex(self.market)
        self._pools_seen = (0, -1)  # (index generation, block) the last `pools()` reported up to
        self.account: LocalAccount | None = None
        self.requester: RequesterAgent | None = None
        self.host: Host | None = None
        self.report: Reporter = ignore
        self.progress: ProgressCallback | None = None
        self.output: TaskOutput = lambda task_id, stream, line: None  # lines tasks print here
        self._previews = Path(tempfile.mkdtemp(prefix="ichain-session-"))
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ wallet
    @property
    def address(self) -> str | None:
        return self.account.address if self.account else None

    def keystores(self) -> list[str]:
        return [e.address for e in self.wallet.entries()]

    def unlock(self, password: str, address: str | None = None) -> str:
        account = self.account = self.wallet.unlock(password, address or self.settings.account)
        self.market = self.market.as_account(account)
        self.requester = None
        return str(account.address)

    def create_account(self, password: str) -> str:
        entry = self.wallet.create(password)
        return self.unlock(password, entry.address)

    def import_private_key(self, key: str, password: str) -> str:
        entry = self.wallet.import_private_key(key, password)
        return self.unlock(password, entry.address)

    def balance(self) -> int:
        return self.chain.balance(self.address) if self.address else 0

    def credits(self) -> int:
        return self.market.credits(self.address) if self.address else 0

    # ------------------------------------------------------------------ market views
    def providers(self) -> list[Candidate]:
        """Every registered provider (available or not) with its validated record."""
        self.index.sync()
        return [Candidate(p, self.index.rating(a)) for a, p in self.index.providers.items()]

    def pools(self) -> Pools:
        """Tasks and providers changed since the last call (all of them the first time, or after
        the index started over): new logs only, after a first whole read."""
        index = self.index
        index.sync()
        reset = index.generation != self._pools_seen[0]
        tasks, addresses = index.changed_since(-1 if reset else self._pools_seen[1])
        self._pools_seen = (index.generation, index.block)
        counts = dict.fromkeys(POOLS, 0)
        for task in list(index.tasks.values()):
            counts[pool_of(task.state)] += 1
        providers = index.providers
        return Pools(
            tasks=tasks,
            providers=[Candidate(providers[a], index.rating(a)) for a in addresses if a in providers],
            reset=reset,
            counts=counts,
            block=index.block,
        )

    def my_tasks(self) -> list[TaskSummary]:
        """Tasks the unlocked account created, runs or validates (from the index: no reads)."""
        me = self.address
        if me is None:
            return []
        return [t for t in self.index.tasks.values() if me in (t.requester, t.provider, t.validator)]

    def earnings(self) -> list[int]:
        """Wei of each credit this account received (payments, fees, refunds), oldest first."""
        if self.address is None:
            return []
        return [
            int(e.args["amount"]) for e in self.market.events("Credited", filters={"account": self.address})
        ]

    def task(self, task_id: int) -> Task:
        return self.market.task(task_id)

    def now(self) -> int:
        return self.chain.timestamp()

    # ------------------------------------------------------------------ requester flow
    def _work_dir(self) -> Path:
        if self.account is None:
            raise WalletError("unlock a wallet first (u)")
        return locations.work_dir() / self.account.address.lower()

    def _ensure_host(self) -> Host:
        with self._lock:
            if self.host is None:  # the same transport and identity file the headless commands use
                how = "an onion service (tor)" if self.settings.transport == "tor" else "direct TCP"
                self.report(
                    AgentEvent("requester", "hosting", None, f"publishing the chunk server over {how}…")
                )
                started = time.monotonic()
                self.host = factory.open_host(self.settings, self.address)
                self.host.server.on_progress(self._progress)
                self.report(
                    AgentEvent(
                        "requester",
                        "hosted",
                        None,
                        f"files are served at {self.host.address} ({time.monotonic() - started:.1f} s)",
                        {"address": self.host.address, "transport": self.host.transport.name},
                    )
                )
            return self.host

    def _agent(self) -> RequesterAgent:
        work = self._work_dir()
        host = self._ensure_host()
        with self._lock:
            if self.requester is None:
                self.requester = factory.requester_agent(
                    self.settings, self.market, host, work, self._report, self._progress
                )
            return self.requester

    def sweeps(self) -> list[SweepState]:
        """This account's sweeps on this market, from their journals (oldest first)."""
        from .agents.sweep_state import list_sweeps

        if self.address is None:
            return []
        return list_sweeps(self.address, self.market.scope)

    def new_sweep(self, folder: Path, spec: TaskSpec, report: Reporter) -> SweepRunner:
        """A new sweep of `folder` (its `[sweep]` table), journaled and prepared, nothing sent;
        results go to the app's data folder."""
        from .agents.sweep import SweepRunner
        from .agents.sweep_spec import build

        if self.address is None:
            raise IchainError("unlock a wallet first (u)")
        sweep = build(spec.sweep)
        results = locations.data_dir() / "sweep-results"
        runner = SweepRunner.new(self._agent(), folder, spec, sweep, results, report)
        runner.state.results_dir = str(results / runner.state.sweep_id)
        runner.requester_fee = self.settings.validator_fee_wei
        return runner

    def sweep_runner(self, sweep_id: str, report: Reporter) -> SweepRunner:
        """A runner for one of this account's sweeps (to resume it in this session)."""
        from .agents.sweep import SweepRunner
        from .agents.sweep_state import load

        if self.address is None:
            raise IchainError("unlock a wallet first (u)")
        runner = SweepRunner(self._agent(), load(self.address, self.market.scope, sweep_id), report)
        runner.requester_fee = self.settings.validator_fee_wei
        return runner

    def provider_agent(self, sandbox: Sandbox) -> ProviderAgent:
        """The same provider agent `ichain provide --headless` runs, for this wallet and host."""
        return factory.provider_agent(
            self.settings,
            self.market,
            sandbox,
            self._ensure_host(),
            self._work_dir() / "provider",
            self._report,
            self._progress,
            output=lambda task_id, stream, line: self.output(task_id, stream, line),
        )

    def _report(self, event: AgentEvent) -> None:
        self.report(event)

    def _progress(self, progress: ChunkProgress) -> None:
        if self.progress is not None:
            self.progress(progress)

    def preview_task(self, folder: Path) -> TaskPreview:
        spec = load_task(folder)
        sealed = seal_folder(
            folder,
            self._previews / f"preview-{spec.folder.name}-{threading.get_ident()}",
            chunks=self.settings.chunks,
        )
        return TaskPreview(spec, sealed)

    def preview_create(self, preview: TaskPreview, terms: TaskTerms) -> GasPreview:
        if self.account is None:
            raise WalletError("unlock a wallet first (u)")
        placeholder_envelope = b"\x00" * 230  # a real envelope's size; its bytes barely change the estimate
        return self.market.create_task(
            provider=terms.provider,
            mode=terms.mode,
            validator=terms.validator,
            payment=terms.payment,
            validator_fee=terms.fee,
            task_root=bytes.fromhex(preview.root),
            requester_key=public_key(self.account),
            time_limit=terms.time_limit,
            gpus=terms.gpus,
            execute_window=terms.execute_window,
            review_window=terms.review_window,
            provider_envelope=placeholder_envelope,
        ).preview()

    def submit(self, folder: Path, terms: TaskTerms) -> int:
        return self._agent().submit(
            folder,
            terms.provider,
            terms.payment,
            mode=terms.mode,
            validator=terms.validator,
            validator_fee=terms.fee,
            execute_window=terms.execute_window,
            review_window=terms.review_window,
        )

    def result_dir(self, task_id: int) -> Path:
        """Where the task's decrypted result goes: under `results_root` when one was given (the
        demo's --keep), else in this app's data folder, per market."""
        root = self.results_root or locations.work_dir() / "results" / self.market.scope
        return root / f"task-{task_id}"

    def result_path(self, task_id: int) -> Path | None:
        """The task's result folder, once a result is in it."""
        path = self.result_dir(task_id)
        return path if path.is_dir() and any(path.iterdir()) else None

    def follow(self, task_id: int, stop: threading.Event | None = None) -> Outcome:
        return self._agent().follow(task_id, self.result_dir(task_id), rating=None, stop=stop)

    def rate(self, task_id: int, rating: int) -> None:
        self._agent().rate(task_id, rating)

    def prepare_rate(self, task_id: int, rating: int) -> PreparedCall:
        """The rating transaction, for its preview before it is sent."""
        return self.market.rate(task_id, rating)

    def rated(self, task_id: int, rating: int) -> None:
        self._agent().rated(task_id, rating)

    def close(self) -> None:
        if self.host is not None:
            factory.close_host(self.host)
