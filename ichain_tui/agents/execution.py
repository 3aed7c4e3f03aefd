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
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..chain.errors import ChainError, ContractRevert
from ..chain.types import Task, ValidatorMode
from ..errors import IchainError
from ..sandbox import policy as policies
from ..sandbox.placement import Placement
from ..sandbox.taskspec import TaskSpec, bundled_dataset, load_task
from ..transfer.errors import PeerUnreachable
from ..transfer.locator import FileRef
from ..transfer.logstream import LogPusher, progress_of, progress_words
from ..transfer.manifest import seal_folder
from . import envelopes as env
from .jobs import EXECUTE, Job
from .role import ProviderRole

COMMIT_MARGIN_S = 60  # of the execute window kept for sealing and committing the result
MIN_RUN_S = 60  # a task with less than this (or its limit) left of its window is handed back

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

    def _lines_of(
        self, task_id: int, pusher: LogPusher | None = None, job: Job | None = None
    ) -> Callable[[str, str], None]:
        output = self.output

        def line(stream: str, text: str) -> None:
            if pusher is not None:
                pusher.add(stream, text)
            values = progress_of(text) if job is not None else None
            if job is not None and values:
                job.saw_progress(progress_words(values))
            if output is not None:
                output(task_id, stream, text)

        return line

    def _start_execution(self, task: Task) -> None:
        """In the duty loop: hand the task to a job of its own (a slot), which ends by the task's
        execute deadline whatever a peer, pip, Docker or the task does."""
        refused = self._validator_refused(task)
        if refused:
            self._decline(task.task_id, refused)
            return
        left = task.deadline - self.market.chain.timestamp()
        if not self.jobs.start(
            EXECUTE, task.task_id, lambda job: self._execute(task, job), left, limit_s=task.time_limit
        ):
            count = self._repeats.seen((task.task_id, "queued"))
            if self._repeats.worth_reporting(count) and not self.jobs.running(EXECUTE, task.task_id):
                self._say("waiting", task.task_id, f"all {self.jobs.lanes[EXECUTE]} slots are busy; queued")

    def _execute(self, task: Task, job: Job) -> None:
        """The execution job: fetch, check against the policy and the on-chain terms, take a
        slot's GPUs, cores and memory, run, pre-check, seal and commit."""
        task_id = task.task_id
        base = self.work / f"task-{task_id}"
        placement = None
        try:
            facts = env.task_facts(self.market, task_id, self.journal.get(task_id).get("assigned_block", 0))
            refs = env.provider_refs(self.market, task_id, task.requester, facts.block)
            ref = env.pick(refs, facts.task_root)
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
                job.at("fetching")
                self.fetcher.fetch(
                    ref,
                    folder,
                    base / "task-chunks",
                    progress=self.progress,
                    cancel=job.cancel,
                    deadline_s=self._fetch_deadline(task, job),
                )
                self.journal.update(task_id, fetched_root=facts.task_root)
            spec = load_task(folder)
            refused = self.policy.refusal(spec, policies.free_disk(self.work)) or self._terms_refusal(
                task, spec
            )
            if refused:
                self._decline(task_id, refused)
                return
            if spec.dataset:
                opened = self._open_dataset(task, spec, refs, base, job)
                if opened is None:
                    return
                spec = opened
            # the on-chain terms govern: the task runs no longer than it paid for, nor past the
            # point where its result could still be committed
            spent = float(self.journal.get(task_id).get("spent_s", 0.0))
            room = spent + task.deadline - self.market.chain.timestamp() - COMMIT_MARGIN_S
            limits = [spec.time_limit, room] + ([float(task.time_limit)] if task.time_limit else [])
            spec = replace(spec, time_limit=max(1.0, min(limits)))
            job.at("waiting for a slot")
            placement = self._place(spec, job)
            if placement is None:
                return  # cancelled (stopping, or the deadline) while waiting
            job.placement = placement
            out = base / "result"
            shutil.rmtree(out, ignore_errors=True)
            self._say(
                "executing",
                task_id,
                f"{placement.describe()}; sandbox: {spec.time_limit:g} s, {spec.memory_mb} MB, {spec.cpus:g} CPU",
            )
            pusher = self._log_pusher(task_id, ref, facts.requester_key)
            spent = float(self.journal.get(task_id).get("spent_s", 0.0))
            if spent:
                self._say("resuming", task_id, f"from its last checkpoint, {spent:.0f} s of its limit spent")
            job.at("executing")
            try:
                run = self.sandbox.execute(
                    spec,
                    out,
                    checkpoint=base / "checkpoint",  # kept across restarts of this provider
                    spent_s=spent,
                    on_saved=lambda seconds: self.journal.update(task_id, spent_s=round(seconds, 1)),
                    cancel=job.cancel,
                    on_line=self._lines_of(task_id, pusher, job),
                    placement=placement,
                )
            finally:
                pusher.close()
            if run.cancelled:
                return
            if not run.ok:
                self._decline(task_id, f"execution failed: {run.reason}")
                return
            if task.mode is not ValidatorMode.NONE:
                job.at("checking")
                check = self.sandbox.check(
                    spec,
                    out,
                    cancel=job.cancel,
                    stage=self._stage(task_id),
                    on_line=self._lines_of(task_id),
                    placement=placement,
                )
                if check.cancelled:
                    return
                if not check.ok:
                    self._decline(task_id, f"my own check of the result failed: {check.reason}")
                    return
            job.at("committing")
            self._commit(task, ref, out, base)
        except (ChainError, ContractRevert) as exc:
            self._say("error", task_id, str(exc))
        except PeerUnreachable as exc:
            if job.cancel.is_set():
                return  # stopping, or the task's own deadline: not the requester's absence
            self._requester_away(task, str(exc))
        except IchainError as exc:
            if job.cancel.is_set():
                return
            self._decline(task_id, str(exc))
        finally:
            if placement is not None:
                self.reservations.release(placement)

    def _open_dataset(
        self, task: Task, spec: TaskSpec, refs: list[FileRef], base: Path, job: Job
    ) -> TaskSpec | None:
        """The task's dataset opened into its folder (from this provider's cache when it holds
        that root: no bytes move), or None when the task was declined for want of it."""
        task_id = task.task_id
        if not spec.dataset_root:  # a single task: its dataset came inside its own package
            inside = bundled_dataset(spec)
            if inside is None:
                self._decline(task_id, f"the task's dataset {spec.dataset!r} is not in its package")
                return None
            return replace(spec, dataset_dir=inside)
        ref = env.pick(refs, spec.dataset_root)
        if ref is None:
            self._decline(task_id, f"the key of the task's dataset {spec.dataset!r} did not come with it")
            return None
        dest = base / "dataset"
        if not (dest.is_dir() and self.journal.get(task_id).get("dataset_opened") == ref.root):
            shutil.rmtree(dest, ignore_errors=True)
            job.at("dataset")
            got = self.datasets.obtain(
                ref,
                dest,
                partial(self.fetcher.fetch, progress=self.progress),
                cancel=job.cancel,
                deadline_s=self._fetch_deadline(task, job),
            )
            self.journal.update(
                task_id,
                dataset_root=ref.root,
                dataset_key=ref.key.hex(),
                dataset_transport=ref.transport,
                dataset_address=ref.address,
                dataset_opened=ref.root,
            )
            self._say(
                "dataset",
                task_id,
                f"{ref.root[:12]}… "
                + (
                    "opened from the cache: no bytes moved"
                    if got.cached
                    else f"fetched: {got.moved_bytes} bytes"
                ),
                moved=got.moved_bytes,
                root=ref.root,
            )
        return replace(spec, dataset_dir=dest)

    def _fetch_deadline(self, task: Task, job: Job) -> float:
        """Seconds the task's package may take to arrive: what the execute window leaves after the
        task's time limit (the on-chain terms, not a size the peer claims), at least a minute."""
        return max(60.0, min(job.remaining_s, job.remaining_s - float(task.time_limit) - COMMIT_MARGIN_S))

    def _terms_refusal(self, task: Task, spec: TaskSpec) -> str | None:
        """Why the task's own ichain.toml does not fit the terms it was escrowed under (None: it fits)."""
        gpus = len(self.sandbox.gpus) if spec.gpus < 0 else spec.gpus
        if gpus > task.gpus:
            return f"the task asks for {gpus} GPUs; its on-chain terms pay for {task.gpus}"
        left = task.deadline - self.market.chain.timestamp() - COMMIT_MARGIN_S
        limit = min(spec.time_limit, float(task.time_limit or spec.time_limit))
        spent = float(self.journal.get(task.task_id).get("spent_s", 0.0))
        if left < min(limit - spent, MIN_RUN_S):
            return f"its {limit:g} s time limit cannot fit the {left + COMMIT_MARGIN_S} s left of its execute window"
        return self.reservations.refusal(spec.cpus, spec.memory_mb, gpus)

    def _place(self, spec: TaskSpec, job: Job) -> Placement | None:
        """Wait (in this job) until a slot with the GPUs, cores and memory the task asks for is free."""
        gpus = -1 if spec.gpus < 0 else spec.gpus
        while not job.cancel.is_set():
            placement = self.reservations.reserve(spec.cpus, spec.memory_mb, gpus)
            if placement is not None:
                return placement
            job.cancel.wait(0.5)
        return None

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
