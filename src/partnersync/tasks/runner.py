"""The runner: the one way any task runs, whoever asked (schedule, CLI or HTTP).

It takes the task's lease, writes the `sync_logs` row, keeps the lease alive from a
heartbeat thread (which also publishes live progress), runs the task's coroutine in
its own event loop with every write fenced by the lease, and records the outcome on the
log row and the task row (`outcome.record`). When the acknowledgement of that last commit
is lost, the outcome is read back from the database, so alerts and metrics still see it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from partnersync.config import Settings
from partnersync.db.engine import describe_database_error, in_transaction
from partnersync.db.migrate import seed_tasks
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.db.types import utcnow
from partnersync.sync.context import Progress, SyncContext
from partnersync.sync.report import printable
from partnersync.tasks import alerts, history, leases, outcome
from partnersync.tasks.history import INTERRUPTED
from partnersync.tasks.leases import AlreadyRunning, Lease, LeaseLost, UnknownTask
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.registry import ON_DEMAND, conflicts_of
from partnersync.types import Mode, OutcomeStatus, Trigger

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

PROGRESS_SECONDS = 2.0
"""Heartbeats come at least this often, so dashboards see a run's progress live."""


class RunCancelled(Exception):
    """Raised at a checkpoint once the process is shutting down; the run is recorded failed."""

    def __init__(self) -> None:
        super().__init__(INTERRUPTED)


@dataclass
class _Heartbeat:
    """Renews the lease (every third of its lifetime, or more often) and publishes progress."""

    engine: Engine
    lease: Lease
    ttl: timedelta
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
                    held = leases.renew(connection, self.lease, None, self.ttl, dict(self.progress))
            except Exception as exc:  # a blip must not kill the heartbeat; expiry is the guard
                log.warning("heartbeat failed", task=self.lease.task, error=str(exc))
                continue
            if not held:
                self.lost.set()
                return

    def checkpoint(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.lease.task)


def describe(exc: BaseException, stage: str | None = None) -> str:
    """The run's error for `sync_logs` and the API: one line, no SQL, no parameters."""
    if isinstance(exc, SQLAlchemyError):
        where = f" (while {stage})" if stage else ""
        return describe_database_error(exc) + where
    text = printable((str(exc) or type(exc).__name__).splitlines()[0])  # vendor text, too
    plain = (LeaseLost, AlreadyRunning, RunCancelled)
    return text if isinstance(exc, plain) else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True)
class StartedRun:
    """A claimed run: its lease is held and its `sync_logs` row exists, nothing executed yet."""

    lease: Lease
    log_id: int
    mode: Mode
    started_at: datetime
    previous_failures: int = 0
    """The task's `consecutive_failures` when the run was claimed (nobody else changes it
    while the lease is held), so the outcome is known even if its commit is lost."""


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

    def claim(connection: Connection) -> StartedRun:
        ttl = timedelta(seconds=settings.lease_seconds)
        if task in ON_DEMAND:
            seed_tasks(connection, [ON_DEMAND[task]])
        conflicts = conflicts_of(task)
        lease = leases.acquire(connection, task, owner, None, ttl, expected_token, conflicts)
        log_id = history.open_log(
            connection, task, mode=mode, trigger=trigger, owner=owner, at=started
        )
        failures = connection.scalar(
            select(scheduled_tasks.c.consecutive_failures).where(
                scheduled_tasks.c.task_type == task
            )
        )
        connection.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type == task)
            .values(current_log_id=log_id, last_run_at=started)
        )
        return StartedRun(lease, log_id, mode, started, int(failures or 0))

    return in_transaction(engine, claim)


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
    heartbeat = _Heartbeat(engine, run.lease, ttl)

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
        log_id=run.log_id,
        progress=report_progress,
        checkpoint=checkpoint,
        fence=lambda connection: leases.fence(connection, run.lease),
    )
    heartbeat.start()
    error: BaseException | None = None
    try:
        asyncio.run(_execute(function, context))
    except BaseException as exc:
        error = exc
    finally:
        heartbeat.stop()
    stage = heartbeat.progress.get("stage")
    result = _finish(engine, run, context, error, scheduled_for or run.started_at, clock, stage)
    alerts.notify(settings.alert_webhook_url, result)
    if error is not None and not isinstance(error, Exception):
        raise error
    return result


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


RECONCILE_ATTEMPTS = 6
"""Reads of the log row after a lost commit acknowledgement (0.5 s, 1 s, 2 s … apart)."""


def _finish(
    engine: Engine,
    run: StartedRun,
    context: SyncContext,
    error: BaseException | None,
    scheduled_for: datetime,
    clock: Callable[[], datetime],
    stage: str | None,
) -> RunOutcome:
    finished = clock()
    report = context.report
    message = None if error is None else describe(error, stage)
    log_values = {
        "records_processed": report.total("processed"),
        "records_created": report.total("created"),
        "records_updated": report.total("updated"),
        "records_deleted": report.total("deleted"),
        "records_failed": report.total("failed"),
        "api_requests": report.requests,
        "details": context.details(),
    }

    def write(connection: Connection) -> tuple[OutcomeStatus, str | None]:
        return outcome.record(
            connection,
            run.lease,
            run.log_id,
            error=message,
            scheduled_for=scheduled_for,
            finished=finished,
            log_values=log_values,
        )

    status, message = _record_or_reconcile(engine, run, write)
    if error is not None:  # the whole story (SQL, parameters, traceback) only at DEBUG
        log.debug("run failed", task=run.lease.task, exc_info=error)
    if message == leases.LOST:
        log.warning("lease was taken over before the run finished", task=run.lease.task)
    log.info("run finished", task=run.lease.task, status=status, log_id=run.log_id, error=message)
    return RunOutcome(
        run.lease.task,
        run.log_id,
        status,
        message,
        report,
        context.started_at,
        finished,
        run.previous_failures,
    )


def _record_or_reconcile(
    engine: Engine,
    run: StartedRun,
    write: Callable[[Connection], tuple[OutcomeStatus, str | None]],
) -> tuple[OutcomeStatus, str | None]:
    """Record the outcome; if the commit's fate is unknown, read it back (and retry if lost)."""
    delay = 0.5
    for attempt in range(RECONCILE_ATTEMPTS):
        try:
            return in_transaction(engine, write)
        except DBAPIError as exc:
            if attempt == RECONCILE_ATTEMPTS - 1:
                raise
            log.warning(
                "recording the outcome failed; reading it back",
                task=run.lease.task,
                error=type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
            )
        time.sleep(delay)
        delay *= 2
        try:
            with engine.connect() as connection:
                recorded = connection.execute(
                    select(sync_logs.c.status, sync_logs.c.error_message).where(
                        sync_logs.c.id == run.log_id
                    )
                ).one_or_none()
        except DBAPIError:
            continue
        if recorded is not None and recorded.status != "running":
            return ("success" if recorded.status == "success" else "failed"), recorded.error_message
    raise AssertionError("unreachable")
