"""Provides `SweepRunner`: one experiment over many providers — a task folder and a parameter grid
become runs, each with its own sealed package (`ichain-params.json`), sharing one dataset sealed
once under its own key; the runs are placed on the best providers (`sweep_plan`), created in one
`createTasks` transaction (each with its own escrow, validator draw and timeline), followed in
parallel, retried elsewhere when declined, expired or failed (at most `max_retries` more per run,
never past the budget), their results and metrics collected side by side, and rated together in
one `rateMany`: a sweep without failures costs its requester 2 transactions whatever its size.

Everything is journaled (`sweep_state`) before the transaction that depends on it, so `resume`
after a crash creates nothing twice and loses no result.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..amounts import format_eth
from ..chain.errors import ContractRevert
from ..chain.types import GasPreview, TaskState, TaskTerms, ValidatorMode
from ..chain.wallet import public_key
from ..errors import IchainError, UsageError, one_line
from ..sandbox.taskspec import DATASET_FILE, PARAMS_FILE, SPEC_FILE, TaskSpec
from ..transfer.locator import FileRef
from ..transfer.manifest import seal_folder
from . import envelopes as env
from .events import AgentEvent, Reporter, ignore
from .requester import Outcome, RequesterAgent
from .selection import Candidate, pool
from .sweep_plan import Place, cheapest_run, place_runs
from .sweep_results import Preview, metrics_of
from .sweep_spec import SweepSpec
from .sweep_state import CREATING, DONE, FAILED, LIVE, PENDING, Attempt, Run, SweepState

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 8
REVIEW_WINDOW_S = 3600


class SweepRunner:
    def __init__(
        self,
        requester: RequesterAgent,
        state: SweepState,
        report: Reporter = ignore,
        rating: int = 5,
        poll_s: float | None = None,
    ) -> None:
        self.requester = requester
        self.market = requester.market
        self.state = state
        self.spec = SweepSpec.from_dict(state.spec)
        self.report = report
        self.rating = rating
        self.poll_s = poll_s if poll_s is not None else (12.0 if self.market.chain.kind == "rpc" else 0.5)
        self.base = requester.work / "sweeps" / state.sweep_id
        self._threads: dict[int, threading.Thread] = {}
        self._slash_bps = self.market.slash_bps
        self._min_fee_bps = self.market.min_fee_bps
        self._dataset_ref: FileRef | None = None
        previous = requester.report

        def hear(event: AgentEvent) -> None:  # the requester's events: progress reports feed the runs
            if event.kind == "progress" and event.task_id is not None:
                self._progress(event.task_id, event.data.get("progress") or {})
            previous(event)

        requester.report = hear

    # ------------------------------------------------------------------ creating a sweep
    @classmethod
    def new(
        cls,
        requester: RequesterAgent,
        folder: Path,
        task: TaskSpec,
        spec: SweepSpec,
        results_dir: Path,
        report: Reporter = ignore,
        rating: int = 5,
    ) -> SweepRunner:
        """Journal a new sweep of `folder` (already validated as `task`) and prepare its runs'
        packages and its dataset; nothing is sent yet."""
        market = requester.market
        state = SweepState(
            sweep_id=SweepState.new_id(),
            scope=market.scope,
            requester=requester.me,
            folder=str(Path(folder).resolve()),
            spec=spec.as_dict(),
            start_block=market.chain.block_number(),
            time_limit=max(1, int(-(-task.time_limit // 1))),
            gpus=task.gpus,
            runs=[Run(i, params) for i, params in enumerate(spec.runs())],
            results_dir=str(Path(results_dir).resolve()),
        )
        runner = cls(requester, state, report, rating)
        runner._prepare(Path(folder), task)
        state.save()
        return runner

    def _say(self, kind: str, message: str, task_id: int | None = None, **data: Any) -> None:
        self.report(AgentEvent("sweep", kind, task_id, message, {"sweep": self.state.sweep_id, **data}))

    def _prepare(self, folder: Path, task: TaskSpec) -> None:
        """Seal the dataset once and each run's package (the task folder without the dataset,
        with its parameters and the dataset's root)."""
        self.base.mkdir(parents=True, exist_ok=True)
        dataset_root = ""
        if task.dataset:
            source = (folder / task.dataset).resolve()
            if not source.is_relative_to(folder.resolve()) or not source.exists():
                raise UsageError(f"dataset {task.dataset!r} is not a file or folder inside {folder}")
            plain = source
            if source.is_file():  # a single file is sealed as a folder holding it: /dataset/<name>
                plain = self.base / "dataset-plain"
                plain.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, plain / source.name)
            try:
                sealed = seal_folder(plain, self.base / "dataset-sealed", chunks=self.requester.chunks)
            except (OSError, IchainError) as exc:
                raise UsageError(f"dataset {task.dataset!r} cannot be read: {one_line(exc)}") from None
            dataset_root = sealed.root
            self.state.dataset = {
                "root": sealed.root,
                "key": sealed.key.hex(),
                "dir": str(sealed.directory),
                "sealed_bytes": sealed.manifest.sealed_size,
                "path": task.dataset,
            }
            self._say("dataset", f"dataset {task.dataset} sealed once: {sealed.root[:12]}…", root=sealed.root)
        skip = Path(task.dataset).parts[0] if task.dataset else None
        for run in self.state.runs:
            package = self.base / f"run-{run.index}" / "package"
            shutil.rmtree(package, ignore_errors=True)
            shutil.copytree(
                folder,
                package,
                symlinks=False,
                ignore=lambda d, names: (
                    [n for n in names if Path(d) == folder and n == skip]
                    + [n for n in names if n in (PARAMS_FILE, DATASET_FILE, "__pycache__")]
                ),
            )
            (package / PARAMS_FILE).write_text(json.dumps(run.params, sort_keys=True))
            if dataset_root:
                (package / DATASET_FILE).write_text(json.dumps({"root": dataset_root}))
            assert (package / SPEC_FILE).exists() or not (folder / SPEC_FILE).exists()
            sealed = seal_folder(
                package, self.base / f"run-{run.index}" / "sealed", chunks=self.requester.chunks
            )
            run.package_dir, run.package_root, run.package_key = (
                str(sealed.directory),
                sealed.root,
                sealed.key.hex(),
            )
            shutil.rmtree(package, ignore_errors=True)

    # ------------------------------------------------------------------ hosting
    def host(self) -> None:
        """Serve the dataset and every run's package (again, after a restart)."""
        if self.state.dataset:
            self._dataset_ref = self.requester.host.republish(
                Path(self.state.dataset["dir"]), bytes.fromhex(self.state.dataset["key"])
            )
        for run in self.state.runs:
            if run.status not in (DONE, FAILED) and run.package_dir:
                self.requester.host.republish(Path(run.package_dir), bytes.fromhex(run.package_key))

    # ------------------------------------------------------------------ planning
    def fee_for(self, payment: int) -> int:
        return min(max(self.requester_fee, payment * self._min_fee_bps // 10_000), self.lock_for(payment))

    def lock_for(self, payment: int) -> int:
        return payment * self._slash_bps // 10_000

    requester_fee = 0  # the settings' validator fee (set by the command); the market's minimum wins

    def _plan(self, candidates: list[Candidate]) -> list[Place]:
        with self.state.lock:
            pending = [r for r in self.state.runs if r.status == PENDING]
            live = sum(1 for r in self.state.runs if r.status in (LIVE, CREATING))
            budget = self.budget - self.state.spent
        return place_runs(
            pending,
            candidates,
            me=self.requester.me,
            time_limit=self.state.time_limit,
            gpus=self.state.gpus,
            review_window=REVIEW_WINDOW_S,
            fee_for=self.fee_for,
            lock_for=self.lock_for,
            budget_left=budget,
            max_new=max(0, self.spec.max_parallel - live),
        )

    @property
    def budget(self) -> int:
        return self.spec.budget_wei if self.spec.budget_wei is not None else 0

    def preview(self) -> Preview:
        """The first wave and what it costs; a grid the budget cannot pay is refused here, in one
        line, before anything is paid."""
        candidates = pool(self.market)
        cheapest = cheapest_run(
            candidates, self.requester.me, self.state.time_limit, self.state.gpus, self.fee_for
        )
        if cheapest is None:
            raise IchainError("no available provider can take these runs (GPUs, availability)")
        runs = len(self.state.runs)
        if self.spec.budget_wei is None:
            # every run at the dearest provider that could take it: room for each run's retry
            dearest = cheapest_run(
                candidates,
                self.requester.me,
                self.state.time_limit,
                self.state.gpus,
                self.fee_for,
                dearest=True,
            )
            self.spec = SweepSpec.from_dict({**self.state.spec, "budget_wei": runs * (dearest or cheapest)})
            self.state.spec = self.spec.as_dict()
        elif runs * cheapest > self.spec.budget_wei:
            raise UsageError(
                f"{runs} runs cost at least {format_eth(runs * cheapest)} (the cheapest provider's rate x "
                f"limit + fee each); the budget is {format_eth(self.spec.budget_wei)}: raise it or shrink the grid"
            )
        placed = self._plan(candidates)
        if not placed:
            raise IchainError("no provider has room for a run now (slots, queue, stake or budget)")
        gas = self._gas_estimate(placed)
        return Preview(
            runs, placed, sum(p.cost for p in placed), gas, self.budget, len({p.provider for p in placed})
        )

    def _gas_estimate(self, placed: list[Place]) -> int:
        gas = self.gas_preview(placed)
        return gas.max_cost if gas is not None else 0

    def gas_preview(self, placed: list[Place]) -> GasPreview | None:
        """The first wave's `createTasks`: its gas and value (None when the node cannot say)."""
        try:
            call = self.market.create_tasks(self._terms(placed, self.market.task_count() + 1), self._my_key())
            return call.preview()
        except IchainError as exc:
            log.info("no gas estimate for the sweep's createTasks: %s", exc)
            return None

    def _my_key(self) -> bytes:
        return public_key(self.market.signer)

    def _terms(self, placed: list[Place], first_id: int) -> list[TaskTerms]:
        terms = []
        for offset, place in enumerate(placed):
            run = self.state.run(place.run)
            refs = [
                FileRef(
                    run.package_root,
                    bytes.fromhex(run.package_key),
                    self.requester.host.transport.name,
                    self.requester.host.address,
                )
            ]
            if self._dataset_ref is not None:
                refs.append(self._dataset_ref)
            envelope = env.seal_refs(
                self.market, place.candidate.provider.public_key, refs, first_id + offset, "provider"
            )
            terms.append(
                TaskTerms(
                    provider=place.provider,
                    payment=place.payment,
                    task_root=bytes.fromhex(run.package_root),
                    time_limit=self.state.time_limit,
                    gpus=self.state.gpus,
                    mode=ValidatorMode.RANDOM,
                    validator_fee=place.fee,
                    execute_window=place.execute_window,
                    review_window=REVIEW_WINDOW_S,
                    provider_envelope=envelope,
                )
            )
        return terms

    # ------------------------------------------------------------------ creating tasks
    def _create(self, placed: list[Place]) -> None:
        """One `createTasks` for every placed run; the attempts are journaled (task id 0) before
        it is sent, and their ids after it is mined."""
        with self.state.lock:
            for place in placed:
                run = self.state.run(place.run)
                # served again: an earlier attempt's end stopped serving it
                self.requester.host.republish(Path(run.package_dir), bytes.fromhex(run.package_key))
                run.attempts.append(Attempt(0, place.provider, place.payment, place.fee, place.round))
                run.status = CREATING
                self.requester.journal.stash(
                    run.package_root,
                    task_dir=run.package_dir,
                    task_key=run.package_key,
                    folder=self.state.folder,
                    rating=None,
                )
            self.state.save()
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            first = self.market.task_count() + 1
            call = self.market.create_tasks(self._terms(placed, first), self._my_key(), first)
            try:
                tx = call.send(
                    intent=f"sweep:{self.market.address}:{self.state.sweep_id}:{first}:{len(placed)}"
                )
                break
            except ContractRevert as exc:
                if exc.name != "TaskIdTaken" or attempt == CREATE_ATTEMPTS:
                    with self.state.lock:
                        for place in placed:
                            run = self.state.run(place.run)
                            run.attempts.pop()
                            run.status = PENDING
                        self.state.save()
                    raise
                time.sleep(0.1 * attempt)
        created = [int(e["taskId"]) for e in tx.events if e["event"] == "TaskCreated"]
        with self.state.lock:
            self.state.requester_txs += 1
            for place, task_id in zip(placed, created, strict=True):
                run = self.state.run(place.run)
                run.attempts[-1].task_id = task_id
                run.status = LIVE
                self.requester.journal.adopt(task_id, run.package_root, block=tx.block)
            self.state.save()
        for place, task_id in zip(placed, created, strict=True):
            self.requester.accept_log(task_id, place.candidate.provider.public_key)
            self._say(
                "created",
                f"run {place.run} {self._params(place.run)} → task {task_id} at {place.provider}"
                + (f" (round {place.round + 1})" if place.round else ""),
                task_id,
                run=place.run,
            )

    def _params(self, index: int) -> str:
        return " ".join(f"{k}={v}" for k, v in self.state.run(index).params.items())

    def _recover_creating(self) -> None:
        """After a crash between sending a `createTasks` and recording its ids: the tasks this
        account created with a run's package root are that run's (never created again)."""
        creating = [r for r in self.state.runs if r.status == CREATING]
        if not creating:
            return
        roots = {r.package_root: r for r in creating}
        for event in self.market.events(
            "TaskCreated", self.state.start_block, {"requester": self.requester.me}
        ):
            root = bytes(event.args["taskRoot"]).hex()
            run = roots.get(root)
            if run is not None and run.attempts and run.attempts[-1].task_id == 0:
                task_id = int(event.args["taskId"])
                run.attempts[-1].task_id = task_id
                run.status = LIVE
                if self.requester.journal.stashed(root):
                    self.requester.journal.adopt(task_id, root, block=event.block)
        for run in creating:
            if run.status == CREATING:  # never mined: it is pending again
                run.attempts.pop()
                run.status = PENDING
        self.state.save()

    # ------------------------------------------------------------------ following
    def _follow(self, run: Run, stop: threading.Event) -> None:
        attempt = run.live
        if attempt is None:
            return
        out = Path(self.state.results_dir) / f"run-{run.index}"
        try:
            outcome = self.requester.follow(attempt.task_id, out, rating=None, stop=stop)
        except Exception as exc:  # the next pass starts this follow again
            log.warning("sweep %s run %d: follow failed: %s", self.state.sweep_id, run.index, exc)
            self._say("error", f"run {run.index}: {one_line(exc)}", attempt.task_id, run=run.index)
            return
        if outcome.message == "stopped":
            return
        self._ended(run, attempt, outcome)

    def _ended(self, run: Run, attempt: Attempt, outcome: Outcome) -> None:
        with self.state.lock:
            if outcome.ok and outcome.result_dir is not None:
                attempt.outcome = "paid"
                run.status = DONE
                run.result_dir = str(outcome.result_dir)
                run.metrics = metrics_of(outcome.result_dir)
                value = run.metrics.get(self.spec.metric) if self.spec.metric else None
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    run.history.append(float(value))
                message = f"run {run.index} done" + (
                    f": {self.spec.metric} {value}" if value is not None else ""
                )
            else:
                attempt.outcome = (
                    outcome.state.label.lower() if outcome.state is not TaskState.NONE else "lost"
                )
                if run.retries < self.spec.max_retries:
                    run.status = PENDING
                    message = (
                        f"run {run.index}: task {attempt.task_id} {attempt.outcome}; it runs again elsewhere"
                    )
                else:
                    run.status = FAILED
                    message = f"run {run.index}: task {attempt.task_id} {attempt.outcome}; no retries left"
            self.state.save()
        self._say("run", message, attempt.task_id, run=run.index, status=run.status)

    def _progress(self, task_id: int, values: dict[str, Any]) -> None:
        run = self.state.by_task(task_id)
        if run is None:
            return
        with self.state.lock:
            run.progress = dict(values)
            run.progress_at = time.time()
            value = values.get(self.spec.metric) if self.spec.metric else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                run.history.append(float(value))
                del run.history[:-400]
        self._say("progress", f"run {run.index}", task_id, run=run.index, progress=values)

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event | None = None) -> SweepState:
        """Until every run is done or out of retries (or `stop`): create what can be placed,
        follow what is live, retry what failed elsewhere; then rate together and withdraw."""
        stop = stop or threading.Event()
        self.host()
        self._recover_creating()
        waiting_said = False
        while not stop.is_set() and not self.state.over:
            self._start_follows(stop)
            with self.state.lock:
                pending = [r for r in self.state.runs if r.status == PENDING]
            if pending:
                placed = self._plan(pool(self.market))
                if placed:
                    try:
                        self._create(placed)
                        waiting_said = False
                    except IchainError as exc:
                        self._say("error", f"creating runs: {one_line(exc)} (trying again)")
                        stop.wait(max(self.poll_s, 2.0))
                    continue
                if not self._any_live():
                    self._give_up_stuck(pending)
                    continue
                if not waiting_said:
                    self._say("waiting", f"{len(pending)} runs wait for a provider with room")
                    waiting_said = True
            stop.wait(self.poll_s)
        for thread in list(self._threads.values()):
            thread.join(timeout=0 if stop.is_set() else 30)
        if not stop.is_set() and self.state.over:
            self._finish()
        return self.state

    def _give_up_stuck(self, pending: list[Run]) -> None:
        """Nothing is live and nothing could be placed: a run with no provider left to try, or
        whose cheapest untried provider costs more than the budget left, is given up; the others
        wait for room."""
        candidates = pool(self.market)
        left = self.budget - self.state.spent
        for run in pending:
            untried = [c for c in candidates if c.address not in run.tried]
            cheapest = cheapest_run(
                untried, self.requester.me, self.state.time_limit, self.state.gpus, self.fee_for
            )
            if cheapest is None:
                self._give_up([run], f"run {run.index}: no provider left that it has not failed at")
            elif cheapest > left:
                self._give_up(
                    [run], f"run {run.index}: the budget left ({format_eth(left)}) cannot pay another try"
                )

    def _any_live(self) -> bool:
        return any(r.status in (LIVE, CREATING) for r in self.state.runs)

    def _give_up(self, runs: list[Run], why: str) -> None:
        with self.state.lock:
            for run in runs:
                run.status = FAILED
            self.state.save()
        self._say("run", f"{len(runs)} runs given up: {why}")

    def _start_follows(self, stop: threading.Event) -> None:
        for run in self.state.runs:
            attempt = run.live
            if run.status != LIVE or attempt is None or attempt.task_id == 0:
                continue
            thread = self._threads.get(attempt.task_id)
            if thread is not None and thread.is_alive():
                continue
            thread = threading.Thread(
                target=self._follow, args=(run, stop), daemon=True, name=f"sweep-{run.index}"
            )
            self._threads[attempt.task_id] = thread
            thread.start()

    def _finish(self) -> None:
        """Rate every paid run in one transaction, close their records and withdraw once."""
        if self.state.status == "done":
            return
        unrated = [
            r.task_id for r in self.state.runs if r.status == DONE and not self.market.task(r.task_id).rated
        ]
        if unrated and self.rating:
            self.market.rate_many(unrated, [self.rating] * len(unrated)).send(
                intent=f"rateMany:{self.market.address}:{self.state.sweep_id}"
            )
            with self.state.lock:
                self.state.requester_txs += 1
                self.state.status = "rated"
                self.state.save()
            self._say("rated", f"{len(unrated)} runs rated {self.rating}/5 in one transaction")
        for run in self.state.runs:
            for attempt in run.attempts:
                if attempt.task_id:
                    self.requester.close(attempt.task_id)
        credits = self.market.credits(self.requester.me)
        if credits > 0:
            self.market.withdraw().send()
            with self.state.lock:
                self.state.requester_txs += 1
            self._say("withdrawn", f"{format_eth(credits)} of refunds back in the wallet")
        if self.state.dataset:
            self.requester.host.unpublish(self.state.dataset["root"])
        with self.state.lock:
            self.state.status = "done"
            self.state.save()
        done = sum(1 for r in self.state.runs if r.status == DONE)
        self._say("done", f"sweep {self.state.sweep_id}: {done} of {len(self.state.runs)} runs done")
