"""Due selection and catch-up arithmetic, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from partnersync.db.types import utcnow
from partnersync.scheduler.due import TaskState, due_tasks, scheduled_mode
from partnersync.scheduler.scheduler import ORDER
from partnersync.tasks.registry import SYNC_ALL_ORDER
from partnersync.tasks.timing import next_after_failure, next_after_success

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TWO_HOURS = timedelta(hours=2)


def state(
    name: str, next_run_at: datetime | None = T0, enabled: bool = True, status: str = "idle"
) -> TaskState:
    return TaskState(name, enabled, next_run_at, status)


def names(tasks: list[TaskState]) -> list[str]:
    return [task.name for task in tasks]


def test_due_means_enabled_idle_and_time_reached() -> None:
    tasks = [
        state("sync_users"),
        state("sync_groups", T0 + timedelta(seconds=1)),
        state("sync_courses", enabled=False),
        state("sync_npcu", status="running"),
        state("cleanup", None),
    ]
    assert names(due_tasks(tasks, T0, ORDER, 10)) == ["sync_users", "cleanup"]


def test_due_tasks_start_in_dependency_order_limited_by_free_slots() -> None:
    everything = [state(name) for name in reversed(ORDER)]
    assert names(due_tasks(everything, T0, ORDER, 2)) == ["impartner_sync", "sync_courses"]
    assert names(due_tasks(everything, T0, ORDER, 0)) == []
    assert names(due_tasks(everything, T0, ORDER, 100)) == list(ORDER)
    assert list(ORDER[:-1]) == list(SYNC_ALL_ORDER)


def test_tasks_this_process_runs_take_no_slot_and_unknown_names_come_last() -> None:
    tasks = [state("zz_custom"), state("sync_users"), state("impartner_sync")]
    chosen = due_tasks(tasks, T0, ORDER, 2, busy={"impartner_sync"})
    assert names(chosen) == ["sync_users", "zz_custom"]


def test_after_ten_missed_intervals_a_task_runs_once_then_returns_to_its_grid() -> None:
    scheduled = T0 - 10 * TWO_HOURS - timedelta(minutes=5)
    with time_machine.travel(T0, tick=False):
        now = utcnow()
        assert names(due_tasks([state("sync_users", scheduled)], now, ORDER, 2)) == ["sync_users"]
        following = next_after_success(scheduled, TWO_HOURS, now + timedelta(minutes=3))
        assert following == T0 + timedelta(hours=1, minutes=55)
        assert due_tasks([state("sync_users", following)], now, ORDER, 2) == []


def test_after_downtime_every_overdue_task_is_due_once_but_only_two_start() -> None:
    overdue = [state(name, T0 - timedelta(days=3)) for name in ORDER]
    with time_machine.travel(T0, tick=False):
        first = due_tasks(overdue, utcnow(), ORDER, 2)
    assert names(first) == ["impartner_sync", "sync_courses"]


def test_backoff_from_a_frozen_clock_doubles_until_the_interval() -> None:
    with time_machine.travel(T0, tick=False):
        now = utcnow()
        delays = [next_after_failure(n, TWO_HOURS, now) - now for n in range(1, 10)]
    for failures, delay in enumerate(delays, start=1):
        base = min(timedelta(minutes=2 ** (failures - 1)), TWO_HOURS)
        assert base <= delay <= base * 1.2


def test_scheduled_runs_are_full_when_the_last_full_success_is_too_old() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    day = timedelta(hours=24)
    assert scheduled_mode(None, now, day) == "full"
    assert scheduled_mode(now - timedelta(hours=23), now, day) == "incremental"
    assert scheduled_mode(now - day, now, day) == "full"
    assert scheduled_mode(None, now, None) == "incremental"
