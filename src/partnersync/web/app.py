"""The FastAPI application: the API of docs/design.md §2.4, its extensions, and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import Scope

from partnersync.config import Settings, require
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.runner import TaskFunction
from partnersync.web.auth import token_guard
from partnersync.web.gate import Gate
from partnersync.web.launcher import RunLauncher
from partnersync.web.metrics import RunMetrics
from partnersync.web.routes import access, links, logs, partners, suggestions, system, tasks
from partnersync.web.routes import webhooks as webhook_routes
from partnersync.web.services import Services
from partnersync.web.webhook_worker import WebhookWorker

STATIC = Path(__file__).with_name("static")


PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, scope: Scope, path: str) -> list[str]:
    """Every method some route answers at `path` (Starlette names only the first route's)."""
    allowed = []
    for method in PROBED_METHODS:
        probe = {**scope, "method": method, "path": path, "root_path": ""}
        for route in app.router.routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                if isinstance(route, Mount):  # the static files
                    return ["GET", "HEAD"]
                allowed.append(method)
                break
    return allowed


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
    webhooks = None
    if settings.northpass_webhook_secret is not None:
        webhooks = WebhookWorker(engine, settings, owner=owner, on_outcome=metrics.observe)
    services = Services(engine, settings, launcher, metrics, scheduler_heartbeat, webhooks)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if webhooks is not None:
            webhooks.start()
        yield
        if webhooks is not None:
            webhooks.shutdown()
        launcher.shutdown()

    app = FastAPI(
        title="partnersync",
        version="1",
        summary="Northpass / Impartner sync: tasks, runs, history, links, suggestions, access",
        description=(
            "Every route but `/api/health` and `/api/webhooks/northpass` (which checks the "
            "`X-Northpass-Hmac-SHA256` signature) needs `Authorization: Bearer "
            "<PARTNERSYNC_API_TOKEN>`."
        ),
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; the JSON document is served
        redoc_url=None,
    )
    app.include_router(system.health_router(services))
    app.include_router(tasks.router(services, guard))
    app.include_router(logs.router(services, guard))
    app.include_router(links.router(services, guard))
    app.include_router(partners.router(services, guard))
    app.include_router(suggestions.router(services, guard))
    app.include_router(access.router(services, guard))
    app.include_router(system.metrics_router(services, guard))
    app.include_router(webhook_routes.router(services))
    app.include_router(webhook_routes.status_router(services, guard))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        Gate,
        token=require(settings.api_token, "PARTNERSYNC_API_TOKEN").get_secret_value(),
        max_body_bytes=settings.http_max_body_bytes,
        failures_counter=metrics.auth_failures,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            allowed = allowed_methods(app, request.scope, request.url.path)
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, exc)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.state.services = services
    return app
