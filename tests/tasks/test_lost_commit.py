"""A run's last commit whose acknowledgement is lost: the outcome is read back, not lost.

The database connection is real; only its `commit()` is made to fail once, after (or
before) the server committed, as a dropped connection at that moment would.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pymysql
import pytest
from pymysql.constants import CLIENT
from sqlalchemy import Engine, select

from partnersync.config import Settings
from partnersync.db.engine import make_engine
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.sync.context import SyncContext
from partnersync.tasks.runner import run_task


class Fault:
    """Fails the next commit made by one thread, once: 'after' the server committed or 'before'."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.when = "after"

    def arm(self, when: str) -> None:
        self.thread, self.when = threading.get_ident(), when


FAULT = Fault()


class FlakySqlite(sqlite3.Connection):
    def commit(self) -> None:
        if FAULT.thread == threading.get_ident():
            FAULT.thread = None
            if FAULT.when == "after":
                super().commit()
            raise sqlite3.OperationalError("disk I/O error (acknowledgement lost)")
        super().commit()


class FlakyMariaDB(pymysql.connections.Connection):
    def commit(self) -> None:
        if FAULT.thread == threading.get_ident():
            FAULT.thread = None
            if FAULT.when == "after":
                super().commit()
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
        super().commit()


def flaky_engine(engine: Engine) -> Engine:
    url = engine.url
    if engine.dialect.name == "sqlite":
        return make_engine(url.render_as_string(), connect_args={"factory": FlakySqlite})

    def connect() -> Any:
        return FlakyMariaDB(
            host=url.host,
            port=url.port or 3306,
            user=url.username,
            database=url.database,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
            client_flag=CLIENT.FOUND_ROWS,
        )

    return make_engine(url.render_as_string(hide_password=False), creator=connect)


@pytest.mark.parametrize("when", ["after", "before"])
def test_the_outcome_survives_a_lost_commit_acknowledgement(engine: Engine, when: str) -> None:
    flaky = flaky_engine(engine)

    async def task(context: SyncContext) -> None:
        context.report.stream("demo").processed = 7
        FAULT.arm(when)  # the runner's next commit in this thread records the outcome

    try:
        outcome = run_task(flaky, Settings(PARTNERSYNC_LEASE_SECONDS=3), "sync_users", task)
    finally:
        flaky.dispose()
    assert FAULT.thread is None, "the fault never fired"
    assert (outcome.status, outcome.error) == ("success", None)
    with engine.connect() as connection:
        log = connection.execute(select(sync_logs)).one()
        row = connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == "sync_users")
        ).one()
    assert (log.status, log.records_processed) == ("success", 7)
    assert (row.status, row.last_status, row.lease_owner) == ("idle", "success", None)
