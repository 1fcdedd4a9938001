"""An app over a real database with small task coroutines of our own (no network needed)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.sync.context import SyncContext
from partnersync.web.app import create_app

TOKEN = "test-token-5f2c-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def web_settings(**extra: Any) -> Settings:
    values = {
        "PARTNERSYNC_API_TOKEN": TOKEN,
        "PARTNERSYNC_LEASE_SECONDS": 3,
        "PARTNERSYNC_SHUTDOWN_GRACE_SECONDS": 0,
    }
    return Settings(**{**values, **extra})


async def quick(context: SyncContext) -> None:
    """Five records, some vendor requests with a 429 and two retries."""
    stream = context.report.stream("people")
    stream.processed, stream.created, stream.updated = 5, 2, 1
    context.report.api_requests["northpass"] = {
        "requests": 7,
        "rate_limited": 1,
        "retries": 2,
        "failures": 0,
    }
    context.progress("people", 5, 5)


async def breaks(context: SyncContext) -> None:
    context.report.stream("people").processed = 1
    raise RuntimeError("GET /v2/people?page=3 failed after 6 attempts")


class Gate:
    """A task that reports progress and runs until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()

    async def __call__(self, context: SyncContext) -> None:
        done = 0
        while not self.opened.is_set():
            done += 1
            context.progress("waiting", min(done, 99), 100)
            context.checkpoint()
            await asyncio.sleep(0.02)


def functions(gate: Gate) -> dict[str, Callable[[SyncContext], Any]]:
    return {"sync_users": quick, "sync_groups": breaks, "sync_courses": gate}


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.opened.set()


@pytest.fixture
def app(engine: Engine, gate: Gate) -> FastAPI:
    return create_app(engine, web_settings(), functions=functions(gate))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        test_client.headers.update(AUTH)
        yield test_client


def wait_for_run(client: TestClient, run_id: int, timeout: float = 15.0) -> dict[str, Any]:
    """Poll the run until it is no longer running; return it."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/sync-logs/{run_id}").json()
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, f"run {run_id} still running"
        time.sleep(0.02)


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
