"""Task leases in `scheduled_tasks`: the database, not memory, decides who runs a task.

A lease is taken with a conditional UPDATE that also bumps `lease_token` (a fencing
counter), renewed by heartbeats while the run goes on, and released at the end. Every
takeover bumps the token, and every write a run makes is fenced: `fence()` runs first in
the writing transaction, takes the task row's write lock and checks that the run still
holds the token. A process that lost its lease therefore writes nothing more, and a
takeover waits for (or precedes) a fenced transaction, never interleaves with it.

Expiry is computed and compared with the database's clock (`database_now`), read after
the task row is locked, so a claim that waited on a blocked database still gets its whole
lease and no replica's clock skew decides who runs.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select, update

from partnersync.db.engine import database_now
from partnersync.db.schema import scheduled_tasks
from partnersync.tasks.history import ABANDONED, close_log

LOST = "lease lost: another process took the task over, so this run stopped writing"


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

    def __init__(self, task: str) -> None:
        super().__init__(f"{task}: {LOST}")
        self.task = task


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


def lock_task(connection: Connection, task: str) -> Row[Any] | None:
    """Take `task`'s row write lock for the rest of this transaction, then read the row.

    A no-op UPDATE locks the row on MariaDB (as `SELECT … FOR UPDATE` would) and takes
    SQLite's write lock at the start of the transaction, so the same call serialises
    writers on both backends.
    """
    same = scheduled_tasks.c.lease_token
    connection.execute(
        update(scheduled_tasks).where(scheduled_tasks.c.task_type == task).values(lease_token=same)
    )
    return connection.execute(
        select(scheduled_tasks).where(scheduled_tasks.c.task_type == task)
    ).one_or_none()


def _live(row: Row[Any], now: datetime) -> bool:
    """The row's task is running under a lease that has not expired."""
    return bool(
        row.status == "running" and row.lease_expires_at is not None and row.lease_expires_at > now
    )


def fence(connection: Connection, lease: Lease) -> None:
    """Confirm, holding the task row's lock, that `lease` is still the run's; else `LeaseLost`.

    Call it first in every transaction a run writes in: the lock is kept until commit, so
    no takeover can slip between the check and the writes.
    """
    held = connection.execute(
        update(scheduled_tasks)
        .where(_held(lease), scheduled_tasks.c.status == "running")
        .values(lease_token=scheduled_tasks.c.lease_token)
    )
    if held.rowcount != 1:
        raise LeaseLost(lease.task)


def mark_abandoned(connection: Connection, log_id: int | None, now: datetime) -> None:
    close_log(connection, log_id, now, status="failed", message=ABANDONED)


def acquire(
    connection: Connection,
    task: str,
    owner: str,
    now: datetime | None,
    ttl: timedelta,
    expected_token: int | None = None,
    conflicts: Sequence[str] = (),
) -> Lease:
    """Take `task`'s lease, or raise `AlreadyRunning` if a live lease exists on it or on one
    of the `conflicts` (tasks that may not run beside it).

    An expired lease is taken over; its run is recorded as abandoned. With
    `expected_token` (the token seen when the task was found due) the lease is refused
    if anyone took it since, so a task another replica has just run is not run again.
    `now` None (production) reads the database clock once the task row is locked. The rows
    of the task and its conflicts are locked in name order, so two claims that conflict
    serialise instead of both seeing the other idle.
    """
    rows = {name: lock_task(connection, name) for name in sorted({task, *conflicts})}
    row = rows[task]
    if row is None:
        raise UnknownTask(task)
    if now is None:
        now = database_now(connection)
    for name in sorted(conflicts):
        other = rows[name]
        if other is not None and _live(other, now):
            raise AlreadyRunning(name, other.lease_owner)
    running = row.status == "running"
    if _live(row, now):
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
    now: datetime | None,
    ttl: timedelta,
    progress: dict[str, Any] | None = None,
) -> bool:
    """Extend the lease from `now` (None: the database clock, read once the row is locked, so
    time spent waiting for the run's own write transaction is not lost); False: it was lost."""
    try:
        fence(connection, lease)
    except LeaseLost:
        return False
    if now is None:
        now = database_now(connection)
    values: dict[str, Any] = {"lease_expires_at": now + ttl, "heartbeat_at": now}
    if progress is not None:
        values["progress"] = progress
    result = connection.execute(update(scheduled_tasks).where(_held(lease)).values(values))
    return result.rowcount == 1


FREED: dict[str, Any] = {
    "status": "idle",
    "lease_owner": None,
    "lease_expires_at": None,
    "current_log_id": None,
    "progress": None,
}
"""A task row without a lease: what releasing and reaping both write."""


def release(connection: Connection, lease: Lease, **values: Any) -> bool:
    """Give the lease back, recording the run's outcome on the task row."""
    result = connection.execute(
        update(scheduled_tasks).where(_held(lease)).values({**FREED, **values})
    )
    return result.rowcount == 1


def reap_expired(connection: Connection, now: datetime | None = None) -> list[str]:
    """Free every expired lease: mark its run abandoned and make the task due now.

    The token is bumped, so the abandoned run's next fenced write fails. `now` None reads
    the database clock.
    """
    if now is None:
        now = database_now(connection)
    rows = connection.execute(
        select(scheduled_tasks).where(
            scheduled_tasks.c.status == "running", scheduled_tasks.c.lease_expires_at <= now
        )
    ).all()
    reaped = []
    for row in rows:
        freed = connection.execute(
            update(scheduled_tasks)
            .where(  # checked again on the locked row: a renewal since the read wins
                scheduled_tasks.c.task_type == row.task_type,
                scheduled_tasks.c.lease_token == row.lease_token,
                scheduled_tasks.c.status == "running",
                scheduled_tasks.c.lease_expires_at <= now,
            )
            .values(
                {
                    **FREED,
                    "lease_token": row.lease_token + 1,
                    "last_status": "failed",
                    "last_error": ABANDONED,
                    "next_run_at": now,
                }
            )
        )
        if freed.rowcount == 1:
            mark_abandoned(connection, row.current_log_id, now)
            reaped.append(row.task_type)
    return reaped
