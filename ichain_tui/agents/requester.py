"""Provides `RequesterAgent`: package and host a task, create it on chain naming the provider and
how the validator is chosen (drawn at random by default, named, or none), follow it, and once the
provider is paid and the result key released, fetch, verify and decrypt the result and rate; on a
rejection or a timeout take the refund (protocol v2).

`follow()` is a loop over chain state, so it can be (re)started at any point of a task's life.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..amounts import format_eth
from ..chain.client import MarketClient
from ..chain.errors import ContractRevert
from ..chain.types import Task, TaskState, ValidatorMode
from ..chain.wallet import public_key
from ..errors import IchainError, one_line
from ..sandbox.taskspec import load_task
from ..transfer.errors import NotServed
from ..transfer.fetcher import Fetcher
from ..transfer.locator import FileRef
from ..transfer.logstream import PROGRESS_PREFIX, progress_of
from ..transfer.manifest import seal_folder
from ..transfer.progress import ProgressCallback
from . import envelopes as env
from .events import AgentEvent, Repeats, Reporter, ignore
from .hosting import Host
from .journal import Journal
from .selection import task_limits

CREATE_ATTEMPTS = 12  # other requesters may take the task id the envelope was bound to
STALLED_DRAW_BLOCKS = 5  # a draw left pending this many blocks is made by the requester


@dataclass(frozen=True)
class Outcome:
    task_id: int
    state: TaskState
    result_dir: Path | None
    message: str

    @property
    def ok(self) -> bool:
        return self.state.provider_paid and self.result_dir is not None


_ENDINGS = {
    TaskState.REJECTED: "the result was rejected: refunded (the provider's stake was slashed unless its appeal was void)",
    TaskState.EXPIRED: "refunded after a deadline",
    TaskState.CANCELLED: "the provider declined: refunded in full",
}


class RequesterAgent:
    def __init__(
        self,
        market: MarketClient,
        host: Host,
        work_dir: Path,
        *,
        fetcher: Fetcher | None = None,
        report: Reporter = ignore,
        progress: ProgressCallback | None = None,
        chunks: int = 0,
    ) -> None:
        self.market = market
        self.me: str = market.signer.address
        self.host = host
        self.work = Path(work_dir) / market.scope  # task ids are unique only within one market
        self.fetcher = fetcher or Fetcher(socks=host.transport.socks)
        self.report = report
        self.progress = progress
        self.chunks = chunks
        self.journal = Journal("requester", self.me, scope=market.scope)

    def _say(self, kind: str, task_id: int | None, message: str, **data: Any) -> None:
        self.report(AgentEvent("requester", kind, task_id, message, data))

    def accept_log(self, task_id: int, provider_key: bytes) -> None:
        """Take the task's live log from its provider: lines as `output` events, `ICHAIN_PROGRESS`
        lines as `progress` events (with the parsed values)."""
        key, context = env.log_key(self.market, task_id, provider_key)

        def lines(batch: list[tuple[str, str]]) -> None:
            for stream, line in batch:
                progress = progress_of(line)
                if progress is not None:
                    self._say("progress", task_id, line.removeprefix(PROGRESS_PREFIX), progress=progress)
                else:
                    self._say("output", task_id, line, stream=stream)

        self.host.logs.accept(key, context, lines)

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        folder: Path,
        provider: str,
        payment: int,
        *,
        mode: ValidatorMode = ValidatorMode.RANDOM,
        validator: str | None = None,
        validator_fee: int = 0,
        execute_window: int | None = None,
        review_window: int = 3600,
    ) -> int:
        """Seal and publish the task folder, then escrow `payment` (+ the fee) for it with
        `provider`. Its time limit and GPU count (from its ichain.toml) are on-chain terms; the
        execute window defaults to the time limit plus DEFAULT_TRANSFER_S."""
        spec = load_task(folder)  # refuse a folder that is not a task before anything is paid
        if validator:
            mode = ValidatorMode.NAMED
        info = self.market.provider(provider)
        if not info.registered:
            raise IchainError(f"{provider} is not a registered provider (on the node's view of the chain)")
        # a folder this side did not read (a test's hostile requester) runs for its whole window
        time_limit, gpus = task_limits(spec, info) if spec is not None else (execute_window or 3600, 0)
        if execute_window is not None:
            time_limit = min(time_limit, execute_window)
        sealed = seal_folder(
            Path(folder), self.work / f"pending-{time.time_ns()}" / "sealed", chunks=self.chunks
        )
        ref = self.host.publish(sealed)
        provider_key = info.public_key
        # the keys are on disk before any transaction that depends on them is sent
        self.journal.stash(
            sealed.root,
            task_dir=str(sealed.directory),
            task_key=sealed.key.hex(),
            folder=str(folder),
            rating=None,
        )
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            expected = self.market.task_count() + 1
            call = self.market.create_task(
                provider=provider,
                mode=mode,
                validator=validator,
                payment=payment,
                validator_fee=validator_fee,
                task_root=bytes.fromhex(sealed.root),
                requester_key=public_key(self.market.signer),
                time_limit=time_limit,
                gpus=gpus,
                execute_window=execute_window,
                review_window=review_window,
                expected_id=expected,
                provider_envelope=env.seal_refs(self.market, provider_key, [ref], expected, "provider"),
            )
            try:
                tx = call.send()
                break
            except ContractRevert as exc:
                if exc.name != "TaskIdTaken" or attempt == CREATE_ATTEMPTS:
                    self.journal.drop_stash(sealed.root)
                    raise
                # another requester took the id the envelope was bound to: bind to the next one
                time.sleep(random.uniform(0.05, 0.3 * attempt))
        task_id = self.market.task_id_of(tx)
        self.journal.adopt(task_id, sealed.root, block=tx.block)
        self.accept_log(task_id, provider_key)
        validator = self.market.task(task_id).validator
        if mode is ValidatorMode.RANDOM:
            who = "validator (random) drawn from this block's hash when the result is committed"
        else:
            who = f"validator {validator} ({mode.label})" if validator else "no validator"
        self._say(
            "created",
            task_id,
            f"escrowed {format_eth(payment + validator_fee)}; provider {provider}, {who}; "
            f"task files served at {ref.address} ({ref.transport})",
            root=sealed.root,
        )
        return task_id

    def has_keys(self, task_id: int) -> bool:
        """Whether this machine holds the task's keys: in its record, or stashed under its package
        root by a submit that stopped between sending `createTask` and hearing it was mined."""
        if self.journal.get(task_id).get("task_key"):
            return True
        facts = env.task_facts(self.market, task_id)
        if not self.journal.stashed(facts.task_root).get("task_key"):
            return False
        self.journal.adopt(task_id, facts.task_root, block=facts.block)
        return True

    def resume_hosting(self, task_id: int) -> None:
        record = self.journal.get(task_id)
        if record.get("task_dir"):
            self.host.republish(Path(record["task_dir"]), bytes.fromhex(record["task_key"]))
        provider = self.market.task(task_id).provider
        if provider:  # its live log comes here again
            self.accept_log(task_id, self.market.provider(provider).public_key)

    # ------------------------------------------------------------------ follow
    def follow(
        self,
        task_id: int,
        result_dir: Path,
        rating: int | None = 5,
        stop: threading.Event | None = None,
        interval: float | None = None,
    ) -> Outcome:
        """Drive the task to an end: returns once the result is in `result_dir` (and rated, unless
        `rating` is None: then the caller rates with `rate`), or the task was refunded. On a public
        chain the task is read once per block (12 s) and the chain's clock only near a deadline."""
        stop = stop or threading.Event()
        public = self.market.chain.kind == "rpc"
        if interval is None:
            interval = 12.0 if public else 0.3
        seen: list[TaskState] = []
        repeats = Repeats()
        while not stop.is_set():
            wait = interval
            try:  # an unreachable node is one reported error and a retry, never the end of the task
                outcome = self._step(task_id, result_dir, rating, seen, public)
                if outcome is not None:
                    return outcome
            except IchainError as exc:
                count = repeats.seen(str(exc))
                if repeats.worth_reporting(count):
                    self._say("error", task_id, str(exc) + (f" (seen {count} times)" if count > 1 else ""))
                wait = repeats.backoff(str(exc), interval)
            stop.wait(wait)
        return Outcome(task_id, self.market.task(task_id).state, None, "stopped")

    def _step(
        self, task_id: int, result_dir: Path, rating: int | None, seen: list[TaskState], public: bool
    ) -> Outcome | None:
        """One look at the task: report a new state, fetch a paid result, end on a final state,
        take a timed exit when a deadline passed (on a public chain only near one: its clock is
        the wall's). None: not over yet."""
        self.market.ensure_still_here()
        task = self.market.task(task_id)
        if not seen or task.state != seen[-1]:
            self._say("state", task_id, task.state.label, state=int(task.state))
            seen.append(task.state)
        if task.state.provider_paid:
            out = self.fetch_result(task_id, result_dir)
            state = task.state
            if rating is not None and not task.rated:
                self.rate(task_id, rating)
                state = TaskState.CLOSED
            return Outcome(task_id, state, out, "result fetched, verified and decrypted")
        if task.state in _ENDINGS:
            self._finish(task_id)
            return Outcome(task_id, task.state, None, self._ending(task))
        near = min(task.deadline, task.bound or task.deadline) - 60
        if not public or time.time() > near or task.state is TaskState.VALIDATING:
            self._timed_exit(task, self.market.chain.timestamp())
        return None

    def _ending(self, task: Task) -> str:
        text = _ENDINGS[task.state]
        if task.state is TaskState.CANCELLED:
            reason = self.market.decline_reason(task.task_id, self.journal.get(task.task_id).get("block", 0))
            if reason:
                text += f" (the provider said: {reason})"
        return text

    def _timed_exit(self, task: Task, now: int) -> None:
        """Take the exit the contract opens to the requester once a deadline passed."""
        state, task_id = task.state, task.task_id
        awaiting_draw = state is TaskState.APPEALED and not task.validator
        if (
            task.draw_pending
            and state in (TaskState.VALIDATING, TaskState.APPEALED)
            and self.market.chain.block_number() > task.draw_block + STALLED_DRAW_BLOCKS
            and now <= task.bound
        ):
            # the provider leaves the draw pending (waiting for the seed to expire, say): make it
            self.market.draw_validator(task_id).send()
            self._say("draw", task_id, "made the validator draw the provider left pending")
            return
        if state is TaskState.ASSIGNED and now > task.deadline:
            self.market.refund(task_id).send()
            self._say("refunded", task_id, "the provider missed its deadline")
        elif (state in (TaskState.EXECUTED, TaskState.VALIDATING) or awaiting_draw) and now > task.bound:
            self.market.refund(task_id).send()
            self._say("refunded", task_id, "the provider never claimed before the task's bound")
        elif state in (TaskState.FAILED, TaskState.APPEALED) and not awaiting_draw and now > task.deadline:
            self.market.settle(task_id).send()
            self._say(
                "settled", task_id, "the fail stands" if state is TaskState.FAILED else "the appeal was void"
            )

    def rate(self, task_id: int, rating: int) -> None:
        self.market.rate(task_id, rating).send()
        self.rated(task_id, rating)

    def rated(self, task_id: int, rating: int) -> None:
        """After the rating transaction (sent here or by the TUI after its preview): report it,
        stop hosting the task files, close the journal record, withdraw what is owed back."""
        self._say("rated", task_id, f"rated the provider {rating}/5")
        self._finish(task_id)

    def fetch_result(self, task_id: int, result_dir: Path) -> Path:
        """Fetch the result and decrypt it with K = HKDF(K1 from my task key || K2 from the chain).
        A result fetched before is copied from where it was put, not fetched again."""
        if result_dir.is_dir() and any(result_dir.iterdir()):
            return result_dir
        record = self.journal.get(task_id)
        earlier = Path(record["result_dir"]) if record.get("result_dir") else None
        if earlier is not None and earlier.is_dir() and any(earlier.iterdir()):
            shutil.copytree(earlier, result_dir, dirs_exist_ok=True)
            self._say("fetched", task_id, f"result copied from {earlier}, where it was fetched before")
            return result_dir
        if not record.get("task_key"):
            raise IchainError(f"task {task_id} was not submitted from this machine: its task key is unknown")
        facts = env.task_facts(self.market, task_id, record.get("block", 0))
        found = env.commitment(self.market, task_id, facts.block)
        k2 = env.released_key(self.market, task_id, facts.block)
        if found is None or k2 is None:
            raise IchainError("the result key is not released yet")
        task = self.market.task(task_id)
        if task.provider is None:
            raise IchainError("the task has no provider")
        refs = env.open_refs(self.market, found.requester_envelope, task_id, "requester", task.provider)
        located = env.pick(refs, found.result_root)
        if located is None:
            raise IchainError("the provider's result envelope does not open with my key")
        key = env.result_key(self.market, task_id, bytes.fromhex(record["task_key"]), k2)
        sources = [FileRef(found.result_root, key, located.transport, located.address)]
        validators = [v for v in (task.validator, task.first_validator) if v]
        for second in env.second_sources(self.market, task_id, validators, facts.block):
            if second.root == found.result_root:
                sources.append(FileRef(found.result_root, key, second.transport, second.address))
        failures: list[str] = []
        for index, ref in enumerate(sources):
            who = "the provider" if index == 0 else "its validator (a second source)"
            self._say(
                "fetching",
                task_id,
                f"result {ref.root[:12]}… from {who} at {ref.address}",
                root=ref.root,
                what="result",
            )
            try:
                self.fetcher.fetch(
                    ref, result_dir, self.work / f"result-{task_id}-chunks", progress=self.progress
                )
                break
            except (NotServed, IchainError) as exc:
                failures.append(f"{who}: {one_line(exc)}")
                shutil.rmtree(result_dir, ignore_errors=True)
        else:
            raise IchainError(
                f"provider {task.provider} was paid but nobody serves the result now ("
                + "; ".join(failures)
                + "); providers keep paid results at least 7 days, so it may be back: trying again"
            )
        self.journal.update(task_id, result_dir=str(result_dir))
        return result_dir

    def close(self, task_id: int) -> None:
        """Stop hosting the task's files and close its record (nothing is sent)."""
        record = self.journal.get(task_id)
        if record.get("task_root"):
            self.host.unpublish(record["task_root"])
        if record:
            self.journal.update(task_id, closed=True)

    def _finish(self, task_id: int) -> None:
        self.close(task_id)
        amount = self.market.credits(self.me)
        if amount > 0:
            self.market.withdraw().send()
            self._say("withdrawn", task_id, f"{format_eth(amount)} back in the wallet")
