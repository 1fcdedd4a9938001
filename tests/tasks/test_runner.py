"""The runner with small task coroutines of our own: no network needed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Row, select, update

from partnersync.config import Settings
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.db.types import utcnow
from partnersync.sync.context import SyncContext
from partnersync.tasks.leases import ABANDONED
from partnersync.tasks.runner import INTERRUPTED, AlreadyRunning, run_task


def settings() -> Settings:
    values: dict[str, Any] = {"PARTNERSYNC_LEASE_SECONDS": 3}
    return Settings(**values)


def log_rows(engine: Engine) -> Sequence[Row[Any]]:
    with engine.connect() as connection:
        return connection.execute(select(sync_logs).order_by(sync_logs.c.id)).all()


def task_row(engine: Engine) -> Row[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == "sync_users")
        ).one()


async def counts_three(context: SyncContext) -> None:
    stream = context.report.stream("demo")
    stream.processed, stream.created, stream.updated = 3, 2, 1
    context.progress("demo", 3, 3)


async def breaks(context: SyncContext) -> None:
    context.report.stream("demo").processed = 1
    raise RuntimeError("GET /v2/people?page=3 failed after 6 attempts")


def test_success_writes_the_log_row_and_schedules_one_interval_later(engine: Engine) -> None:
    outcome = run_task(engine, settings(), "sync_users", counts_three, mode="full")
    assert outcome.status == "success"
    (log,) = log_rows(engine)
    assert (log.sync_type, log.status, log.mode, log.trigger) == (
        "sync_users",
        "success",
        "full",
        "cli",
    )
    assert (log.records_processed, log.records_created, log.records_updated) == (3, 2, 1)
    assert log.details["streams"]["demo"]["processed"] == 3
    task = task_row(engine)
    assert (task.status, task.last_status, task.consecutive_failures) == ("idle", "success", 0)
    assert task.next_run_at == outcome.started_at + timedelta(minutes=120)


def test_failure_is_recorded_with_its_message_and_backs_off(engine: Engine) -> None:
    outcome = run_task(engine, settings(), "sync_users", breaks)
    assert outcome.status == "failed"
    (log,) = log_rows(engine)
    assert log.status == "failed"
    assert "GET /v2/people?page=3" in log.error_message
    task = task_row(engine)
    assert (task.status, task.last_status, task.consecutive_failures) == ("idle", "failed", 1)
    delay = task.next_run_at - outcome.completed_at
    assert timedelta(minutes=1) <= delay <= timedelta(minutes=1.2)
    run_task(engine, settings(), "sync_users", breaks)
    assert task_row(engine).consecutive_failures == 2
    run_task(engine, settings(), "sync_users", counts_three)
    assert task_row(engine).consecutive_failures == 0


def test_a_second_run_while_one_is_running_is_refused(engine: Engine) -> None:
    started, release = threading.Event(), threading.Event()

    async def waits(context: SyncContext) -> None:
        started.set()
        while not release.is_set():
            context.checkpoint()
            await asyncio.sleep(0.01)

    worker = threading.Thread(target=run_task, args=(engine, settings(), "sync_users", waits))
    worker.start()
    assert started.wait(10)
    try:
        with pytest.raises(AlreadyRunning):
            run_task(engine, settings(), "sync_users", counts_three)
    finally:
        release.set()
        worker.join()
    assert [row.status for row in log_rows(engine)] == ["success"]


def test_a_run_that_loses_its_lease_stops_and_fails(engine: Engine) -> None:
    async def loses_lease(context: SyncContext) -> None:
        with engine.begin() as connection:
            connection.execute(
                update(scheduled_tasks)
                .where(scheduled_tasks.c.task_type == "sync_users")
                .values(lease_owner="thief", lease_token=scheduled_tasks.c.lease_token + 1)
            )
        for _ in range(500):
            context.checkpoint()
            await asyncio.sleep(0.01)

    outcome = run_task(engine, settings(), "sync_users", loses_lease)
    assert outcome.status == "failed"
    assert "lease lost" in (outcome.error or "")
    assert task_row(engine).lease_owner == "thief"


def test_an_interrupt_is_recorded_then_re_raised(engine: Engine) -> None:
    async def interrupted(context: SyncContext) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_task(engine, settings(), "sync_users", interrupted)
    (log,) = log_rows(engine)
    assert log.status == "failed" and log.completed_at is not None
    assert task_row(engine).status == "idle"


def test_timestamps_are_utc(engine: Engine) -> None:
    before = utcnow()
    outcome = run_task(engine, settings(), "sync_users", counts_three)
    assert before <= outcome.started_at <= outcome.completed_at
    assert log_rows(engine)[0].started_at.tzinfo is not None


def test_a_cancelled_run_stops_at_its_next_checkpoint_and_is_recorded_failed(
    engine: Engine,
) -> None:
    cancel = threading.Event()

    async def until_cancelled(context: SyncContext) -> None:
        cancel.set()
        while True:
            context.checkpoint()
            await asyncio.sleep(0.01)

    outcome = run_task(engine, settings(), "sync_users", until_cancelled, cancel=cancel)
    assert (outcome.status, outcome.error) == ("failed", INTERRUPTED)
    (log,) = log_rows(engine)
    assert (log.status, log.error_message) == ("failed", INTERRUPTED)
    assert (task_row(engine).status, task_row(engine).consecutive_failures) == ("idle", 1)


def test_the_outcome_tells_how_many_failures_preceded_the_run(engine: Engine) -> None:
    assert run_task(engine, settings(), "sync_users", breaks).previous_failures == 0
    assert run_task(engine, settings(), "sync_users", breaks).previous_failures == 1
    assert run_task(engine, settings(), "sync_users", counts_three).previous_failures == 2
    assert run_task(engine, settings(), "sync_users", counts_three).previous_failures == 0


def test_a_log_row_marked_abandoned_keeps_that_verdict(engine: Engine) -> None:
    async def abandoned_meanwhile(context: SyncContext) -> None:
        with engine.begin() as connection:
            connection.execute(update(sync_logs).values(status="failed", error_message=ABANDONED))

    run_task(engine, settings(), "sync_users", abandoned_meanwhile)
    (log,) = log_rows(engine)
    assert (log.status, log.error_message) == ("failed", ABANDONED)


def test_an_error_text_utf8_cannot_carry_is_still_recorded(engine: Engine) -> None:
    """A vendor's error detail with a lone surrogate must not keep the run `running`."""

    async def fails(context: SyncContext) -> None:
        raise RuntimeError("Impartner said: bad name '\ud800'")

    outcome = run_task(engine, settings(), "sync_users", fails)
    assert outcome.status == "failed" and "\\ud800" in (outcome.error or "")
    (log,) = log_rows(engine)
    assert (log.status, task_row(engine).status) == ("failed", "idle")
