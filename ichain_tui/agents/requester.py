"""Provides `RequesterAgent`: package and host a task, create it on chain naming the provider (and
optionally the validator), follow it, name a validator once the result is committed, fetch and
decrypt the result after a pass, finalise and rate; on a fail or a timeout take the refund.

`follow()` is a loop over chain state, so it can be (re)started at any point of a task's life.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..chain.client import MarketClient
from ..chain.errors import ContractRevert
from ..chain.types import TaskState
from ..chain.wallet import public_key
from ..errors import IchainError
from ..sandbox.taskspec import load_task
from ..transfer.fetcher import Fetcher, ProgressCallback
from ..transfer.locator import FileRef
from ..transfer.manifest import seal_folder
from .envelopes import pick, refs_for_me, seal_refs
from .events import AgentEvent, Reporter, ignore
from .hosting import Host
from .journal import Journal
from .selection import choose_validator


@dataclass(frozen=True)
class Outcome:
    task_id: int
    state: TaskState
    result_dir: Path | None
    message: str

    @property
    def ok(self) -> bool:
        return self.state is TaskState.CLOSED and self.result_dir is not None


class RequesterAgent:
    def __init__(self, market: MarketClient, host: Host, work_dir: Path, *, fetcher: Fetcher | None = None,
                 report: Reporter = ignore, progress: ProgressCallback | None = None, chunks: int = 0) -> None:
        self.market = market
        self.me = market.account.address
        self.host = host
        self.work = Path(work_dir)
        self.fetcher = fetcher or Fetcher()
        self.report = report
        self.progress = progress
        self.chunks = chunks
        self.journal = Journal("requester", self.me)

    def _say(self, kind: str, task_id: int | None, message: str, **data) -> None:
        self.report(AgentEvent("requester", kind, task_id, message, data))

    # ------------------------------------------------------------------ submit
    def submit(self, folder: Path, provider: str, payment: int, *, validator: str | None = None,
               validator_fee: int = 0, execute_window: int = 3600, review_window: int = 3600) -> int:
        load_task(folder)  # refuse a folder that is not a task before anything is paid
        sealed = seal_folder(Path(folder), self.work / f"pending-{time.time_ns()}" / "sealed", chunks=self.chunks)
        ref = self.host.publish(sealed)
        provider_env = seal_refs(self.market.provider(provider).public_key, [ref])
        validator_env = seal_refs(self.market.provider(validator).public_key, [ref]) if validator else b""
        tx = self.market.create_task(
            provider=provider, validator=validator, payment=payment, validator_fee=validator_fee,
            task_root=bytes.fromhex(sealed.root), requester_key=public_key(self.market.account),
            execute_window=execute_window, review_window=review_window,
            provider_envelope=provider_env, validator_envelope=validator_env,
        ).send()
        task_id = self.market.task_id_of(tx)
        self.journal.update(task_id, task_dir=str(sealed.directory), task_key=sealed.key.hex(), task_root=sealed.root,
                            folder=str(folder), rating=None)
        self._say("created", task_id, f"escrowed {(payment + validator_fee) / 1e18:g} ETH; provider {provider}",
                  root=sealed.root)
        return task_id

    def resume_hosting(self, task_id: int) -> None:
        record = self.journal.get(task_id)
        if record.get("task_dir"):
            self.host.republish(Path(record["task_dir"]), bytes.fromhex(record["task_key"]))

    # ------------------------------------------------------------------ follow
    def follow(self, task_id: int, result_dir: Path, rating: int | None = 5, stop: threading.Event | None = None,
               interval: float = 0.3, auto_validator: bool = True, reassign: bool = True) -> Outcome:
        """Drive the task to an end: returns when it is closed, failed, expired or cancelled.
        With `rating=None` it stops after a pass once the result is fetched (state Passed), so the
        caller can ask for the rating and call `finalize`."""
        stop = stop or threading.Event()
        last_state = None
        excluded: set[str] = set()
        while not stop.is_set():
            task = self.market.task(task_id)
            if task.state != last_state:
                self._say("state", task_id, task.state.label, state=int(task.state))
                last_state = task.state
            now = self.market.chain.timestamp()
            try:
                if task.state is TaskState.EXECUTED and auto_validator:
                    self._name_validator(task, excluded)
                elif task.state is TaskState.PASSED:
                    out = self._fetch_result(task, result_dir)
                    if rating is None:
                        return Outcome(task_id, TaskState.PASSED, out, "result fetched; waiting for your rating")
                    self.market.finalize_and_rate(task_id, rating).send()
                    self._say("finalized", task_id, f"paid the provider, rated {rating}/5")
                    self._finish(task_id)
                    return Outcome(task_id, TaskState.CLOSED, out, "result fetched, verified and decrypted")
                elif task.state is TaskState.ASSIGNED and now > task.deadline:
                    self.market.refund(task_id).send()
                    self._say("refunded", task_id, "the provider missed its deadline")
                elif task.state is TaskState.VALIDATING and now > task.deadline:
                    if reassign:
                        excluded.add(task.validator or "")
                        self._name_validator(task, excluded, replacing=True)
                    else:
                        self.market.refund(task_id).send()
                        self._say("refunded", task_id, "the validator missed its deadline")
                elif task.state.is_final:
                    self._finish(task_id)
                    closed_ok = task.state is TaskState.CLOSED
                    message = {TaskState.FAILED: "the validator failed the result: refund and slash",
                               TaskState.EXPIRED: "refunded after a deadline",
                               TaskState.CANCELLED: "cancelled and refunded",
                               TaskState.CLOSED: "closed (provider claimed after the window)"}[task.state]
                    return Outcome(task_id, task.state, result_dir if closed_ok and any(result_dir.glob("*")) else None,
                                   message)
            except ContractRevert as exc:
                self._say("error", task_id, str(exc))
            except IchainError as exc:
                self._say("error", task_id, str(exc))
            stop.wait(interval)
        return Outcome(task_id, self.market.task(task_id).state, None, "stopped")

    def finalize(self, task_id: int, rating: int) -> None:
        self.market.finalize_and_rate(task_id, rating).send()
        self._say("finalized", task_id, f"paid the provider, rated {rating}/5")
        self._finish(task_id)

    def _name_validator(self, task, excluded: set[str], replacing: bool = False) -> None:
        candidate = choose_validator(self.market, self.me, task.provider, exclude=excluded)
        if candidate is None:
            self._say("waiting", task.task_id, "no eligible validator yet")
            return
        refs = refs_for_me(self.market, task.task_id)
        result_ref = pick(refs, task.result_root.hex()) if task.result_root else None
        if result_ref is None:
            raise IchainError("the provider's result envelope does not open with my key")
        task_ref = self._task_ref(task.task_id)
        envelope = seal_refs(candidate.provider.public_key, [task_ref, result_ref])
        self.market.assign_validator(task.task_id, candidate.address, envelope).send()
        verb = "replaced the silent validator with" if replacing else "named validator"
        self._say("validator", task.task_id, f"{verb} {candidate.address} (score {candidate.score:.1f})")

    def _task_ref(self, task_id: int) -> FileRef:
        record = self.journal.get(task_id)
        return FileRef(record["task_root"], bytes.fromhex(record["task_key"]), self.host.transport, self.host.address)

    def _fetch_result(self, task, result_dir: Path) -> Path:
        if result_dir.is_dir() and any(result_dir.iterdir()):
            return result_dir
        ref = pick(refs_for_me(self.market, task.task_id), task.result_root.hex())
        if ref is None:
            raise IchainError("no result envelope for me")
        self._say("fetching", task.task_id, f"result {ref.root[:12]}… from {ref.address}")
        self.fetcher.fetch(ref, result_dir, self.work / f"result-{task.task_id}-chunks", progress=self.progress)
        return result_dir

    def _finish(self, task_id: int) -> None:
        record = self.journal.get(task_id)
        if record.get("task_root"):
            self.host.unpublish(record["task_root"])
        self.journal.update(task_id, closed=True)
        amount = self.market.credits(self.me)
        if amount > 0:
            self.market.withdraw().send()
            self._say("withdrawn", task_id, f"{amount / 1e18:g} ETH back in the wallet")
