"""Task leases in `scheduled_tasks`: the database, not memory, decides who runs a task.

A lease is taken with a conditional UPDATE that also bumps `lease_token` (a fencing
counter), renewed by heartbeats while the run goes on, and released at the end. Every
write of a lease holder is conditioned on its token, so a process whose lease expired
and was taken over cannot overwrite the new holder's state.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from partnersync.db.schema import scheduled_tasks, sync_logs

ABANDONED = "abandoned: its process stopped heartbeating before the run finished"


class UnknownTask(LookupError):
    def __init__(self, task: str) -> None:
        super().__init__(f"unknown task {task!r}")
        self.task = task


class AlreadyRunning(RuntimeError):
    def __init__(self, task: str, owner: str | None) -> None:
        super().__init__(f"{task} is already running (lease held by {owner or 'another process'})")
        self.task = task
        self.owner = owner


class LeaseLost(RuntimeError):
    """Raised inside a run whose lease was taken over; the run stops writing."""


@dataclass(frozen=True)
class Lease:
    task: str
    owner: str
    token: int


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _held(lease: Lease) -> Any:
    return and_(
        scheduled_tasks.c.task_type == lease.task,
        scheduled_tasks.c.lease_owner == lease.owner,
        scheduled_tasks.c.lease_token == lease.token,
    )


def _expired(now: datetime) -> Any:
    return or_(
        scheduled_tasks.c.lease_expires_at.is_(None), scheduled_tasks.c.lease_expires_at <= now
    )


def mark_abandoned(connection: Connection, log_id: int | None, now: datetime) -> None:
    if log_id is None:
        return
    connection.execute(
        update(sync_logs)
        .where(sync_logs.c.id == log_id, sync_logs.c.status == "running")
        .values(status="failed", completed_at=now, error_message=ABANDONED)
    )


def acquire(
    connection: Connection,
    task: str,
    owner: str,
    now: datetime,
    ttl: timedelta,
    expected_token: int | None = None,
) -> Lease:
    """Take `task`'s lease, or raise `AlreadyRunning` if a live lease exists.

    An expired lease is taken over; its run is recorded as abandoned. With
    `expected_token` (the token seen when the task was found due) the lease is refused
    if anyone took it since, so a task another replica has just run is not run again.
    """
    row = connection.execute(
        select(scheduled_tasks).where(scheduled_tasks.c.task_type == task)
    ).one_or_none()
    if row is None:
        raise UnknownTask(task)
    running = row.status == "running"
    if running and row.lease_expires_at is not None and row.lease_expires_at > now:
        raise AlreadyRunning(task, row.lease_owner)
    if expected_token is not None and row.lease_token != expected_token:
        raise AlreadyRunning(task, row.lease_owner)
    token = row.lease_token + 1
    taken = connection.execute(
        update(scheduled_tasks)
        .where(
            scheduled_tasks.c.task_type == task,
            scheduled_tasks.c.lease_token == row.lease_token,
            or_(scheduled_tasks.c.status == "idle", _expired(now)),
        )
        .values(
            status="running",
            lease_owner=owner,
            lease_token=token,
            lease_expires_at=now + ttl,
            heartbeat_at=now,
            progress=None,
        )
    )
    if taken.rowcount != 1:
        raise AlreadyRunning(task, None)
    if running:
        mark_abandoned(connection, row.current_log_id, now)
    return Lease(task, owner, token)


def renew(
    connection: Connection,
    lease: Lease,
    now: datetime,
    ttl: timedelta,
    progress: dict[str, Any] | None = None,
) -> bool:
    """Extend the lease; False means it was lost."""
    values: dict[str, Any] = {"lease_expires_at": now + ttl, "heartbeat_at": now}
    if progress is not None:
        values["progress"] = progress
    result = connection.execute(update(scheduled_tasks).where(_held(lease)).values(values))
    return result.rowcount == 1


def release(connection: Connection, lease: Lease, **values: Any) -> bool:
    """Give the lease back, recording the run's outcome on the task row."""
    result = connection.execute(
        update(scheduled_tasks)
        .where(_held(lease))
        .values(
            status="idle",
            lease_owner=None,
            lease_expires_at=None,
            current_log_id=None,
            progress=None,
            **values,
        )
    )
    return result.rowcount == 1


def reap_expired(connection: Connection, now: datetime) -> list[str]:
    """Free every expired lease: mark its run abandoned and make the task due now."""
    rows = connection.execute(
        select(scheduled_tasks).where(
            scheduled_tasks.c.status == "running", scheduled_tasks.c.lease_expires_at <= now
        )
    ).all()
    reaped = []
    for row in rows:
        freed = connection.execute(
            update(scheduled_tasks)
            .where(
                scheduled_tasks.c.task_type == row.task_type,
                scheduled_tasks.c.lease_token == row.lease_token,
                scheduled_tasks.c.status == "running",
            )
            .values(
                status="idle",
                lease_owner=None,
                lease_expires_at=None,
                current_log_id=None,
                progress=None,
                last_status="failed",
                last_error=ABANDONED,
                next_run_at=now,
            )
        )
        if freed.rowcount == 1:
            mark_abandoned(connection, row.current_log_id, now)
            reaped.append(row.task_type)
    return reaped
