"""The FastAPI application: the API of docs/design.md §2.4, its extensions, and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from partnersync.config import Settings
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.runner import TaskFunction
from partnersync.web.auth import token_guard
from partnersync.web.launcher import RunLauncher
from partnersync.web.metrics import RunMetrics
from partnersync.web.routes import links, logs, suggestions, system, tasks
from partnersync.web.services import Services

STATIC = Path(__file__).with_name("static")


def create_app(
    engine: Engine,
    settings: Settings,
    launcher: RunLauncher | None = None,
    *,
    functions: Mapping[str, TaskFunction] = TASK_FUNCTIONS,
    metrics: RunMetrics | None = None,
    scheduler_heartbeat: Callable[[], datetime | None] | None = None,
    owner: str | None = None,
) -> FastAPI:
    """Build the app; raises `ConfigError` naming PARTNERSYNC_API_TOKEN when none is set.

    `launcher` runs what `POST /api/tasks/{task}/run` asks for (default: one over
    `functions`, feeding `metrics`); it is shut down with the app.
    """
    guard = token_guard(settings.api_token)
    metrics = metrics or RunMetrics(engine)
    launcher = launcher or RunLauncher(
        engine, settings, functions, owner=owner, on_outcome=metrics.observe
    )
    services = Services(engine, settings, launcher, metrics, scheduler_heartbeat)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        launcher.shutdown()

    app = FastAPI(
        title="partnersync",
        version="1",
        summary="Northpass / Impartner sync: tasks, runs, history, links, suggestions",
        description=(
            "Every route but `/api/health` needs `Authorization: Bearer <PARTNERSYNC_API_TOKEN>`."
        ),
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; the JSON document is served
        redoc_url=None,
    )
    app.include_router(system.health_router(services))
    app.include_router(tasks.router(services, guard))
    app.include_router(logs.router(services, guard))
    app.include_router(links.router(services, guard))
    app.include_router(suggestions.router(services, guard))
    app.include_router(system.metrics_router(services, guard))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            # Starlette names only the first route matching the path; list every method
            allowed = sorted(
                method
                for route in app.routes
                if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
                for method in route.methods or ()
            )
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, exc)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.state.services = services
    return app
