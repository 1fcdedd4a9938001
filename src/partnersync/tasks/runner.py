"""The runner: the one way any task runs, whoever asked (schedule, CLI or HTTP).

It takes the task's lease, writes the `sync_logs` row, keeps the lease alive from a
heartbeat thread (which also publishes live progress), runs the task's coroutine in
its own event loop, and records the outcome on the log row and the task row.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from partnersync.config import Settings
from partnersync.db.engine import in_transaction
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.db.types import utcnow
from partnersync.sync.context import Progress, SyncContext
from partnersync.sync.report import RunReport
from partnersync.tasks import alerts, leases, timing
from partnersync.tasks.leases import AlreadyRunning, Lease, LeaseLost, UnknownTask
from partnersync.types import Mode, Trigger

TaskFunction = Callable[[SyncContext], Awaitable[None]]

log = structlog.get_logger(__name__)

__all__ = [
    "AlreadyRunning",
    "RunCancelled",
    "RunOutcome",
    "StartedRun",
    "UnknownTask",
    "execute_run",
    "run_task",
    "start_run",
]

INTERRUPTED = "interrupted by shutdown"

PROGRESS_SECONDS = 2.0
"""Heartbeats come at least this often, so dashboards see a run's progress live."""


class RunCancelled(Exception):
    """Raised at a checkpoint once the process is shutting down; the run is recorded failed."""

    def __init__(self) -> None:
        super().__init__(INTERRUPTED)


@dataclass
class RunOutcome:
    task: str
    log_id: int
    status: str
    error: str | None
    report: RunReport
    started_at: datetime
    completed_at: datetime
    previous_failures: int = 0
    """`consecutive_failures` before this run: with `status` it tells a task started or
    stopped failing, from what the database recorded rather than a process's memory."""


@dataclass
class _Heartbeat:
    """Renews the lease (every third of its lifetime, or more often) and publishes progress."""

    engine: Engine
    lease: Lease
    ttl: timedelta
    clock: Callable[[], datetime]
    progress: dict[str, Any] = field(default_factory=dict)
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(min(self.ttl.total_seconds() / 3, PROGRESS_SECONDS)):
            try:
                with self.engine.begin() as connection:
                    held = leases.renew(
                        connection, self.lease, self.clock(), self.ttl, dict(self.progress)
                    )
            except Exception as exc:  # a blip must not kill the heartbeat; expiry is the guard
                log.warning("heartbeat failed", task=self.lease.task, error=str(exc))
                continue
            if not held:
                self.lost.set()
                return

    def checkpoint(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"{self.lease.task}: lease lost to another process; run stopped")


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    plain = (LeaseLost, AlreadyRunning, RunCancelled)
    return text if isinstance(exc, plain) else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True)
class StartedRun:
    """A claimed run: its lease is held and its `sync_logs` row exists, nothing executed yet."""

    lease: Lease
    log_id: int
    mode: Mode
    started_at: datetime


def start_run(
    engine: Engine,
    settings: Settings,
    task: str,
    *,
    mode: Mode = "incremental",
    trigger: Trigger = "cli",
    owner: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    expected_token: int | None = None,
) -> StartedRun:
    """Take `task`'s lease and write its `running` log row; raises `AlreadyRunning` / `UnknownTask`.

    Split from `execute_run` so a caller (the HTTP API) can answer with a real run id, or
    a refusal, before the run itself goes on in a worker thread.
    """
    owner = owner or leases.default_owner()
    started = clock()

    def claim(connection: Connection) -> tuple[Lease, int]:
        lease = leases.acquire(
            connection,
            task,
            owner,
            started,
            timedelta(seconds=settings.lease_seconds),
            expected_token,
        )
        log_id: int = connection.execute(
            insert(sync_logs).values(
                sync_type=task,
                status="running",
                mode=mode,
                trigger=trigger,
                owner=owner,
                started_at=started,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        connection.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type == task)
            .values(current_log_id=log_id, last_run_at=started)
        )
        return lease, log_id

    lease, log_id = in_transaction(engine, claim)
    return StartedRun(lease, log_id, mode, started)


def execute_run(
    engine: Engine,
    settings: Settings,
    run: StartedRun,
    function: TaskFunction,
    *,
    progress: Progress | None = None,
    scheduled_for: datetime | None = None,
    clock: Callable[[], datetime] = utcnow,
    cancel: threading.Event | None = None,
) -> RunOutcome:
    """Execute a started run under its lease (kept alive by heartbeats) and record the outcome."""
    ttl = timedelta(seconds=settings.lease_seconds)
    heartbeat = _Heartbeat(engine, run.lease, ttl, clock)

    def report_progress(stage: str, done: int, total: int | None) -> None:
        heartbeat.progress.update(stage=stage, done=done, total=total)
        if progress is not None:
            progress(stage, done, total)

    def checkpoint() -> None:
        heartbeat.checkpoint()
        if cancel is not None and cancel.is_set():
            raise RunCancelled

    context = SyncContext(
        engine=engine,
        settings=settings,
        mode=run.mode,
        started_at=run.started_at,
        progress=report_progress,
        checkpoint=checkpoint,
    )
    heartbeat.start()
    error: BaseException | None = None
    try:
        asyncio.run(_execute(function, context))
    except BaseException as exc:
        error = exc
    finally:
        heartbeat.stop()
    outcome = _finish(
        engine, run.lease, run.log_id, context, error, scheduled_for or run.started_at, clock
    )
    alerts.notify(settings.alert_webhook_url, outcome)
    if error is not None and not isinstance(error, Exception):
        raise error
    return outcome


def run_task(
    engine: Engine,
    settings: Settings,
    task: str,
    function: TaskFunction,
    *,
    mode: Mode = "incremental",
    trigger: Trigger = "cli",
    owner: str | None = None,
    progress: Progress | None = None,
    scheduled_for: datetime | None = None,
    clock: Callable[[], datetime] = utcnow,
    cancel: threading.Event | None = None,
    expected_token: int | None = None,
) -> RunOutcome:
    """Run `task` once under its lease. Raises `AlreadyRunning` / `UnknownTask` before starting.

    A failure of the task itself is recorded (log row `failed`, error message, backoff on
    the task row) and returned, not raised; an interrupt is recorded and then re-raised.
    Once `cancel` is set the task's next checkpoint raises `RunCancelled`, so a shutting
    down process records its run as failed instead of leaving it to expire.
    `expected_token`: see `leases.acquire`.
    """
    run = start_run(
        engine,
        settings,
        task,
        mode=mode,
        trigger=trigger,
        owner=owner,
        clock=clock,
        expected_token=expected_token,
    )
    return execute_run(
        engine,
        settings,
        run,
        function,
        progress=progress,
        scheduled_for=scheduled_for,
        clock=clock,
        cancel=cancel,
    )


async def _execute(function: TaskFunction, context: SyncContext) -> None:
    try:
        await function(context)
    finally:
        await context.aclose()


def _finish(
    engine: Engine,
    lease: Lease,
    log_id: int,
    context: SyncContext,
    error: BaseException | None,
    scheduled_for: datetime,
    clock: Callable[[], datetime],
) -> RunOutcome:
    finished = clock()
    report = context.report
    status = "success" if error is None else "failed"
    message = None if error is None else describe(error)
    details = context.details()

    def record(connection: Connection) -> int:
        connection.execute(  # a row already marked abandoned by a taker-over keeps that verdict
            update(sync_logs)
            .where(sync_logs.c.id == log_id, sync_logs.c.status == "running")
            .values(
                status=status,
                completed_at=finished,
                records_processed=report.total("processed"),
                records_created=report.total("created"),
                records_updated=report.total("updated"),
                records_deleted=report.total("deleted"),
                records_failed=report.total("failed"),
                api_requests=report.requests,
                error_message=message,
                details=details,
            )
        )
        task = connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == lease.task)
        ).one()
        interval = timedelta(minutes=task.interval_minutes)
        if error is None:
            outcome_values: dict[str, Any] = {
                "last_status": "success",
                "last_error": None,
                "consecutive_failures": 0,
                "next_run_at": timing.next_after_success(scheduled_for, interval, finished),
            }
        else:
            failures = task.consecutive_failures + 1
            outcome_values = {
                "last_status": "failed",
                "last_error": message,
                "consecutive_failures": failures,
                "next_run_at": timing.next_after_failure(failures, interval, finished),
            }
        if not leases.release(connection, lease, **outcome_values):
            log.warning("lease was taken over before the run finished", task=lease.task)
        return int(task.consecutive_failures)

    previous_failures = in_transaction(engine, record)
    log.info("run finished", task=lease.task, status=status, log_id=log_id, error=message)
    return RunOutcome(
        lease.task,
        log_id,
        status,
        message,
        report,
        context.started_at,
        finished,
        previous_failures,
    )
