"""An operator's changes to a task's schedule: enable, disable, a new interval.

One function for the HTTP API and the command line; the timing rule lives in `timing`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from partnersync.db.schema import scheduled_tasks
from partnersync.tasks import timing


def change_schedule(
    connection: Connection,
    task: str,
    *,
    enabled: bool | None = None,
    interval_minutes: int | None = None,
) -> bool:
    """Apply the changes given; False when there is no such task."""
    row = connection.execute(
        select(scheduled_tasks).where(scheduled_tasks.c.task_type == task)
    ).one_or_none()
    if row is None:
        return False
    values: dict[str, Any] = {}
    if enabled is not None:
        values["enabled"] = enabled
    if interval_minutes is not None:
        values["interval_minutes"] = interval_minutes
        next_run = timing.next_after_interval_change(
            row.last_status, row.last_run_at, timedelta(minutes=interval_minutes)
        )
        if next_run is not None:
            values["next_run_at"] = next_run
    if values:
        connection.execute(
            update(scheduled_tasks).where(scheduled_tasks.c.task_type == task).values(values)
        )
    return True
