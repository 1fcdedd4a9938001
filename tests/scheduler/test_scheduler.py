"""Scheduler ticks on SQLite and MariaDB, with small task coroutines of our own (no network)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
import time_machine
from sqlalchemy import Engine, insert, text, update

from partnersync.config import Settings
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.scheduler.scheduler import ORDER, Scheduler
from partnersync.sync.context import SyncContext
from partnersync.tasks import leases
from partnersync.tasks.runner import INTERRUPTED
from tests.conftest import inserted_id

from .conftest import log_rows, make_due, only, task_row, wait_for

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"PARTNERSYNC_LEASE_SECONDS": 3, **overrides}
    return Settings(**values)


async def quick(context: SyncContext) -> None:
    await asyncio.sleep(0)


async def breaks(context: SyncContext) -> None:
    raise RuntimeError("GET /v2/people failed after 6 attempts")


def idle(scheduler: Scheduler) -> None:
    wait_for(lambda: not scheduler.running)


class Gate:
    """A task coroutine that holds its run open until released."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered: list[str] = []

    async def __call__(self, context: SyncContext) -> None:
        self.entered.append("run")
        while not self.open.is_set():
            context.checkpoint()
            await asyncio.sleep(0.01)


def test_due_tasks_start_in_dependency_order_two_at_a_time(engine: Engine) -> None:
    only(engine, *ORDER)
    gate = Gate()
    scheduler = Scheduler(engine, settings(), functions=dict.fromkeys(ORDER, gate))
    assert scheduler.tick() == ["impartner_sync", "sync_courses"]
    assert scheduler.tick() == []  # both slots are taken
    gate.open.set()
    idle(scheduler)
    assert scheduler.tick() == ["sync_npcu", "sync_users"]
    idle(scheduler)
    assert [row.trigger for row in log_rows(engine)] == ["schedule"] * 4
    assert scheduler.last_tick is not None


def test_after_ten_missed_intervals_one_run_then_the_next_slot_on_the_grid(engine: Engine) -> None:
    only(engine, "sync_users", due=T0 - 10 * timedelta(hours=2) - timedelta(minutes=5))
    with time_machine.travel(T0, tick=False):
        scheduler = Scheduler(engine, settings(), functions={"sync_users": quick})
        assert scheduler.tick() == ["sync_users"]
        idle(scheduler)
        assert scheduler.tick() == []
    assert len(log_rows(engine)) == 1
    assert task_row(engine, "sync_users").next_run_at == T0 + timedelta(hours=1, minutes=55)


def test_failures_back_off_exponentially_and_a_success_resets(engine: Engine) -> None:
    only(engine, "sync_users", due=T0)
    behaviour = {"sync_users": breaks}

    async def sync_users(context: SyncContext) -> None:
        await behaviour["sync_users"](context)

    with time_machine.travel(T0, tick=False) as traveller:
        scheduler = Scheduler(engine, settings(), functions={"sync_users": sync_users})
        for failures in (1, 2, 3, 4):
            assert scheduler.tick() == ["sync_users"]
            idle(scheduler)
            row = task_row(engine, "sync_users")
            assert (row.last_status, row.consecutive_failures) == ("failed", failures)
            delay = row.next_run_at - datetime.now(UTC)
            base = timedelta(minutes=2 ** (failures - 1))
            assert base <= delay <= base * 1.2
            traveller.shift(base * 0.9)
            assert scheduler.tick() == []  # not yet
            traveller.move_to(row.next_run_at)
        behaviour["sync_users"] = quick
        assert scheduler.tick() == ["sync_users"]
        idle(scheduler)
        row = task_row(engine, "sync_users")
        assert (row.last_status, row.consecutive_failures) == ("success", 0)
        assert row.next_run_at == row.last_run_at + timedelta(hours=2)


def test_a_task_without_a_function_is_skipped_never_faked(engine: Engine) -> None:
    only(engine, "sync_users", "cleanup")
    scheduler = Scheduler(engine, settings(), functions={"sync_users": quick})
    assert scheduler.tick() == ["sync_users"]
    idle(scheduler)
    assert scheduler.tick() == []
    assert task_row(engine, "cleanup").last_status is None
    assert [row.sync_type for row in log_rows(engine)] == ["sync_users"]


def test_a_task_running_elsewhere_is_left_alone(engine: Engine) -> None:
    only(engine, "sync_users")
    with engine.begin() as connection:
        leases.acquire(connection, "sync_users", "other-replica", T0, timedelta(days=3650))
    scheduler = Scheduler(engine, settings(), functions={"sync_users": quick})
    assert scheduler.tick() == []
    assert task_row(engine, "sync_users").lease_owner == "other-replica"


def test_a_tick_recovers_an_abandoned_run_and_runs_the_task_again(engine: Engine) -> None:
    only(engine, "sync_users")
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "dead", T0, timedelta(seconds=3))
        log_id = inserted_id(
            connection.execute(
                insert(sync_logs).values(
                    sync_type="sync_users", status="running", mode="incremental", started_at=T0
                )
            )
        )
        connection.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type == lease.task)
            .values(current_log_id=log_id)
        )
    scheduler = Scheduler(engine, settings(), functions={"sync_users": quick})
    assert scheduler.tick() == ["sync_users"]
    idle(scheduler)
    assert [(row.status, row.error_message) for row in log_rows(engine)] == [
        ("failed", leases.ABANDONED),
        ("success", None),
    ]


def test_shutdown_lets_a_run_finish_within_the_grace_period(engine: Engine) -> None:
    only(engine, "sync_users")

    async def short(context: SyncContext) -> None:
        await asyncio.sleep(0.3)

    scheduler = Scheduler(engine, settings(), functions={"sync_users": short})
    scheduler.tick()
    scheduler.shutdown(grace=10)
    assert [row.status for row in log_rows(engine)] == ["success"]
    assert scheduler.tick() == []  # a stopped scheduler claims nothing


def test_shutdown_cancels_a_run_still_going_after_the_grace_period(engine: Engine) -> None:
    only(engine, "sync_users")
    gate = Gate()
    scheduler = Scheduler(engine, settings(), functions={"sync_users": gate})
    scheduler.tick()
    wait_for(lambda: gate.entered)
    scheduler.shutdown(grace=0.1)
    (log,) = log_rows(engine)
    assert (log.status, log.error_message) == ("failed", INTERRUPTED)
    row = task_row(engine, "sync_users")
    assert (row.status, row.lease_owner, row.last_error) == ("idle", None, INTERRUPTED)


def test_shutdown_records_a_run_that_reaches_no_checkpoint_as_failed(engine: Engine) -> None:
    only(engine, "sync_users")
    unblock = threading.Event()

    async def stuck(context: SyncContext) -> None:
        unblock.wait(30)  # blocks its event loop: no checkpoint is ever reached

    scheduler = Scheduler(engine, settings(), functions={"sync_users": stuck})
    scheduler.tick()
    wait_for(lambda: log_rows(engine))
    scheduler.shutdown(grace=0.1, cancel_wait=0.1)
    row = task_row(engine, "sync_users")
    assert (row.status, row.lease_owner, row.last_status) == ("idle", None, "failed")
    assert row.consecutive_failures == 1 and row.next_run_at > row.last_run_at
    unblock.set()  # the stuck run ends late: its writes must not undo the verdict
    idle(scheduler)
    (log,) = log_rows(engine)
    assert (log.status, log.error_message) == ("failed", INTERRUPTED)
    assert task_row(engine, "sync_users").last_error == INTERRUPTED


def test_the_loop_ticks_until_stopped_and_restarts_when_a_slot_frees(engine: Engine) -> None:
    only(engine, "sync_users", "sync_groups", "sync_courses")
    scheduler = Scheduler(
        engine,
        settings(PARTNERSYNC_SCHEDULER_TICK_SECONDS=60),
        functions=dict.fromkeys(("sync_users", "sync_groups", "sync_courses"), quick),
        max_concurrent=1,
    )
    scheduler.start()
    try:  # one slot, a 60 s tick: three runs soon only if a finished run wakes the loop
        wait_for(lambda: len([r for r in log_rows(engine) if r.status == "success"]) == 3, 10)
    finally:
        scheduler.shutdown(grace=5)
    assert [row.sync_type for row in log_rows(engine)] == [
        "sync_courses",
        "sync_users",
        "sync_groups",
    ]
    make_due(engine, "sync_users")
    assert scheduler.tick() == []


def test_a_run_that_cannot_be_started_backs_off_and_logs_its_traceback_once(
    engine: Engine,
) -> None:
    """Its claim fails (the history table is gone): no busy loop of claims and tracebacks."""
    only(engine, "sync_users")
    scheduler = Scheduler(
        engine,
        settings(PARTNERSYNC_SCHEDULER_TICK_SECONDS=0.05),
        functions={"sync_users": quick},
    )
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE sync_logs RENAME TO sync_logs_away"))
    try:
        with structlog.testing.capture_logs() as logs:
            scheduler.start()
            time.sleep(2.5)
            scheduler.stop()
            idle(scheduler)
    finally:
        scheduler.shutdown(grace=1)
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE sync_logs_away RENAME TO sync_logs"))
    attempts = [entry for entry in logs if "started" in entry["event"]]
    assert 2 <= len(attempts) <= 4  # after 0 s, 1 s and 2 s: not one per 50 ms tick
    assert sum("exc_info" in entry for entry in attempts) == 1
