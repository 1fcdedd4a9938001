"""Whether a task's upstream data is whole: no task acts on what a failed run left half-written.

`sync all` skips a task whose upstream failed, but the scheduler runs each due task on its own,
so the tasks that act on stored data (the push, the analysis, offboarding) ask for themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from partnersync.db.schema import sync_logs


class PartialData(RuntimeError):
    """The stored data a task would act on is not complete; it does nothing with it."""


def failed_upstream(connection: Connection, tasks: Iterable[str]) -> str | None:
    """Why the data of `tasks` cannot be trusted now (the first whose latest finished run
    failed), or None. A task that never ran has stored nothing to distrust."""
    for task in tasks:
        latest = connection.execute(
            select(sync_logs.c.id, sync_logs.c.status)
            .where(sync_logs.c.sync_type == task, sync_logs.c.status != "running")
            .order_by(sync_logs.c.id.desc())
            .limit(1)
        ).one_or_none()
        if latest is not None and latest.status != "success":
            return f"the latest {task} run (#{latest.id}) failed"
    return None
