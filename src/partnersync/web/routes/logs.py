"""Run history: the `sync_logs` rows, one run with its live progress, chart series."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from partnersync.db.types import utcnow
from partnersync.types import RunStatus
from partnersync.web import queries
from partnersync.web.models import MAX_ID, ApiUsageReport, RunDetail, RunPoint, SyncLog
from partnersync.web.routes import COMMON, known_query_only, problems
from partnersync.web.services import Services


def router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        tags=["history"], dependencies=[Depends(guard), Depends(known_query_only)], responses=COMMON
    )

    @api.get("/api/sync-logs", summary="Run history, newest first")
    def list_sync_logs(
        task: str | None = Query(None, max_length=64, description="only this task"),
        status: RunStatus | None = Query(None, description="only runs in this state"),
        limit: int = Query(50, ge=1, le=500),
    ) -> list[SyncLog]:
        with services.engine.connect() as connection:
            return queries.sync_logs_page(connection, task, status, limit)

    @api.get(
        "/api/sync-logs/{run_id}",
        summary="One run, with its live progress while it runs and its membership writes",
        responses=problems(_404="no such run"),
    )
    def get_sync_log(run_id: int = Path(ge=1, le=MAX_ID)) -> RunDetail:
        with services.engine.connect() as connection:
            found = queries.sync_log(connection, run_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run with id {run_id}")
        return found

    @api.get("/api/run-stats", summary="Each task's latest finished runs, oldest first")
    def run_stats(per_task: int = Query(20, ge=1, le=200)) -> dict[str, list[RunPoint]]:
        with services.engine.connect() as connection:
            return queries.run_points(connection, per_task)

    @api.get("/api/api-usage", summary="Vendor API requests, 429s and retries; the budgets")
    def api_usage(hours: int = Query(24, ge=1, le=24 * 90)) -> ApiUsageReport:
        since = utcnow() - timedelta(hours=hours)
        with services.engine.connect() as connection:
            return queries.api_usage(connection, services.settings, since)

    return api
