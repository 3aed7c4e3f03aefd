"""Provides `ProviderAgent`: registers, takes assigned tasks, runs them in the sandbox, hosts and
commits results, validates other providers' results, claims payments whose windows passed.

It is driven by `step()` (one pass over what the chain says is open for this address) called in a
loop by `run()`; every pass rebuilds its view from chain state, so a restart resumes any open task
and none is handled twice (each on-chain transition happens once; the journal records local files).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from ..chain.client import MarketClient
from ..chain.errors import ChainError, ContractRevert
from ..chain.types import TaskState
from ..chain.wallet import public_key
from ..errors import IchainError
from ..sandbox.runner import Sandbox
from ..sandbox.taskspec import load_task
from ..transfer.fetcher import Fetcher, ProgressCallback
from ..transfer.manifest import seal_folder
from .envelopes import pick, refs_for_me, seal_refs, task_facts
from .events import AgentEvent, Reporter, ignore
from .hosting import Host
from .journal import Journal

OPEN_AS_PROVIDER = (TaskState.ASSIGNED, TaskState.EXECUTED, TaskState.VALIDATING, TaskState.PASSED)


class ProviderAgent:
    def __init__(self, market: MarketClient, sandbox: Sandbox, host: Host, work_dir: Path, *,
                 price: int, stake: int, hardware: str, fetcher: Fetcher | None = None,
                 report: Reporter = ignore, progress: ProgressCallback | None = None, chunks: int = 0) -> None:
        self.market = market
        self.me = market.account.address
        self.sandbox = sandbox
        self.host = host
        self.work = Path(work_dir)
        self.price, self.stake, self.hardware = price, stake, hardware
        self.fetcher = fetcher or Fetcher()
        self.report = report
        self.progress = progress
        self.chunks = chunks
        self.journal = Journal("provider", self.me)
        self.cancel = threading.Event()  # cancels a running sandbox/transfer when stopping
        self.busy_with: int | None = None
        self.draining = False  # set by shutdown(): start nothing new, hand back what has not started
        self._known: set[int] = set()  # tasks naming this address, from events read so far
        self._scanned_to = -1  # last block whose events were read

    def _say(self, kind: str, task_id: int | None, message: str, role: str = "provider", **data) -> None:
        self.report(AgentEvent(role, kind, task_id, message, data))

    # ------------------------------------------------------------------ registration
    def start_providing(self) -> None:
        info = self.market.provider(self.me)
        if not info.registered:
            self.market.register_provider(public_key(self.market.account), self.price, self.hardware, self.stake).send()
            self._say("registered", None, f"price {self.price / 1e18:g} ETH, stake {self.stake / 1e18:g} ETH, {self.hardware}")
        elif not info.available or info.price != self.price or info.hardware != self.hardware:
            self.market.update_provider(self.price, True, self.hardware).send()
            self._say("available", None, f"price {self.price / 1e18:g} ETH, {self.hardware}")
        self._rehost()

    def stop_providing(self) -> None:
        info = self.market.provider(self.me)
        if info.registered and info.available:
            self.market.update_provider(info.price, False, info.hardware).send()
            self._say("unavailable", None, "no new tasks will be assigned")

    def _rehost(self) -> None:
        """After a restart: serve again the results of tasks that are still open."""
        for task_id in self.journal.open_tasks():
            record = self.journal.get(task_id)
            if record.get("result_dir") and record.get("result_key") and Path(record["result_dir"]).is_dir():
                try:
                    self.host.republish(Path(record["result_dir"]), bytes.fromhex(record["result_key"]))
                except (OSError, IchainError):
                    continue

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            self.step()
            stop.wait(interval)

    def step(self) -> None:
        """One pass: every open task where this address is provider or validator."""
        for task_id in self._my_tasks():
            if self.cancel.is_set():
                return
            try:
                task = self.market.task(task_id)
                if task.provider == self.me and task.state in OPEN_AS_PROVIDER:
                    self._as_provider(task)
                elif task.validator == self.me and task.state is TaskState.VALIDATING and task.provider != self.me:
                    self._as_validator(task)
                elif task.state.is_final:
                    self._close(task_id)
            except IchainError as exc:
                self._say("error", task_id, str(exc))

    def _my_tasks(self) -> list[int]:
        """Open tasks naming this address; only blocks not read before are scanned."""
        start = self._scanned_to + 1
        latest = self.market.chain.block_number()
        if latest >= start:
            for name, role in (("ProviderAssigned", "provider"), ("ValidatorAssigned", "validator")):
                events = self.market.events(name, start, {role: self.me}, to_block=latest)
                self._known |= {e.args["taskId"] for e in events}
            self._scanned_to = latest
        return sorted(self._known | set(self.journal.open_tasks()))

    def _close(self, task_id: int) -> None:
        record = self.journal.get(task_id)
        if record and not record.get("closed"):
            if record.get("result_root"):
                self.host.unpublish(record["result_root"])
            self.journal.update(task_id, closed=True)
            shutil.rmtree(self.work / f"task-{task_id}", ignore_errors=True)
            state = self.market.task(task_id).state
            self._say("closed", task_id, f"task ended {state.label}")
        self._known.discard(task_id)

    # ------------------------------------------------------------------ provider role
    def _as_provider(self, task) -> None:
        now = self.market.chain.timestamp()
        if task.state is TaskState.ASSIGNED:
            if now > task.deadline:
                return  # too late to deliver: the requester takes the refund
            if self.draining:
                self._decline(task.task_id, "provider shutting down")
                return
            self._execute(task)
        elif task.state in (TaskState.EXECUTED, TaskState.PASSED) and now > task.deadline:
            try:
                self.market.claim_payment(task.task_id).send()
                self._say("paid", task.task_id, f"claimed {task.payment / 1e18:g} ETH after the requester's window")
            except ContractRevert as exc:
                self._say("error", task.task_id, str(exc))
        elif task.state is TaskState.VALIDATING and now > task.deadline + task.review_window:
            try:
                self.market.claim_payment(task.task_id).send()
                self._say("paid", task.task_id, "claimed after a silent validator and requester")
            except ContractRevert:
                pass

    def _execute(self, task) -> None:
        task_id = task.task_id
        self.busy_with = task_id
        base = self.work / f"task-{task_id}"
        try:
            facts = task_facts(self.market, task_id)
            ref = pick(refs_for_me(self.market, task_id), facts["task_root"])
            if ref is None:
                self._decline(task_id, "no envelope for me with the committed task")
                return
            folder = base / "task"
            if not folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                self._say("fetching", task_id, f"task {ref.root[:12]}… from {ref.address}")
                self.fetcher.fetch(ref, folder, base / "task-chunks", progress=self.progress, cancel=self.cancel)
            spec = load_task(folder)
            out = base / "result"
            shutil.rmtree(out, ignore_errors=True)
            self._say("executing", task_id, f"sandbox: {spec.time_limit:g} s, {spec.memory_mb} MB, {spec.cpus:g} CPU")
            run = self.sandbox.execute(spec, out, cancel=self.cancel)
            if run.cancelled:
                return
            if not run.ok:
                self._decline(task_id, f"execution failed: {run.reason}")
                return
            sealed = seal_folder(out, base / "sealed-result", chunks=self.chunks)
            result_ref = self.host.publish(sealed)
            self.journal.update(task_id, result_dir=str(sealed.directory), result_key=sealed.key.hex(),
                                result_root=sealed.root)
            requester_env = seal_refs(facts["requester_key"], [result_ref])
            validator_env = b""
            if task.validator:
                validator_env = seal_refs(self.market.provider(task.validator).public_key, [result_ref])
            self.market.submit_result(task_id, bytes.fromhex(sealed.root), requester_env, validator_env).send()
            self._say("submitted", task_id, f"result {sealed.root[:12]}… committed ({run.wall_s:.1f} s run)")
        except (ChainError, ContractRevert) as exc:
            self._say("error", task_id, str(exc))
        except IchainError as exc:
            self._decline(task_id, str(exc))
        finally:
            self.busy_with = None

    def _decline(self, task_id: int, why: str) -> None:
        try:
            self.market.decline_task(task_id).send()
            self._say("declined", task_id, why)
        except ContractRevert as exc:
            self._say("error", task_id, f"{why}; decline refused: {exc}")
        self.journal.update(task_id, closed=True)

    # ------------------------------------------------------------------ validator role
    def _as_validator(self, task) -> None:
        task_id = task.task_id
        if self.draining or self.market.chain.timestamp() > task.deadline or task.result_root is None:
            return
        self.busy_with = task_id
        base = self.work / f"validate-{task_id}"
        try:
            facts = task_facts(self.market, task_id)
            refs = refs_for_me(self.market, task_id)
            task_ref, result_ref = pick(refs, facts["task_root"]), pick(refs, task.result_root.hex())
            if task_ref is None or result_ref is None:
                return  # envelopes not all here yet
            for ref, name in ((task_ref, "task"), (result_ref, "result")):
                if not (base / name).is_dir():
                    self._say("fetching", task_id, f"{name} {ref.root[:12]}…", role="validator")
                    self.fetcher.fetch(ref, base / name, base / f"{name}-chunks", progress=self.progress,
                                       cancel=self.cancel)
            spec = load_task(base / "task")
            run = self.sandbox.check(spec, base / "result", cancel=self.cancel)
            if run.cancelled:
                return
            passed = run.ok
            self.market.submit_verdict(task_id, passed).send()
            last = run.stdout_tail[-1] if run.stdout_tail else run.reason
            self._say("verdict", task_id, f"{'PASS' if passed else 'FAIL'} ({last})", role="validator", passed=passed)
            shutil.rmtree(base, ignore_errors=True)
        except IchainError as exc:
            self._say("error", task_id, str(exc), role="validator")
        finally:
            self.busy_with = None

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, grace: float = 30.0) -> None:
        """Stop taking tasks; let the current one finish within `grace` seconds, else hand it back."""
        self.draining = True
        self.stop_providing()
        deadline = time.monotonic() + grace
        while self.busy_with is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        busy = self.busy_with
        if busy is not None:
            self.cancel.set()
            while self.busy_with is not None:
                time.sleep(0.05)
            task = self.market.task(busy)
            if task.provider == self.me and task.state is TaskState.ASSIGNED:
                self._decline(busy, "provider shutting down")
