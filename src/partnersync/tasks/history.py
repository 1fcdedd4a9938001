"""A run's `sync_logs` row: opened `running` when the run is claimed, closed exactly once.

Whoever closes a run — the runner at its end, a replica taking over an expired lease, the
reaper, a shutdown — goes through `close_log`, which only changes a row still `running`:
the first verdict stands, and a late writer can never turn "abandoned" into "success".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from partnersync.db.schema import sync_logs
from partnersync.types import Mode, RunStatus, Trigger

ABANDONED = "abandoned: its process stopped heartbeating before the run finished"
INTERRUPTED = "interrupted by shutdown"


def open_log(
    connection: Connection, task: str, *, mode: Mode, trigger: Trigger, owner: str, at: datetime
) -> int:
    """Insert the run's `running` row; returns its id (the run id everyone shows)."""
    result = connection.execute(
        insert(sync_logs).values(
            sync_type=task, status="running", mode=mode, trigger=trigger, owner=owner, started_at=at
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def close_log(
    connection: Connection,
    log_id: int | None,
    at: datetime,
    *,
    status: RunStatus,
    message: str | None,
    **values: Any,
) -> bool:
    """Record the run's verdict, unless someone recorded one first; True if this one counts."""
    if log_id is None:
        return False
    result = connection.execute(
        update(sync_logs)
        .where(sync_logs.c.id == log_id, sync_logs.c.status == "running")
        .values(status=status, completed_at=at, error_message=message, **values)
    )
    return result.rowcount == 1
