"""The scheduler loop: finds due tasks and runs them through the runner in worker threads.

Any number of replicas may run it against one database. Each tick frees expired leases
(crash recovery), reads the task rows and starts the due ones in dependency order, at
most `max_concurrent` at a time in this process. The runner's database lease decides who
runs a task; what this process remembers only counts its own slots.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import FrameType

import structlog
from sqlalchemy import Engine, func, select

from partnersync.config import Settings
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.db.types import utcnow
from partnersync.scheduler.due import TaskState, due_tasks, is_due, scheduled_mode
from partnersync.tasks import leases
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.history import INTERRUPTED
from partnersync.tasks.outcome import RunOutcome, fail_run
from partnersync.tasks.registry import TASKS
from partnersync.tasks.runner import (
    AlreadyRunning,
    StartedRun,
    TaskFunction,
    execute_run,
    start_run,
)
from partnersync.tasks.timing import CANCEL_WAIT_SECONDS
from partnersync.types import Mode

ORDER: tuple[str, ...] = tuple(task.name for task in TASKS)
"""Dependency order of docs/design.md §4, with `cleanup` last."""

START_RETRY_MAX_SECONDS = 300.0
"""A run that cannot be started (its claim fails) is retried at most this far apart."""

log = structlog.get_logger(__name__)


class Scheduler:
    """Runs due tasks until stopped; see the module docstring.

    `functions` maps task names to coroutines (default: every implemented task); a due
    task without one is skipped and logged once, never faked.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        functions: Mapping[str, TaskFunction] | None = None,
        owner: str | None = None,
        max_concurrent: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        order: Sequence[str] = ORDER,
        on_outcome: Callable[[RunOutcome], None] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.functions = dict(TASK_FUNCTIONS if functions is None else functions)
        self.owner = owner or leases.default_owner()
        self.max_concurrent = max_concurrent or settings.max_concurrent_runs
        self.clock = clock
        self.order = tuple(order)
        self.on_outcome = on_outcome
        """Told every finished run of this process (the API's metrics count them)."""
        self.last_tick: datetime | None = None
        """When the last tick completed: the scheduler's heartbeat, for health checks."""
        self._runs: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._cancel = threading.Event()
        self._wake = threading.Event()
        self._loop: threading.Thread | None = None
        self._reported_unrunnable: set[str] = set()
        self._start_failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        """Tasks whose run could not be started wait here (monotonic time) before a retry."""

    @property
    def running(self) -> list[str]:
        """Tasks this process is running now."""
        with self._lock:
            return sorted(self._runs)

    # --- one tick ------------------------------------------------------------------------

    def tick(self) -> list[str]:
        """Reap expired leases, then start the due tasks that fit; return their names."""
        if self._stopping.is_set():
            return []
        with self.engine.begin() as connection:
            for name in leases.reap_expired(connection):
                log.warning("abandoned run recovered; task is due again", task=name)
        now = self.clock()  # after the reap, whose database clock made reaped tasks due
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(
                    scheduled_tasks.c.task_type,
                    scheduled_tasks.c.enabled,
                    scheduled_tasks.c.next_run_at,
                    scheduled_tasks.c.status,
                    scheduled_tasks.c.lease_token,
                )
            ).all()
        states = [TaskState(*row) for row in rows]
        self._report_unrunnable([s for s in states if s.name not in self.functions], now)
        with self._lock:
            free = self.max_concurrent - len(self._runs)
            waiting = {t for t, at in self._not_before.items() if at > time.monotonic()}
            runnable = [s for s in states if s.name in self.functions and s.name not in waiting]
            started = due_tasks(runnable, now, self.order, free, busy=set(self._runs))
            for task in started:
                self._start(task)
        self.last_tick = now
        return [task.name for task in started]

    def _report_unrunnable(self, states: list[TaskState], now: datetime) -> None:
        for state in states:
            if is_due(state, now) and state.name not in self._reported_unrunnable:
                self._reported_unrunnable.add(state.name)
                log.warning(
                    "task is due but not implemented in this version; skipped", task=state.name
                )

    def _start(self, task: TaskState) -> None:
        thread = threading.Thread(
            target=self._run, args=(task,), name=f"run-{task.name}", daemon=True
        )
        self._runs[task.name] = thread
        thread.start()

    def _mode(self, task: str) -> Mode:
        hours = self.settings.full_sync_every_hours
        with self.engine.connect() as connection:
            last_full = connection.scalar(
                select(func.max(sync_logs.c.started_at)).where(
                    sync_logs.c.sync_type == task,
                    sync_logs.c.mode == "full",
                    sync_logs.c.status == "success",
                )
            )
        return scheduled_mode(last_full, self.clock(), timedelta(hours=hours) if hours else None)

    def _run(self, task: TaskState) -> None:
        woke = True
        try:
            run = start_run(
                self.engine,
                self.settings,
                task.name,
                mode=self._mode(task.name),
                trigger="schedule",
                owner=self.owner,
                clock=self.clock,
                expected_token=task.lease_token,
            )
        except AlreadyRunning:
            log.debug("taken by another replica", task=task.name)
        except Exception as exc:
            woke = False  # retrying at once would spin; the backoff decides when
            self._start_failed(task.name, exc)
        else:
            self._start_failures.pop(task.name, None)
            self._execute(run, task)
        finally:
            with self._lock:
                self._runs.pop(task.name, None)
            if woke:
                self._wake.set()  # a slot is free: look again without waiting a whole tick

    def _execute(self, run: StartedRun, task: TaskState) -> None:
        try:
            outcome = execute_run(
                self.engine,
                self.settings,
                run,
                self.functions[task.name],
                scheduled_for=task.next_run_at,
                clock=self.clock,
                cancel=self._cancel,
            )
        except Exception:  # the runner recorded what it could; the thread must not die
            log.exception("run ended without an outcome", task=task.name)
            return
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def _start_failed(self, task: str, exc: Exception) -> None:
        """Back off 1, 2, 4 … s (at most `START_RETRY_MAX_SECONDS`); the traceback once."""
        failures = self._start_failures.get(task, 0) + 1
        self._start_failures[task] = failures
        delay = min(2.0 ** (failures - 1), START_RETRY_MAX_SECONDS)
        self._not_before[task] = time.monotonic() + delay
        if failures == 1:
            log.exception("run could not be started; retrying with backoff", task=task)
        else:
            log.warning(
                "run still cannot be started",
                task=task,
                attempts=failures,
                retry_in_seconds=delay,
                error=type(exc).__name__,
            )

    # --- the loop and shutdown -----------------------------------------------------------

    def run(self) -> None:
        """Tick until `stop()`; a failed tick (say, the database is away) is retried later."""
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            self._wake.wait(self.settings.scheduler_tick_seconds)

    def start(self) -> threading.Thread:
        """Run the loop in a background thread (the main thread stays free for the API)."""
        self._loop = threading.Thread(target=self.run, name="scheduler", daemon=True)
        self._loop.start()
        return self._loop

    def stop(self) -> None:
        """Stop claiming tasks; runs already going continue."""
        self._stopping.set()
        self._wake.set()

    def shutdown(
        self, grace: float | None = None, cancel_wait: float = CANCEL_WAIT_SECONDS
    ) -> None:
        """Stop claiming, let runs finish for `grace` seconds, then record the rest failed.

        Runs still going are cancelled (their next checkpoint raises `RunCancelled`); a run
        that reaches no checkpoint within `cancel_wait` is recorded failed here, under its
        lease token, so a later write of its stuck thread cannot overwrite the verdict.
        """
        self.stop()
        if self._loop is not None:
            self._loop.join()
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        if self._join_runs(grace):
            return
        log.warning("runs still going after the grace period are cancelled", tasks=self.running)
        self._cancel.set()
        if self._join_runs(cancel_wait):
            return
        for task in self.running:
            with self.engine.begin() as connection:
                failed = fail_run(connection, task, self.owner, self.clock(), INTERRUPTED)
            log.error("run did not stop; recorded as failed", task=task, recorded=failed)

    def _join_runs(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._runs.values())
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))
        return not any(thread.is_alive() for thread in threads)


def serve(scheduler: Scheduler, stop: threading.Event | None = None) -> None:
    """Run `scheduler` until SIGTERM or SIGINT (or `stop` is set), then shut down gracefully.

    The scheduler runs in a background thread and the main thread only waits, so the HTTP
    API can later be served from the main thread of the same process.
    """
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        log.info("scheduler started", owner=scheduler.owner, slots=scheduler.max_concurrent)
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("scheduler stopped", owner=scheduler.owner)
