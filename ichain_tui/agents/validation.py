"""Provides `ValidatorDuties`, the validator role of a `ProviderAgent`: fetch the task and the
result the provider sealed to this validator, re-run `check` in the sandbox (staged at the same
neutral path as the provider's pre-check), and send the verdict; a result that cannot be obtained
or does not match its commitment fails once the verdict is due."""

from __future__ import annotations

import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path

from ..chain.types import Task
from ..errors import IchainError
from ..sandbox import policy as policies
from ..sandbox.staging import stage_name
from ..sandbox.taskspec import bundled_dataset, load_task
from ..transfer.locator import FileRef
from . import envelopes as env
from .jobs import VALIDATE, Job
from .role import ProviderRole


class ValidatorDuties(ProviderRole):
    """Mixed into `ProviderAgent` (the attributes it uses are declared by `ProviderRole`)."""

    def _stage(self, task_id: int) -> str:
        """The neutral staging name the provider's pre-check and the validator's check share."""
        return stage_name(self.market.chain.chain_id, self.market.address, task_id)

    def _as_validator(self, task: Task) -> None:
        """In the duty loop: decline what this validator will not take (within the decline
        window), and start the check as a job of the validation lane otherwise."""
        if task.key_commit is None:
            return
        if self.draining:
            self._decline_draw(task, "shutting down")
            return
        refused = self._validation_refused(task)
        if refused:
            self._decline_draw(task, refused)
            return
        due = task.deadline - self.market.chain.timestamp()
        self.jobs.start(VALIDATE, task.task_id, lambda job: self._validate(task, job), max(60.0, due + 60))

    def _validate(self, task: Task, job: Job) -> None:
        """The validation job: fetch task and result, check in the sandbox, send the verdict."""
        task_id = task.task_id
        base = self.work / f"validate-{task_id}"
        try:
            facts = env.task_facts(self.market, task_id, self.journal.get(task_id).get("assigned_block", 0))
            found = env.commitment(self.market, task_id, facts.block)
            refs = env.validator_refs(self.market, task_id, task.provider or "", found, facts.block)
            task_ref = env.pick(refs, facts.task_root)
            result_ref = env.pick(refs, found.result_root) if found else None
            if task_ref is None or result_ref is None or found is None:
                if self._verdict_due(task):
                    # A provider that withholds what the validator needs cannot make it look silent
                    # (and so forfeit its stake, then claim unvalidated): an unverifiable result fails.
                    self._verdict(task, False, "no envelope from the provider in time")
                return  # the provider's envelope is not here yet
            k2, root = result_ref.key, bytes.fromhex(found.result_root)
            if env.key_commit(k2, task_id, root) != task.key_commit:
                self._verdict(task, False, "the key sealed to me does not match the commitment")
                return
            key = env.result_key(self.market, task_id, task_ref.key, k2)
            for ref, name in (
                (task_ref, "task"),
                (FileRef(result_ref.root, key, result_ref.transport, result_ref.address), "result"),
            ):
                if not (
                    (base / name).is_dir() and self.journal.get(task_id).get(f"fetched_{name}") == ref.root
                ):
                    shutil.rmtree(base / name, ignore_errors=True)
                    self._say(
                        "fetching",
                        task_id,
                        f"{name} {ref.root[:12]}…",
                        role="validator",
                        root=ref.root,
                        what=name,
                    )
                    job.at(f"fetching {name}")
                    self.fetcher.fetch(
                        ref,
                        base / name,
                        base / f"{name}-chunks",
                        progress=self.progress,
                        cancel=job.cancel,
                        deadline_s=max(30.0, job.remaining_s),
                        keep_sealed=base / "result-sealed" if name == "result" else None,
                    )
                    self.journal.update(task_id, **{f"fetched_{name}": ref.root})
            spec = policies.clamp(load_task(base / "task"), self.policy)
            if spec.dataset and not spec.dataset_root:  # a single task's dataset is in its package
                inside = bundled_dataset(spec)
                if inside is None:
                    self._verdict(task, False, "the task's dataset is not in its package")
                    return
                spec = replace(spec, dataset_dir=inside)
            elif spec.dataset:
                dataset_ref = env.pick(refs, spec.dataset_root) if spec.dataset_root else None
                if dataset_ref is None:
                    if self._verdict_due(task):
                        self._verdict(task, False, "the task's dataset was not sealed to me")
                    return
                if not (base / "dataset").is_dir():
                    job.at("dataset")
                    self.datasets.obtain(
                        dataset_ref,
                        base / "dataset",
                        partial(self.fetcher.fetch, progress=self.progress),
                        cancel=job.cancel,
                        deadline_s=max(30.0, job.remaining_s),
                    )
                spec = replace(spec, dataset_dir=base / "dataset")
            job.at("checking")
            run = self.sandbox.check(spec, base / "result", cancel=job.cancel, stage=self._stage(task_id))
            if run.cancelled:
                return
            last = run.stdout_tail[-1] if run.stdout_tail else run.reason
            self._verdict(task, run.ok, last, root, k2)
            if run.ok:
                self._serve_second(task, facts.requester_key, base / "result-sealed", key, found.result_root)
            shutil.rmtree(base, ignore_errors=True)
        except IchainError as exc:
            self._say("error", task_id, str(exc), role="validator")
            if self._verdict_due(task):
                # the provider does not serve what it committed: it cannot be passed
                self._verdict(task, False, f"result unobtainable: {exc}")

    def _serve_second(self, task: Task, requester_key: bytes, sealed: Path, key: bytes, root: str) -> None:
        """After a pass, serve the result's encrypted chunks (fetched to check it) as a second
        source, and tell the requester where in an envelope only it opens: a provider that stops
        serving a paid result is then not the requester's loss alone."""
        task_id = task.task_id
        if not (sealed / "manifest.json").is_file():
            return
        try:
            serve = self.work / f"serve-{task_id}"
            shutil.rmtree(serve, ignore_errors=True)
            sealed.replace(serve)
            ref = self.host.republish(serve, key)
            self.journal.update(task_id, serve_root=root, serve_dir=str(serve), serve_key=key.hex())
            located = FileRef(root, env.NO_KEY, ref.transport, ref.address)
            blob = env.seal_refs(self.market, requester_key, [located], task_id, "requester")
            self.market.post_envelope(task_id, blob).send(intent=f"second:{self.market.address}:{task_id}")
            self._say(
                "serving", task_id, f"result served as a second source at {ref.address}", role="validator"
            )
        except (OSError, IchainError) as exc:  # the provider stays the first source
            self._say(
                "error", task_id, f"cannot serve the result as a second source: {exc}", role="validator"
            )

    def _validation_refused(self, task: Task) -> str | None:
        """Why this validator will not take the task (None: it will): a review window longer than
        it lets its stake be locked for."""
        if task.review_window * 4 > self.max_lock_s:
            return f"a {task.review_window} s review window locks more than this validator accepts"
        return None

    def _decline_draw(self, task: Task, why: str) -> None:
        """Give the validation back within the decline window (no slash; another is drawn). After
        that window the lock stands and the validator must decide."""
        record = self.journal.get(task.task_id)
        if record.get("declined_draw") == task.deadline:
            return
        assigned = task.deadline - task.review_window
        if self.market.chain.timestamp() > assigned + task.review_window // 4:
            return
        self.market.decline_draw(task.task_id).send()
        self.journal.update(task.task_id, declined_draw=task.deadline)
        self._say("declined", task.task_id, f"validation given back ({why})", role="validator")

    def _verdict_due(self, task: Task) -> bool:
        """Whether the last part of the verdict window has come (a fail is due then, not silence);
        past the deadline a verdict still counts until someone replaces this validator."""
        remaining = task.deadline - self.market.chain.timestamp()
        return remaining < max(30, task.review_window // 4)

    def _verdict(
        self, task: Task, passed: bool, why: str, root: bytes = bytes(32), k2: bytes = bytes(32)
    ) -> None:
        """A pass reveals the result root and K2 (checked on chain); a fail needs neither."""
        self.market.submit_verdict(task.task_id, passed, root, k2).send(
            intent=f"verdict:{self.market.address}:{task.task_id}:{task.state.name}"
        )
        self._say(
            "verdict",
            task.task_id,
            f"{'PASS' if passed else 'FAIL'} ({why})",
            role="validator",
            passed=passed,
        )
