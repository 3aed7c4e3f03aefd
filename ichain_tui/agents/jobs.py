"""Provides `Jobs`: the provider's long work — a task's run (fetch, dependencies, execution, its
own check, commit) or a validation — each in a thread of its own, with its own cancel event and
deadline, in lanes of bounded size (executions fill the provider's slots; validations have a
lane of their own, so they never wait behind an execution). The duty loop only starts jobs and
reads their state: it never waits on one.

A job that raises is handed to `on_crash` (the agent quarantines that task alone); a job past
its deadline has its cancel event set, which the sandbox and the fetcher obey at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..sandbox.placement import Placement

log = logging.getLogger(__name__)

EXECUTE, VALIDATE = "execute", "validate"


@dataclass
class Job:
    """One duty on one task, running in its own thread."""

    duty: str  # EXECUTE or VALIDATE
    task_id: int
    deadline: float  # time.monotonic() after which it is cancelled
    limit_s: float = 0.0  # the task's time limit (what "elapsed of limit" is measured against)
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    phase: str = "starting"
    placement: Placement | None = None
    progress: str = ""  # the last progress line the task printed
    progress_at: float = 0.0
    run_started: float = 0.0  # when the sandbox run began (0: not yet)

    def at(self, phase: str) -> None:
        self.phase = phase
        if phase == "executing":
            self.run_started = time.monotonic()

    def saw_progress(self, text: str) -> None:
        self.progress, self.progress_at = text[:80], time.monotonic()

    @property
    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()


@dataclass(frozen=True)
class JobView:
    """What an operator sees of a job (the dashboard's slot rows, `provide --headless` lines)."""

    duty: str
    task_id: int
    phase: str
    slot: int | None
    gpus: tuple[int, ...]
    elapsed_s: float  # of the sandbox run (0 before it starts)
    limit_s: float
    progress: str
    progress_age_s: float | None

    @property
    def where(self) -> str:
        """ "slot 2", "queued" (an execution waiting for a slot) or "check" (the validation lane)."""
        if self.duty != EXECUTE:
            return "check"
        return f"slot {self.slot}" if self.slot is not None else "queued"

    @property
    def gpu_text(self) -> str:
        return ",".join(map(str, self.gpus)) if self.gpus else "-"

    @property
    def timing(self) -> str:
        """Elapsed of the time limit ("312/7200 s"), empty before the sandbox run starts."""
        return f"{self.elapsed_s:.0f}/{self.limit_s:.0f} s" if self.elapsed_s else ""

    def describe(self) -> str:
        """One line: `[slot 0] task 7: executing GPU 0 312/7200 s epoch 3/10`."""
        gpus = f" GPU {self.gpu_text}" if self.gpus else ""
        timing = f" {self.timing}" if self.timing else ""
        progress = f" {self.progress}" if self.progress else ""
        return f"[{self.where}] task {self.task_id}: {self.phase}{gpus}{timing}{progress}"


class Jobs:
    """Lanes of jobs: `lanes` maps a duty to how many may run at once."""

    def __init__(self, lanes: dict[str, int], on_crash: Callable[[Job, BaseException], None]) -> None:
        self.lanes = dict(lanes)
        self._on_crash = on_crash
        self._jobs: dict[tuple[str, int], Job] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watchdog, daemon=True, name="job-deadlines")
        self._watch.start()

    def running(self, duty: str, task_id: int) -> bool:
        with self._lock:
            return (duty, task_id) in self._jobs

    def count(self, duty: str) -> int:
        with self._lock:
            return sum(1 for d, _ in self._jobs if d == duty)

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def start(
        self, duty: str, task_id: int, work: Callable[[Job], None], deadline_s: float, limit_s: float = 0.0
    ) -> bool:
        """Run `work(job)` in a thread of its own unless that job already runs or its lane is
        full (False: try again on a later pass)."""
        with self._lock:
            key = (duty, task_id)
            if key in self._jobs or sum(1 for d, _ in self._jobs if d == duty) >= self.lanes.get(duty, 1):
                return False
            job = Job(duty, task_id, time.monotonic() + max(1.0, deadline_s), limit_s)
            self._jobs[key] = job
        thread = threading.Thread(target=self._run, args=(job, work), daemon=True, name=f"{duty}-{task_id}")
        thread.start()
        return True

    def _run(self, job: Job, work: Callable[[Job], None]) -> None:
        try:
            work(job)
        except BaseException as exc:  # one task's failure is that task's alone
            try:
                self._on_crash(job, exc)
            except Exception:
                log.exception("task %d: the crash handler failed", job.task_id)
        finally:
            with self._lock:
                self._jobs.pop((job.duty, job.task_id), None)
                self._idle.notify_all()

    def _watchdog(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                late = [j for j in self._jobs.values() if now > j.deadline and not j.cancel.is_set()]
            for job in late:
                log.warning("task %d: %s passed its deadline; cancelled", job.task_id, job.duty)
                job.cancel.set()

    def cancel_all(self) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        return jobs

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs (False: some still did after `timeout` seconds)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._jobs:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
            return True

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def views(self) -> list[JobView]:
        now = time.monotonic()
        return [
            JobView(
                job.duty,
                job.task_id,
                job.phase,
                job.placement.slot if job.placement else None,
                job.placement.gpu_ids if job.placement else (),
                now - job.run_started if job.run_started else 0.0,
                job.limit_s,
                job.progress,
                now - job.progress_at if job.progress_at else None,
            )
            for job in sorted(self.jobs(), key=lambda j: (j.duty, j.task_id))
        ]

    def close(self) -> None:
        self._stop.set()
