"""Helpers for scheduler tests: choosing which tasks are live, waiting, a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.db.types import utcnow


def only(engine: Engine, *names: str, due: datetime | None = None) -> None:
    """Enable just `names`, due at `due` (default now); every other task is disabled."""
    with engine.begin() as connection:
        connection.execute(update(scheduled_tasks).values(enabled=False))
        connection.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type.in_(names))
            .values(enabled=True, next_run_at=due or utcnow())
        )


def make_due(engine: Engine, *names: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type.in_(names))
            .values(next_run_at=utcnow())
        )


def task_row(engine: Engine, name: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == name)
        ).one()


def log_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(sync_logs).order_by(sync_logs.c.id)).all())


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


class Receiver:
    """A real HTTP server on loopback that records the JSON bodies posted to it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.messages.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alert?token=s3cret"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def statuses(self) -> list[tuple[str, str]]:
        return [(message["task"], message["status"]) for message in self.messages]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
