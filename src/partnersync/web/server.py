"""`partnersync serve`: the API in the main thread, the scheduler in a background thread."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.scheduler.scheduler import Scheduler
from partnersync.web.app import create_app
from partnersync.web.metrics import RunMetrics


class _Server(uvicorn.Server):
    """Uvicorn's server, also telling the scheduler to stop claiming as soon as a signal comes."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


class PortTaken(RuntimeError):
    """The address to listen on cannot be had (taken, or not this machine's)."""


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so a taken port is found before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortTaken(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another port with --port (or PARTNERSYNC_HTTP_PORT)"
        ) from None
    return sock


def build_service(
    engine: Engine,
    settings: Settings,
    *,
    owner: str | None = None,
    max_concurrent: int | None = None,
) -> tuple[FastAPI, Scheduler]:
    """The scheduler and the API of one `serve` process, sharing its metrics.

    Raises `ConfigError` naming PARTNERSYNC_API_TOKEN when no token is set.
    """
    metrics = RunMetrics(engine)
    scheduler = Scheduler(
        engine, settings, owner=owner, max_concurrent=max_concurrent, on_outcome=metrics.observe
    )
    api = create_app(
        engine,
        settings,
        metrics=metrics,
        scheduler_heartbeat=lambda: scheduler.last_tick,
        owner=scheduler.owner,
    )
    return api, scheduler


def serve(app: FastAPI, scheduler: Scheduler, sock: socket.socket) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    On a signal the scheduler stops claiming tasks at once; uvicorn stops accepting
    requests and the app's shutdown lets API-started runs finish (then cancels them);
    finally the scheduler does the same with its own runs, which went on meanwhile.
    """
    config = uvicorn.Config(
        app,
        proxy_headers=False,  # the client is the peer: a forwarded header must not pick it
        log_config=None,  # keep partnersync's logging; request lines never hold the token
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    # uvicorn re-raises the signal it handled once it has stopped; this no-op handler takes
    # it, so the scheduler's graceful shutdown below still runs and the process exits 0
    quiet = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    scheduler.start()
    try:
        _Server(config, scheduler.stop).run(sockets=[sock])
    finally:
        scheduler.shutdown()
        for sig, handler in quiet.items():
            signal.signal(sig, handler)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    return None
