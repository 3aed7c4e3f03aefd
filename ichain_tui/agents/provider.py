"""Provides `ProviderAgent`: registers with its terms (rates, slots, GPUs, how long its stake may be
locked), takes assigned tasks, runs them in the sandbox, checks its own result, seals it under the
split key and commits it, validates other providers' results, resolves the validator draws its
tasks wait for, replaces silent validators, appeals fail verdicts it does not believe, and claims
when the protocol lets it (protocol v3).

The duty loop (`run` calling `step`) reads what the chain says is open for this address and does
only short things itself; long work is a job (`jobs.Jobs`) in a thread of its own. Every duty,
what it may block on, and its deadline:

| duty                 | where       | may block on                              | deadline                              |
|----------------------|-------------|-------------------------------------------|---------------------------------------|
| scan, read tasks     | loop        | the node (RPC layer's own patience)       | per request                           |
| execute a task       | job, a slot | peer fetch, pip, Docker, the task itself  | the task's execute deadline           |
|   fetch              |   (in job)  | the requester's chunk server              | 5 min + package at the floor rate     |
|   live log POST      |   (in job)  | the requester's chunk server              | 10 s per POST, 3 s to flush           |
| validate a result    | job, lane   | peer fetch, Docker (check)                | the verdict deadline                  |
| commit, draw, claim, | loop        | the node (a transaction until mined)      | the transaction layer's timeout       |
| envelope, replace,   |             |                                           |                                       |
| appeal, decline      |             |                                           |                                       |

A restart rebuilds everything from chain state and the journal (each on-chain transition happens
once; the journal records local files and the keys this provider chose, written before any
transaction that commits to them), so a killed provider resumes each task from its checkpoint.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..amounts import format_eth
from ..chain.client import DEFAULT_MAX_LOCK, MarketClient
from ..chain.errors import ContractRevert
from ..chain.types import ProviderTerms, Task, TaskState, ValidatorMode
from ..chain.wallet import public_key
from ..errors import IchainError, one_line
from ..hardware import HardwareProfile
from ..sandbox import policy as policies
from ..sandbox.placement import Reservations, default_slots
from ..sandbox.policy import ProviderPolicy
from ..sandbox.runner import Sandbox
from ..transfer.dataset_cache import DatasetCache
from ..transfer.fetcher import Fetcher
from ..transfer.locator import FileRef
from ..transfer.progress import ProgressCallback
from . import envelopes as env
from .events import AgentEvent, Repeats, Reporter, TaskOutput, ignore
from .execution import ExecutionStep
from .hosting import Host
from .jobs import EXECUTE, VALIDATE, Job, Jobs, JobView
from .journal import Journal
from .validation import ValidatorDuties

log = logging.getLogger(__name__)

RESULT_RETENTION_S = 30 * 86400  # a paid result nobody rated yet is served this long
MIN_RESULT_RETENTION_S = 7 * 86400
CLAIM_MARGIN_S = 30  # no key is sent this close to a task's bound, where a refund may be mined first
VALIDATION_LANE = 2  # validations checked at once, beside the execution slots

OPEN_AS_PROVIDER = (
    TaskState.ASSIGNED,
    TaskState.VALIDATING,
    TaskState.EXECUTED,
    TaskState.FAILED,
    TaskState.APPEALED,
)
OPEN_AS_VALIDATOR = (TaskState.VALIDATING, TaskState.APPEALED)


class ProviderAgent(ExecutionStep, ValidatorDuties):
    def __init__(
        self,
        market: MarketClient,
        sandbox: Sandbox,
        host: Host,
        work_dir: Path,
        *,
        rate: int,
        stake: int,
        hardware: HardwareProfile,
        gpu_rate: int = 0,
        slots: int | None = None,
        queue: int = 0,
        fetcher: Fetcher | None = None,
        report: Reporter = ignore,
        progress: ProgressCallback | None = None,
        chunks: int = 0,
        accept_named_validators: bool = True,
        appeal: bool = True,
        policy: ProviderPolicy | None = None,
        output: TaskOutput | None = None,
        result_retention_s: int = RESULT_RETENTION_S,
        max_lock_s: int = DEFAULT_MAX_LOCK,
    ) -> None:
        """`rate`: wei per hour of a task's time limit (`gpu_rate` per GPU-hour on top); `slots`:
        tasks run at once (None: from this machine, `placement.default_slots`); `queue`: tasks accepted
        beyond them, each waiting for a slot (its fetch and dependencies done meanwhile); `output` is told
        each line a task prints while it runs here (a dashboard's tail); `result_retention_s`:
        how long a paid, unrated result stays served (advertised on chain); `max_lock_s`: the
        longest a task may hold this provider's stake (advertised on chain)."""
        self.market = market
        self.me: str = market.signer.address
        self.sandbox = sandbox
        self.host = host
        self.work = Path(work_dir) / market.scope  # task ids are unique only within one market
        self.stake, self.hardware = stake, hardware
        self.fetcher = fetcher or Fetcher(socks=host.transport.socks)
        self.report = report
        self.progress = progress
        self.output = output
        self.chunks = chunks
        self.accept_named_validators = accept_named_validators
        self.appeal_fails = appeal
        self.result_retention_s = max(MIN_RESULT_RETENTION_S, result_retention_s)
        self.max_lock_s = max_lock_s
        self.policy = policy or policies.for_host(self.work, len(sandbox.gpus), sandbox.image)
        # sealed datasets by root: the same bytes in any market, so kept beside the markets' folders
        self.datasets = DatasetCache(Path(work_dir) / "datasets", self.policy.max_dataset_cache_mb * 2**20)
        memory_mb = policies.host_memory_mb()
        cores = max(1, int(self.policy.max_cpus))
        gpu_ids = [g.index for g in sandbox.gpus][: self.policy.max_gpus]
        slots = slots or default_slots(len(gpu_ids), cores, memory_mb)
        self.reservations = Reservations(slots, cores, memory_mb, gpu_ids)
        self.terms = ProviderTerms(
            rate_per_hour=rate,
            rate_per_gpu_hour=gpu_rate,
            max_lock=max_lock_s,
            retention=self.result_retention_s,
            slots=slots,
            gpus=len(gpu_ids),
            queue=queue,
        )
        self.journal = Journal("provider", self.me, scope=market.scope)
        self.cancel = threading.Event()  # set when stopping: no new job starts
        self.jobs = Jobs({EXECUTE: slots + queue, VALIDATE: VALIDATION_LANE}, self._crashed)
        self.draining = False  # set by shutdown(): start nothing new, hand back what has not started
        self._known: set[int] = set()  # tasks naming this address, from events read so far
        self._quarantined: set[int] = set()  # tasks that raised something unexpected
        self._repeats = Repeats()  # the same error of the same task is reported 1, 2, 4, 8... times
        self._scanned_to = -1  # last block whose events were read
        self._last_scan = 0.0
        # RPC budget on a public chain: an idle provider reads the head and the logs naming it
        # once a minute (about 2,900 requests a day); busy, every pass; on a development chain,
        # every pass
        self.idle_scan_every = 60.0 if market.chain.kind == "rpc" else 0.0

    @property
    def slots(self) -> int:
        return self.terms.slots

    def duties(self) -> list[JobView]:
        """The jobs running now (slots first, then validations): what an operator sees."""
        return self.jobs.views()

    @property
    def busy_with(self) -> int | None:
        """A task being executed or validated now (None: idle)."""
        jobs = self.jobs.jobs()
        return min(j.task_id for j in jobs) if jobs else None

    def _say(self, kind: str, task_id: int | None, message: str, role: str = "provider", **data: Any) -> None:
        self.report(AgentEvent(role, kind, task_id, message, data))

    # ------------------------------------------------------------------ registration
    def start_providing(self) -> None:
        info = self.market.provider(self.me)
        terms = self.terms
        described = (
            f"rate {format_eth(terms.rate_per_hour)}/h"
            + (f" + {format_eth(terms.rate_per_gpu_hour)}/GPU-h" if terms.rate_per_gpu_hour else "")
            + f", {terms.slots} slot{'s' if terms.slots != 1 else ''}"
            + (f" + {terms.queue} queued" if terms.queue else "")
        )
        if not info.registered:
            self.market.register_provider(
                public_key(self.market.signer), terms, self.hardware, self.stake
            ).send()
            self._say(
                "registered",
                None,
                f"{described}, stake {format_eth(self.stake)}, {self.hardware.describe()}",
            )
        elif not info.available or info.hardware != self.hardware or not terms.matches(info):
            self.market.update_provider(terms, True, self.hardware).send()
            self._say("available", None, f"{described}, {self.hardware.describe()}")
        self._rehost()

    def stop_providing(self) -> None:
        info = self.market.provider(self.me)
        if info.registered and info.available:
            self.market.set_available(False).send()
            self._say("unavailable", None, "no new tasks will be assigned")

    def _rehost(self) -> None:
        """After a restart: serve again the results of tasks that are still open."""
        for task_id in self.journal.open_tasks():
            record = self.journal.get(task_id)
            for folder, key in (("result_dir", "result_key"), ("serve_dir", "serve_key")):
                if record.get(folder) and record.get(key) and Path(record[folder]).is_dir():
                    try:
                        self.host.republish(Path(record[folder]), bytes.fromhex(record[key]))
                    except (OSError, IchainError):
                        continue

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        stop: threading.Event,
        interval: float | None = None,
        after_pass: Callable[[], None] | None = None,
    ) -> None:
        """Passes until `stop` (every 12 s on a public chain, 0.5 s on a development chain). A
        pass that fails as a whole (the node unreachable, say) is tried again with backoff; the
        same error is reported once, then at 2, 4, 8... repeats."""
        if interval is None:
            interval = 12.0 if self.market.chain.kind == "rpc" else 0.5
        repeats = Repeats()
        while not stop.is_set():
            wait = interval
            try:
                self.step()
                repeats = Repeats()
            except Exception as exc:
                text = str(exc) if isinstance(exc, IchainError) else f"{type(exc).__name__}: {exc}"
                count = repeats.seen(text)
                if repeats.worth_reporting(count):
                    self._say(
                        "error",
                        None,
                        text + (f" (seen {count} times; retrying)" if count > 1 else " (retrying)"),
                    )
                    log.warning("provider pass failed: %s", text, exc_info=not isinstance(exc, IchainError))
                wait = repeats.backoff(text, interval, cap=30.0)
            if after_pass is not None:
                try:
                    after_pass()
                except Exception:
                    log.debug("after_pass failed", exc_info=True)
            stop.wait(wait)

    def step(self) -> None:
        """One pass: every open task where this address is provider or validator. A task can only
        fail itself: an unexpected error quarantines that task, and the pass goes on."""
        self.market.ensure_still_here()
        for task_id in self._my_tasks():
            if self.cancel.is_set():
                return
            if task_id in self._quarantined:
                self._release_quarantined(task_id)
                continue
            if self.jobs.running(EXECUTE, task_id) or self.jobs.running(VALIDATE, task_id):
                continue  # its job owns it until it ends
            try:
                task = self.market.task(task_id)
                if task.state is TaskState.NONE:  # a record of a chain reset under the same id and address
                    self.journal.update(task_id, closed=True, gone=True)
                    self._known.discard(task_id)
                    continue
                if task.provider == self.me and task.state in OPEN_AS_PROVIDER:
                    self._as_provider(task)
                elif (
                    task.validator == self.me and task.state in OPEN_AS_VALIDATOR and task.provider != self.me
                ):
                    self._as_validator(task)
                elif task.state.is_final and self._done_serving(task):
                    self._close(task_id)
            except IchainError as exc:
                count = self._repeats.seen((task_id, str(exc)))
                if self._repeats.worth_reporting(count):
                    self._say("error", task_id, str(exc) + (f" (seen {count} times)" if count > 1 else ""))
            except Exception as exc:
                self._quarantine(task_id, exc)

    def _crashed(self, job: Job, exc: BaseException) -> None:
        """A job raised: an error the agent expects is reported (the next pass tries again);
        anything else quarantines that task alone."""
        if isinstance(exc, IchainError):
            count = self._repeats.seen((job.task_id, str(exc)))
            if self._repeats.worth_reporting(count):
                self._say("error", job.task_id, str(exc) + (f" (seen {count} times)" if count > 1 else ""))
            return
        self._quarantine(job.task_id, exc)

    def _quarantine(self, task_id: int, exc: BaseException) -> None:
        """Stop handling a task that raised something unexpected: hand it back if it is still ours
        to decline, record why, and let its timed exit settle it otherwise."""
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        self._quarantined.add(task_id)
        self.journal.update(task_id, quarantined=reason)
        self._say("quarantined", task_id, reason, traceback=traceback.format_exc(limit=8))
        log.error("task %s quarantined: %s", task_id, reason, exc_info=exc)
        try:
            task = self.market.task(task_id)
            if (
                task.provider == self.me
                and task.state is TaskState.ASSIGNED
                and not self.journal.get(task_id).get("k2")
            ):
                self._decline(task_id, f"unexpected error: {reason}")
        except Exception as exc:  # the next pass retries; the task's deadline is the backstop
            log.warning("task %d: could not decline after an error: %s", task_id, one_line(exc))

    def _release_quarantined(self, task_id: int) -> None:
        """Once a quarantined task is final (declined, or settled by its timed exit), its files go."""
        try:
            if self.market.task(task_id).state.is_final:
                self._close(task_id)
                self._quarantined.discard(task_id)
        except Exception as exc:  # the next pass tries again
            log.info("task %d: quarantined files kept for now: %s", task_id, one_line(exc))

    def _my_tasks(self) -> list[int]:
        """Open tasks naming this address. Only settled blocks not read before are scanned, with
        one `eth_getLogs` for both roles; a task found is journaled before the cursor (kept on
        disk, so a restart does not rescan history) moves past it."""
        if self._scanned_to < 0:
            self._scanned_to = self.journal.cursor
        idle = not self._known and not self.jobs.busy
        if idle and time.monotonic() - self._last_scan < self.idle_scan_every:
            return sorted(self.journal.open_tasks())  # nothing of ours is open: no request this pass
        self._last_scan = time.monotonic()
        start = self._scanned_to + 1
        settled = self.market.chain.settled_block()
        if settled >= start:
            for task_id, block in sorted(self.market.tasks_naming(self.me, start, settled).items()):
                if task_id in self._known:
                    continue
                if not self.journal.get(task_id):
                    self.journal.update(task_id, assigned_block=block)
                self._known.add(task_id)
            self._scanned_to = settled
            self.journal.cursor = settled
        return sorted(self._known | set(self.journal.open_tasks()))

    def _done_serving(self, task: Task) -> bool:
        """A paid result stays hosted until the requester rated (it rates after fetching) or the
        retention period (30 days by default, never under 7) after this provider saw it paid: a
        requester whose laptop was closed or whose disk was full comes back to its result. Other
        final tasks are closed at once."""
        record = self.journal.get(task.task_id)
        serving = task.provider == self.me or (task.validator == self.me and record.get("serve_root"))
        if not serving or not task.state.provider_paid or task.rated:
            return True
        now = self.market.chain.timestamp()
        if not record.get("paid_seen_at"):
            self.journal.update(task.task_id, paid_seen_at=now)
            return False
        keep = max(self.result_retention_s, task.review_window)
        return bool(now > int(record["paid_seen_at"]) + keep)

    def _close(self, task_id: int) -> None:
        record = self.journal.get(task_id)
        if record and not record.get("closed"):
            self.journal.update(task_id, closed=True)
            state = self.market.task(task_id).state
            self._say("closed", task_id, f"task ended {state.label}")
        self._remove_files(task_id)
        self._known.discard(task_id)

    # ------------------------------------------------------------------ provider role
    def _as_provider(self, task: Task) -> None:
        now = self.market.chain.timestamp()
        state, task_id = task.state, task.task_id
        record = self.journal.get(task_id)
        if state is TaskState.ASSIGNED:
            if now > task.deadline:
                return  # too late to deliver: the requester takes the refund
            if record.get("k2") and Path(record.get("result_dir", "")).is_dir():
                self._send_commit(task)  # sealed and recorded before a crash: send, never re-run
                return
            if self.draining:
                self._decline(task_id, "provider shutting down")
                return
            self._start_execution(task)
        elif state is TaskState.EXECUTED:
            self._claim(task, "no validator: paid on revealing the key")
        elif state is TaskState.VALIDATING:
            if now > self.market.claim_opens_at(task_id):
                self._claim(task, "no verdict by the check bound")
            elif not task.validator:
                self._draw(task)
            elif now > task.deadline and not task.replaced:
                try:
                    self.market.replace_validator(task_id).send()
                    self._say("replaced", task_id, "the validator was silent; another is drawn")
                except ContractRevert as exc:
                    if exc.name not in ("DeadlinePassed", "AlreadyReplaced"):
                        raise
            else:
                self._send_envelope(task)
        elif state is TaskState.FAILED:
            if self.appeal_fails and record.get("precheck_ok") and now <= task.deadline:
                self.market.appeal(task_id, task.validator_fee).send(
                    intent=f"appeal:{self.market.address}:{task_id}"
                )
                self._say("appealed", task_id, "my own check passed: a drawn validator decides")
        elif state is TaskState.APPEALED:
            if task.validator:
                self._send_envelope(task)
            elif now > self.market.claim_opens_at(task_id):
                self._claim(task, "nobody could be drawn for the appeal in time")
            else:
                self._draw(task)

    def _draw(self, task: Task) -> None:
        """Resolve the validator draw the task waits for (its outcome was fixed by the hash of the
        block that asked for it) with the references sealed to whoever it picks: one transaction."""
        task_id = task.task_id
        expected = self.market.pending_validator(task_id)
        envelope = b""
        if expected and self.journal.get(task_id).get("k2"):
            envelope = self._validator_envelope(task, expected)
        # sent after the request's block was mined, so mined in a later one: its hash is known there
        tx = self.market.draw_validator(task_id, expected, envelope).send()
        drawn = [e for e in tx.events if e["event"] == "ValidatorAssigned"]
        if not drawn:
            self._say("draw", task_id, "no eligible validator yet; the draw waits for the next block")
            return
        validator = str(drawn[0]["validator"])
        if envelope and validator == expected:
            self.journal.update(task_id, enveloped=validator)
        self._say("draw", task_id, f"validator {validator} drawn")
        self._send_envelope(self.market.task(task_id))

    def _validator_refused(self, task: Task) -> str | None:
        if task.mode is ValidatorMode.NAMED and not self.accept_named_validators:
            return "this provider accepts only drawn validators"
        return None

    def _send_commit(self, task: Task) -> None:
        """Host the sealed result and commit to it (also after a restart: the same K2, no re-run)."""
        task_id = task.task_id
        record = self.journal.get(task_id)
        root, k2 = bytes.fromhex(record["result_root"]), bytes.fromhex(record["k2"])
        self.host.republish(Path(record["result_dir"]), bytes.fromhex(record["result_key"]))
        result_ref = FileRef(record["result_root"], env.NO_KEY, self.host.transport.name, self.host.address)
        self.journal.update(task_id, result_transport=result_ref.transport, result_address=result_ref.address)
        requester_env = env.seal_refs(
            self.market, bytes.fromhex(record["requester_key"]), [result_ref], task_id, "requester"
        )
        validator_env = b""
        if task.validator:  # named (a drawn one is drawn from this commit's block: `_draw`)
            validator_env = self._validator_envelope(task, task.validator)
            self.journal.update(task_id, enveloped=task.validator)
        self.market.submit_result(
            task_id, root, env.key_commit(k2, task_id, root), requester_env, validator_env
        ).send(intent=f"submitResult:{self.market.address}:{task_id}")
        self._say(
            "submitted",
            task_id,
            f"result {record['result_root'][:12]}… committed",
            root=record["result_root"],
            what="result",
        )

    def _validator_envelope(self, task: Task, validator: str) -> bytes:
        record = self.journal.get(task.task_id)
        task_ref = FileRef(
            record["task_root"],
            bytes.fromhex(record["task_key"]),
            record["task_transport"],
            record["task_address"],
        )
        result_ref = FileRef(
            record["result_root"],
            bytes.fromhex(record["k2"]),
            record["result_transport"],
            record["result_address"],
        )
        dataset = (
            [
                FileRef(
                    record["dataset_root"],
                    bytes.fromhex(record["dataset_key"]),
                    record["dataset_transport"],
                    record["dataset_address"],
                )
            ]
            if record.get("dataset_root")
            else []
        )
        return env.seal_refs(
            self.market,
            self.market.provider(validator).public_key,
            [task_ref, result_ref, *dataset],
            task.task_id,
            "validator",
        )

    def _send_envelope(self, task: Task) -> None:
        """Give the current validator (drawn after `submitResult`) the task and result references."""
        record = self.journal.get(task.task_id)
        if not task.validator or not record.get("k2") or record.get("enveloped") == task.validator:
            return
        self.market.post_envelope(task.task_id, self._validator_envelope(task, task.validator)).send()
        self.journal.update(task.task_id, enveloped=task.validator)
        self._say("envelope", task.task_id, f"references sealed to validator {task.validator}")

    def _claim(self, task: Task, why: str) -> None:
        """Reveal K2 for the payment. The key is public once sent, so it is sent only while the
        chain says the task is claimable (a refund after the task's bound ends that)."""
        record = self.journal.get(task.task_id)
        if not record.get("k2"):
            return
        fresh = self.market.task(task.task_id)
        if fresh.state is not task.state:
            return  # moved on since it was read (a verdict, or a refund): the key stays private
        if self.market.chain.timestamp() > fresh.bound - CLAIM_MARGIN_S:
            # a refund may be mined before this claim at the bound: the key would be public for nothing
            if not record.get("claim_too_late"):
                self.journal.update(task.task_id, claim_too_late=True)
                self._say(
                    "error", task.task_id, "too close to the task's bound to claim: the key stays private"
                )
            return
        self.market.claim_payment(
            task.task_id, bytes.fromhex(record["result_root"]), bytes.fromhex(record["k2"])
        ).send(intent=f"claim:{self.market.address}:{task.task_id}")
        self._say("paid", task.task_id, f"claimed {format_eth(task.payment)} ({why})")

    def _decline(self, task_id: int, why: str) -> None:
        # the requester reads this: name files relative to the task, never this host's paths
        why = why.replace(f"{self.work / f'task-{task_id}' / 'task'}/", "").replace(str(self.work), "…")
        try:
            self.market.decline_task(task_id, why).send(intent=f"decline:{self.market.address}:{task_id}")
            self._say("declined", task_id, why)
        except ContractRevert as exc:
            self._say("error", task_id, f"{why}; decline refused: {exc}")
        self._remove_files(task_id)
        self.journal.update(task_id, closed=True)

    def _remove_files(self, task_id: int) -> None:
        """Everything this provider holds for a task: hosted result, task and result folders."""
        record = self.journal.get(task_id)
        for root in ("result_root", "serve_root"):
            if record.get(root):
                self.host.unpublish(record[root])
        for name in (f"task-{task_id}", f"validate-{task_id}", f"serve-{task_id}"):
            shutil.rmtree(self.work / name, ignore_errors=True)

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, grace: float = 30.0) -> None:
        """Stop taking tasks; let the running ones finish within `grace` seconds, else cancel them
        and hand back each that has no sealed result yet (a full refund to its requester). A
        validation cut short keeps its lock: it is redone after a restart, before its deadline."""
        self.draining = True
        self.stop_providing()
        if not self.jobs.wait_idle(grace):
            cut = self.jobs.cancel_all()  # sandboxes and fetches stop at once
            self.cancel.set()
            self.jobs.wait_idle(60)
            for job in cut:
                if job.duty != EXECUTE:
                    continue
                task = self.market.task(job.task_id)
                if (
                    task.provider == self.me
                    and task.state is TaskState.ASSIGNED
                    and not self.journal.get(job.task_id).get("k2")
                ):
                    self._decline(job.task_id, "provider shutting down")
        self.jobs.close()
