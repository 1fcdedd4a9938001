"""How a run ends: its verdict on the log row, its schedule on the task row, the lease freed.

One owner for "record the outcome, back off after a failure, free the lease", used by the
runner at the end of every run and by the scheduler and the HTTP launcher when a shutdown
leaves a run that never reached a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from partnersync.db.schema import scheduled_tasks
from partnersync.sync.report import RunReport
from partnersync.tasks import leases, timing
from partnersync.tasks.history import close_log
from partnersync.tasks.leases import Lease
from partnersync.types import OutcomeStatus


@dataclass
class RunOutcome:
    task: str
    log_id: int
    status: OutcomeStatus
    error: str | None
    report: RunReport
    started_at: datetime
    completed_at: datetime
    previous_failures: int = 0
    """`consecutive_failures` before this run: with `status` it tells a task started or
    stopped failing, from what the database recorded rather than a process's memory."""


def schedule_after(
    task: Any, error: str | None, scheduled_for: datetime, finished: datetime
) -> dict[str, Any]:
    """The task row's outcome columns: one interval on after a success, backoff after a failure."""
    interval = timedelta(minutes=task.interval_minutes)
    if error is None:
        return {
            "last_status": "success",
            "last_error": None,
            "consecutive_failures": 0,
            "next_run_at": timing.next_after_success(scheduled_for, interval, finished),
        }
    failures = task.consecutive_failures + 1
    return {
        "last_status": "failed",
        "last_error": error,
        "consecutive_failures": failures,
        "next_run_at": timing.next_after_failure(failures, interval, finished),
    }


def record(
    connection: Connection,
    lease: Lease,
    log_id: int,
    *,
    error: str | None,
    scheduled_for: datetime,
    finished: datetime,
    log_values: dict[str, Any],
) -> tuple[OutcomeStatus, str | None]:
    """Write a run's outcome under its lease; returns the status and error recorded.

    A run whose lease was taken over records nothing on the task row (the new holder owns
    it) and closes its log row — if nobody closed it yet — as failed with `leases.LOST`.
    """
    try:
        leases.fence(connection, lease)
    except leases.LeaseLost:
        close_log(connection, log_id, finished, status="failed", message=leases.LOST, **log_values)
        return "failed", leases.LOST
    status: OutcomeStatus = "success" if error is None else "failed"
    close_log(connection, log_id, finished, status=status, message=error, **log_values)
    task = connection.execute(
        select(scheduled_tasks).where(scheduled_tasks.c.task_type == lease.task)
    ).one()
    leases.release(connection, lease, **schedule_after(task, error, scheduled_for, finished))
    return status, error


def fail_run(connection: Connection, task: str, owner: str, now: datetime, message: str) -> bool:
    """Record `owner`'s running run of `task` as failed and free the lease, with backoff."""
    row = connection.execute(
        select(scheduled_tasks).where(
            scheduled_tasks.c.task_type == task,
            scheduled_tasks.c.status == "running",
            scheduled_tasks.c.lease_owner == owner,
        )
    ).one_or_none()
    if row is None:
        return False
    released = leases.release(
        connection,
        Lease(task, owner, row.lease_token),
        **schedule_after(row, message, now, now),
    )
    if released:
        close_log(connection, row.current_log_id, now, status="failed", message=message)
    return released
