"""Health (the one route without a token) and the Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from partnersync.db.types import utcnow
from partnersync.web.models import Health
from partnersync.web.routes import COMMON, INVALID, known_query_only
from partnersync.web.services import Services

STALE_TICKS = 3
"""A scheduler that has not ticked for this many tick intervals (plus a little) is stale."""


def health_router(services: Services) -> APIRouter:
    api = APIRouter(tags=["system"], dependencies=[Depends(known_query_only)], responses=INVALID)

    @api.get(
        "/api/health",
        summary="No token needed: database reachable, scheduler heartbeat age",
        responses={503: {"model": Health, "description": "the database is not reachable"}},
    )
    def health() -> Any:
        try:
            with services.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database = True
        except SQLAlchemyError:
            database = False
        age: float | None = None
        if services.scheduler_heartbeat is None:
            scheduler = "absent"
        else:
            last = services.scheduler_heartbeat()
            if last is None:
                scheduler = "starting"
            else:
                age = round((utcnow() - last).total_seconds(), 3)
                limit = STALE_TICKS * services.settings.scheduler_tick_seconds + 5
                scheduler = "ok" if age <= limit else "stale"
        if not database:
            overall = "down"
        elif scheduler == "stale":
            overall = "degraded"
        else:
            overall = "ok"
        body = Health(
            status=overall,
            database=database,
            scheduler=scheduler,
            scheduler_heartbeat_age_seconds=age,
        )
        if not database:
            return JSONResponse(body.model_dump(mode="json"), status_code=503)
        return body

    return api


def metrics_router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        tags=["system"], dependencies=[Depends(guard), Depends(known_query_only)], responses=COMMON
    )

    @api.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,  # documents only the text/plain answer; errors stay JSON
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return api
