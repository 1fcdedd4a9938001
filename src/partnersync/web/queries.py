"""The database reads behind the API, each one or two set-based queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from partnersync.budget import ledger
from partnersync.config import Settings
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.tasks import access_audit
from partnersync.tasks.registry import TASKS, TASKS_BY_NAME
from partnersync.web import models

SUMMARY = (
    sync_logs.c.id,
    sync_logs.c.sync_type,
    sync_logs.c.status,
    sync_logs.c.mode,
    sync_logs.c.trigger,
    sync_logs.c.owner,
    sync_logs.c.started_at,
    sync_logs.c.completed_at,
    sync_logs.c.records_processed,
    sync_logs.c.records_created,
    sync_logs.c.records_updated,
    sync_logs.c.records_deleted,
    sync_logs.c.records_failed,
    sync_logs.c.api_requests,
    sync_logs.c.error_message,
)


def _seconds(started: datetime, completed: datetime | None) -> float | None:
    return None if completed is None else round((completed - started).total_seconds(), 3)


def _summary_fields(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "task": row.sync_type,
        "status": row.status,
        "mode": row.mode,
        "trigger": row.trigger,
        "owner": row.owner,
        "started_at": row.started_at,
        "completed_at": row.completed_at,
        "duration_seconds": _seconds(row.started_at, row.completed_at),
        "records_processed": row.records_processed,
        "records_created": row.records_created,
        "records_updated": row.records_updated,
        "records_deleted": row.records_deleted,
        "records_failed": row.records_failed,
        "api_requests": row.api_requests,
        "error_message": row.error_message,
    }


def _progress(value: Any) -> models.Progress | None:
    return models.Progress.model_validate(value) if isinstance(value, dict) and value else None


def task_states(
    connection: Connection, runnable: Sequence[str], names: Sequence[str] | None = None
) -> list[models.TaskState]:
    """The registry's tasks (or just `names`) in dependency order, with state and last run."""
    query = select(scheduled_tasks)
    if names is not None:
        query = query.where(scheduled_tasks.c.task_type.in_(names))
    rows = {row.task_type: row for row in connection.execute(query)}
    latest = (
        select(func.max(sync_logs.c.id))
        .where(sync_logs.c.status != "running", sync_logs.c.sync_type.in_(list(rows)))
        .group_by(sync_logs.c.sync_type)
    )
    last_runs = {
        row.sync_type: models.RunSummary(**_summary_fields(row))
        for row in connection.execute(select(*SUMMARY).where(sync_logs.c.id.in_(latest)))
    }
    states = []
    for spec in TASKS:
        row = rows.get(spec.name)
        if row is None:
            continue
        running = row.status == "running"
        states.append(
            models.TaskState(
                name=spec.name,
                description=TASKS_BY_NAME[spec.name].description,
                runnable=spec.name in runnable,
                enabled=row.enabled,
                interval_minutes=row.interval_minutes,
                status=row.status,
                last_status=row.last_status,
                last_run_at=row.last_run_at,
                next_run_at=row.next_run_at,
                last_error=row.last_error,
                consecutive_failures=row.consecutive_failures,
                lease_owner=row.lease_owner if running else None,
                heartbeat_at=row.heartbeat_at if running else None,
                running_log_id=row.current_log_id if running else None,
                progress=_progress(row.progress) if running else None,
                last_run=last_runs.get(spec.name),
            )
        )
    return states


def sync_logs_page(
    connection: Connection, task: str | None, status: str | None, limit: int
) -> list[models.SyncLog]:
    query = select(*SUMMARY, sync_logs.c.details).order_by(sync_logs.c.id.desc()).limit(limit)
    if task is not None:
        query = query.where(sync_logs.c.sync_type == task)
    if status is not None:
        query = query.where(sync_logs.c.status == status)
    return [_sync_log(row) for row in connection.execute(query)]


def sync_log(connection: Connection, log_id: int) -> models.RunDetail | None:
    """One run with its live progress and its membership writes."""
    row = connection.execute(
        select(*SUMMARY, sync_logs.c.details).where(sync_logs.c.id == log_id)
    ).one_or_none()
    if row is None:
        return None
    changes, total = access_audit.entries(
        connection, run_id=log_id, limit=models.RUN_ACCESS_CHANGES
    )
    entry = models.RunDetail(
        **_sync_log(row).model_dump(),
        access_changes=[models.AccessChange(**change) for change in changes],
        access_changes_total=total,
    )
    if entry.status == "running":
        entry.progress = _progress(
            connection.scalar(
                select(scheduled_tasks.c.progress).where(
                    scheduled_tasks.c.current_log_id == log_id,
                    scheduled_tasks.c.status == "running",
                )
            )
        )
    return entry


def _sync_log(row: Row[Any]) -> models.SyncLog:
    details = row.details if isinstance(row.details, dict) else {}
    return models.SyncLog(
        **_summary_fields(row),
        streams={
            name: models.StreamStats.model_validate(stream)
            for name, stream in (details.get("streams") or {}).items()
        },
        api={
            name: models.ApiStats.model_validate(stats)
            for name, stats in (details.get("api") or {}).items()
        },
    )


def run_points(connection: Connection, per_task: int) -> dict[str, list[models.RunPoint]]:
    """The latest `per_task` finished runs of every task, oldest first, for the charts."""
    rank = (
        func.row_number()
        .over(partition_by=sync_logs.c.sync_type, order_by=sync_logs.c.id.desc())
        .label("rank")
    )
    ranked = (
        select(
            sync_logs.c.id,
            sync_logs.c.sync_type,
            sync_logs.c.status,
            sync_logs.c.started_at,
            sync_logs.c.completed_at,
            sync_logs.c.records_processed,
            (
                sync_logs.c.records_created
                + sync_logs.c.records_updated
                + sync_logs.c.records_deleted
            ).label("written"),
            sync_logs.c.records_failed,
            rank,
        )
        .where(sync_logs.c.status != "running")
        .subquery()
    )
    rows = connection.execute(
        select(ranked).where(ranked.c.rank <= per_task).order_by(ranked.c.id)
    ).all()
    points: dict[str, list[models.RunPoint]] = {task.name: [] for task in TASKS}
    for row in rows:
        points.setdefault(row.sync_type, []).append(
            models.RunPoint(
                id=row.id,
                status=row.status,
                started_at=row.started_at,
                duration_seconds=_seconds(row.started_at, row.completed_at),
                records_processed=row.records_processed,
                records_written=row.written,
                records_failed=row.records_failed,
            )
        )
    return points


def api_usage(connection: Connection, settings: Settings, since: datetime) -> models.ApiUsageReport:
    """Requests, 429s and retries per vendor API over the runs finished since `since`."""
    totals: dict[str, dict[str, int]] = {
        name: {"runs": 0, "requests": 0, "rate_limited": 0, "retries": 0, "failures": 0}
        for name in ("northpass", "impartner")
    }
    details = connection.scalars(
        select(sync_logs.c.details).where(
            sync_logs.c.started_at >= since, sync_logs.c.status != "running"
        )
    )
    for detail in details:
        apis = detail.get("api") if isinstance(detail, dict) else None
        for name, stats in (apis or {}).items():
            total = totals.get(name)
            if total is None:
                continue
            total["runs"] += 1
            for key in ("requests", "rate_limited", "retries", "failures"):
                total[key] += int(stats.get(key, 0))
    northpass, impartner = settings.northpass, settings.impartner
    budgets = {
        "northpass": (
            northpass.rate_per_second,
            northpass.rate_ceiling,
            northpass.page_size,
            northpass.concurrency,
        ),
        "impartner": (
            impartner.rate_per_second,
            impartner.rate_ceiling,
            impartner.page_size,
            None,
        ),
    }
    keys: dict[str, list[models.KeyBudget]] = {name: [] for name in totals}
    for shared in ledger.usage(connection):
        keys.setdefault(shared.api, []).append(
            models.KeyBudget(
                key_id=shared.key_id,
                budget_per_second=shared.budget,
                consumers=shared.consumers,
                requests_per_second=shared.requests_per_second,
                requests=shared.requests,
                rate_limited=shared.rate_limited,
                updated_at=shared.updated_at,
            )
        )
    return models.ApiUsageReport(
        since=since,
        apis=[
            models.ApiUsage(
                name=name,
                budget_per_second=budgets[name][0],
                ceiling_per_second=budgets[name][1],
                keys=keys[name],
                page_size=budgets[name][2],
                concurrency=budgets[name][3],
                **total,
            )
            for name, total in totals.items()
        ],
    )
