"""`cleanup`: prunes run history and analysis results past their retention.

Only `sync_logs` rows that have finished (a running row is a live run's record) and
`group_analysis_runs` with their suggestions are deleted, and partner snapshots only when
PARTNERSYNC_KEEP_SNAPSHOTS_DAYS is set (the trend is kept for good otherwise). Watermarks live
in `sync_state` and synced data in its own tables, so neither is touched; pending memberships
created from a suggestion are memberships, not analysis results, and stay too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select

from partnersync.db.bulk import chunked
from partnersync.db.schema import group_analysis_runs, group_analysis_suggestions, sync_logs
from partnersync.sync.context import SyncContext
from partnersync.sync.partner_history import prune_snapshots

STREAM = "history"
BATCH = 1000


def prune_logs(connection: Connection, before: datetime) -> int:
    result = connection.execute(
        delete(sync_logs).where(sync_logs.c.started_at < before, sync_logs.c.status != "running")
    )
    return result.rowcount


def prune_analysis(connection: Connection, before: datetime) -> int:
    """Delete old runs; their suggestions first, so no database needs cascading deletes on."""
    runs = list(
        connection.scalars(
            select(group_analysis_runs.c.id).where(group_analysis_runs.c.run_at < before)
        )
    )
    for batch in chunked(runs, BATCH):
        connection.execute(
            delete(group_analysis_suggestions).where(group_analysis_suggestions.c.run_id.in_(batch))
        )
        connection.execute(delete(group_analysis_runs).where(group_analysis_runs.c.id.in_(batch)))
    return len(runs)


async def cleanup(context: SyncContext) -> None:
    settings = context.settings
    now = context.started_at
    with context.write() as connection:
        logs = prune_logs(connection, now - timedelta(days=settings.keep_logs_days))
        runs = prune_analysis(connection, now - timedelta(days=settings.keep_analysis_days))
        keep = settings.keep_snapshots_days
        snapshots = prune_snapshots(connection, keep, now.date()) if keep else 0
    report = context.report.stream(STREAM)
    report.deleted += logs + runs + snapshots
    report.notes.append(
        f"deleted {logs} sync_logs row(s), {runs} analysis run(s), {snapshots} partner snapshot(s)"
    )
