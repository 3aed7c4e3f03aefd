"""Provides `ExecutionStep`, the provider role's run of a task: fetch the task the requester
sealed to this provider, check it against the provider policy, execute it in the sandbox (its
live output pushed to the requester, its checkpoints kept across restarts of this provider),
pre-check the result when a validator will judge it, and commit; a requester whose chunk server
is away gets a grace period before the task is declined."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..chain.errors import ChainError, ContractRevert
from ..chain.types import Task, ValidatorMode
from ..errors import IchainError
from ..sandbox import policy as policies
from ..sandbox.taskspec import load_task
from ..transfer.errors import PeerUnreachable
from ..transfer.locator import FileRef
from ..transfer.logstream import LogPusher
from ..transfer.manifest import seal_folder
from . import envelopes as env
from .role import ProviderRole

if TYPE_CHECKING:
    from .events import Repeats, TaskOutput


class ExecutionStep(ProviderRole):
    """Mixed into `ProviderAgent`, which sets the attributes declared here."""

    output: TaskOutput | None
    chunks: int
    _decline: Callable[[int, str], None]
    _send_commit: Callable[[Task], None]
    _stage: Callable[[int], str]
    _validator_refused: Callable[[Task], str | None]
    _repeats: Repeats

    def _log_pusher(self, task_id: int, ref: FileRef, requester_key: bytes) -> LogPusher:
        """The task's live log to its requester: to the host its files came from, sealed with
        the key only the two of them can compute."""
        key, context = env.log_key(self.market, task_id, requester_key)
        return LogPusher(ref.address, key, context, socks=self.fetcher.socks).start()

    def _lines_of(self, task_id: int, pusher: LogPusher | None = None) -> Callable[[str, str], None]:
        output = self.output

        def line(stream: str, text: str) -> None:
            if pusher is not None:
                pusher.add(stream, text)
            if output is not None:
                output(task_id, stream, text)

        return line

    def _execute(self, task: Task) -> None:
        task_id = task.task_id
        refused = self._validator_refused(task)
        if refused:
            self._decline(task_id, refused)
            return
        self.busy_with = task_id
        base = self.work / f"task-{task_id}"
        try:
            facts = env.task_facts(self.market, task_id, self.journal.get(task_id).get("assigned_block", 0))
            ref = env.pick(
                env.provider_refs(self.market, task_id, task.requester, facts.block), facts.task_root
            )
            if ref is None:
                self._decline(task_id, "no envelope for me with the committed task")
                return
            other = self.journal.find("executed_root", facts.task_root, exclude=task_id)
            if other is not None:
                self._decline(task_id, f"this task package was already executed for task {other}")
                return
            self.journal.update(
                task_id,
                task_root=facts.task_root,
                task_key=ref.key.hex(),
                task_transport=ref.transport,
                task_address=ref.address,
                requester_key=facts.requester_key.hex(),
            )
            folder = base / "task"
            # a folder left by an earlier pass is used only if it is this task's, fetched whole
            if not (folder.is_dir() and self.journal.get(task_id).get("fetched_root") == facts.task_root):
                shutil.rmtree(folder, ignore_errors=True)
                self._say(
                    "fetching",
                    task_id,
                    f"task {ref.root[:12]}… from {ref.address}",
                    root=ref.root,
                    what="task",
                )
                self.fetcher.fetch(
                    ref, folder, base / "task-chunks", progress=self.progress, cancel=self.cancel
                )
                self.journal.update(task_id, fetched_root=facts.task_root)
            spec = load_task(folder)
            refused = self.policy.refusal(spec, policies.free_disk(self.work))
            if refused:
                self._decline(task_id, refused)
                return
            out = base / "result"
            shutil.rmtree(out, ignore_errors=True)
            self._say(
                "executing",
                task_id,
                f"sandbox: {spec.time_limit:g} s, {spec.memory_mb} MB, {spec.cpus:g} CPU",
            )
            pusher = self._log_pusher(task_id, ref, facts.requester_key)
            spent = float(self.journal.get(task_id).get("spent_s", 0.0))
            if spent:
                self._say("resuming", task_id, f"from its last checkpoint, {spent:.0f} s of its limit spent")
            try:
                run = self.sandbox.execute(
                    spec,
                    out,
                    checkpoint=base / "checkpoint",  # kept across restarts of this provider
                    spent_s=spent,
                    on_saved=lambda seconds: self.journal.update(task_id, spent_s=round(seconds, 1)),
                    cancel=self.cancel,
                    on_line=self._lines_of(task_id, pusher),
                )
            finally:
                pusher.close()
            if run.cancelled:
                return
            if not run.ok:
                self._decline(task_id, f"execution failed: {run.reason}")
                return
            if task.mode is not ValidatorMode.NONE:
                check = self.sandbox.check(
                    spec, out, cancel=self.cancel, stage=self._stage(task_id), on_line=self._lines_of(task_id)
                )
                if check.cancelled:
                    return
                if not check.ok:
                    self._decline(task_id, f"my own check of the result failed: {check.reason}")
                    return
            self._commit(task, ref, out, base)
        except (ChainError, ContractRevert) as exc:
            self._say("error", task_id, str(exc))
        except PeerUnreachable as exc:
            self._requester_away(task, str(exc))
        except IchainError as exc:
            self._decline(task_id, str(exc))
        finally:
            self.busy_with = None

    def _requester_away(self, task: Task, why: str) -> None:
        """The requester's chunk server does not answer (it may be restarting: its address is kept
        across restarts). Try again on later passes for a grace period — a quarter of the time
        left, between 1 and 10 minutes — then decline, which refunds the requester in full."""
        record = self.journal.get(task.task_id)
        now = time.time()
        since = record.get("requester_away_since") or now
        if not record.get("requester_away_since"):
            self.journal.update(task.task_id, requester_away_since=now)
        grace = min(600.0, max(60.0, (task.deadline - self.market.chain.timestamp()) / 4))
        if now - since >= grace:
            self._decline(task.task_id, f"{why} (for {now - since:.0f} s)")
            return
        count = self._repeats.seen((task.task_id, "away"))
        if self._repeats.worth_reporting(count):
            self._say("waiting", task.task_id, f"{why}; trying again for up to {grace - (now - since):.0f} s")

    def _commit(self, task: Task, task_ref: FileRef, out: Path, base: Path) -> None:
        """Seal the result under K = HKDF(K1 || K2), record K2 first, then commit on chain."""
        task_id = task.task_id
        k2 = os.urandom(32)
        key = env.result_key(self.market, task_id, task_ref.key, k2)
        shutil.rmtree(base / "sealed-result", ignore_errors=True)
        sealed = seal_folder(out, base / "sealed-result", chunks=self.chunks, key=key)
        self.journal.update(
            task_id,
            result_dir=str(sealed.directory),
            result_key=key.hex(),
            result_root=sealed.root,
            k2=k2.hex(),
            executed_root=task_ref.root,
            precheck_ok=task.mode is not ValidatorMode.NONE,
        )
        self._send_commit(task)
