"""A run whose lease was taken over writes nothing more: frozen processes and blocked claims.

Real processes and signals: `partnersync sync` is frozen with SIGSTOP, another run takes the
expired lease, and the frozen one is resumed with SIGCONT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text, update

from partnersync.db.schema import lms_users, scheduled_tasks, sync_logs
from partnersync.sandbox.server import RunningSandbox
from partnersync.tasks.leases import ABANDONED
from partnersync.tasks.runner import run_task
from tests.conftest import empty_database

from .conftest import run, settings_for

SCRIPT = Path(sys.executable).with_name("partnersync")
PAGE = 5


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def live_people(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.scalars(select(lms_users.c.id).where(lms_users.c.deleted_at.is_(None)))
        )


def stored_people(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(lms_users)) or 0


def test_a_frozen_run_whose_lease_was_taken_over_writes_nothing_more(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    sandbox.set_knobs(latency_ms=400)
    env = {
        **os.environ,
        "PARTNERSYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "NORTHPASS_BASE_URL": sandbox.base_url,
        "NORTHPASS_API_KEY": sandbox.northpass_key,
        "NORTHPASS_PAGE_SIZE": str(PAGE),
        "PARTNERSYNC_LEASE_SECONDS": "3",
    }
    first = subprocess.Popen(
        [str(SCRIPT), "sync", "sync_users", "--full"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # the next-to-last page is stored: the last page's request is on its way
        wait_for(lambda: stored_people(engine) >= len(ds.people) - len(ds.people) % PAGE)
        first.send_signal(signal.SIGSTOP)
        time.sleep(3.5)  # the lease expires while the process is frozen
        sandbox.set_knobs(latency_ms=0)
        newcomers = {ds.add_person(f"new{n}@example.org", "New", f"Person{n}").id for n in range(3)}
        second = run(engine, sandbox, "sync_users", PARTNERSYNC_LEASE_SECONDS=3)
        assert second.status == "success"
        assert newcomers <= live_people(engine)
        first.send_signal(signal.SIGCONT)
        assert first.wait(60) != 0
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
            first.kill()
            first.wait()

    assert newcomers <= live_people(engine), "the frozen run swept live people"
    assert stored_people(engine) == len(ds.people)
    with engine.connect() as connection:
        logs = connection.execute(
            select(sync_logs.c.status, sync_logs.c.error_message).order_by(sync_logs.c.id)
        ).all()
        task = connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == "sync_users")
        ).one()
    assert logs == [("failed", ABANDONED), ("success", None)]
    assert (task.status, task.last_status, task.lease_owner) == ("idle", "success", None)


def test_a_claim_delayed_by_a_blocked_database_still_gets_its_whole_lease(
    mariadb_engine: Engine, sandbox: RunningSandbox
) -> None:
    """Expiry comes from the database clock once the task row is ours, not from before.

    MariaDB only: SQLite has no LOCK TABLES (its writers queue on the file lock).
    """
    engine = mariadb_engine
    empty_database(engine)
    settings = settings_for(sandbox, PARTNERSYNC_LEASE_SECONDS=3)
    locked = threading.Event()
    release = threading.Event()

    def hold_the_table() -> None:
        with engine.connect() as connection:
            connection.execute(text("LOCK TABLES scheduled_tasks WRITE"))
            locked.set()
            release.wait(10)
            connection.execute(text("UNLOCK TABLES"))

    seen: dict[str, Any] = {}

    async def look(context: Any) -> None:
        with engine.connect() as connection:
            seen["row"] = connection.execute(
                select(
                    scheduled_tasks.c.lease_expires_at,
                    func.utc_timestamp(6).label("db_now"),
                ).where(scheduled_tasks.c.task_type == "sync_users")
            ).one()

    holder = threading.Thread(target=hold_the_table)
    holder.start()
    locked.wait(5)
    timer = threading.Timer(4.0, release.set)  # longer than the 3 s lease
    timer.start()
    try:
        outcome = run_task(engine, settings, "sync_users", look)
    finally:
        release.set()
        holder.join()
        timer.cancel()
    assert outcome.status == "success"
    row = seen["row"]
    assert row.lease_expires_at.replace(tzinfo=None) > row.db_now, "the lease was born expired"


def test_a_write_after_the_lease_was_taken_over_is_refused(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    """The fence sits in the writing transaction itself, not only at page boundaries."""
    settings = settings_for(sandbox)
    stolen: dict[str, int] = {}

    async def write_after_takeover(context: Any) -> None:
        with engine.begin() as connection:  # another process takes the task over
            connection.execute(
                update(scheduled_tasks)
                .where(scheduled_tasks.c.task_type == "sync_users")
                .values(lease_owner="thief", lease_token=scheduled_tasks.c.lease_token + 1)
            )
        stolen["done"] = 1
        with context.write() as connection:
            connection.execute(lms_users.insert().values(id="should-not-exist", status="active"))

    outcome = run_task(engine, settings, "sync_users", write_after_takeover)
    assert stolen and outcome.status == "failed"
    assert "lease lost" in (outcome.error or "")
    assert stored_people(engine) == 0
    with engine.connect() as connection:
        task = connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == "sync_users")
        ).one()
    assert (task.lease_owner, task.status) == ("thief", "running")  # the new holder's state
