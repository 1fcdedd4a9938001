from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Row, event, insert, select

from partnersync.db.engine import database_now
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.tasks import leases
from partnersync.tasks.history import ABANDONED
from partnersync.tasks.leases import AlreadyRunning, UnknownTask
from tests.conftest import empty_database, inserted_id

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=90)


def task_row(engine: Engine, task: str = "sync_users") -> Row[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == task)
        ).one()


def test_a_live_lease_refuses_a_second_owner(engine: Engine) -> None:
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "a", NOW, TTL)
    with pytest.raises(AlreadyRunning, match="held by a"), engine.begin() as connection:
        leases.acquire(connection, "sync_users", "b", NOW + TTL / 2, TTL)
    assert task_row(engine).lease_token == lease.token


def test_an_expired_lease_is_taken_over_and_its_run_marked_abandoned(engine: Engine) -> None:
    with engine.begin() as connection:
        first = leases.acquire(connection, "sync_users", "a", NOW, TTL)
        log_id = inserted_id(
            connection.execute(
                insert(sync_logs).values(
                    sync_type="sync_users", status="running", mode="full", started_at=NOW
                )
            )
        )
        connection.execute(scheduled_tasks.update().values(current_log_id=log_id))
    later = NOW + TTL + timedelta(seconds=1)
    with engine.begin() as connection:
        second = leases.acquire(connection, "sync_users", "b", later, TTL)
    assert second.token == first.token + 1
    with engine.begin() as connection:
        assert not leases.renew(connection, first, later, TTL)
        assert not leases.release(connection, first, last_status="success")
        log = connection.execute(select(sync_logs)).one()
    assert (log.status, log.error_message) == ("failed", leases.ABANDONED)
    assert task_row(engine).lease_owner == "b"


def test_renew_publishes_progress_and_release_frees_the_task(engine: Engine) -> None:
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "a", NOW, TTL)
        assert leases.renew(connection, lease, NOW + TTL / 3, TTL, {"stage": "x", "done": 3})
    assert task_row(engine).progress == {"stage": "x", "done": 3}
    with engine.begin() as connection:
        assert leases.release(connection, lease, last_status="success")
    row = task_row(engine)
    assert (row.status, row.lease_owner, row.last_status, row.progress) == (
        "idle",
        None,
        "success",
        None,
    )


def test_reaper_frees_expired_leases_and_makes_the_task_due(engine: Engine) -> None:
    with engine.begin() as connection:
        leases.acquire(connection, "sync_users", "dead", NOW, TTL)
        leases.acquire(connection, "sync_groups", "alive", NOW + TTL, TTL)
    with engine.begin() as connection:
        reaped = leases.reap_expired(connection, NOW + TTL + timedelta(seconds=1))
    assert reaped == ["sync_users"]
    row = task_row(engine)
    assert (row.status, row.last_status, row.next_run_at) == (
        "idle",
        "failed",
        NOW + TTL + timedelta(seconds=1),
    )
    assert task_row(engine, "sync_groups").status == "running"


def test_a_claim_is_refused_once_anyone_took_the_lease_since_it_was_seen(engine: Engine) -> None:
    seen = task_row(engine).lease_token
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "a", NOW, TTL, expected_token=seen)
        leases.release(connection, lease, last_status="success")
    with pytest.raises(AlreadyRunning), engine.begin() as connection:
        leases.acquire(connection, "sync_users", "b", NOW + TTL, TTL, expected_token=seen)
    assert task_row(engine).lease_token == seen + 1


def running_log(connection: Any, task: str) -> int:
    log_id = inserted_id(
        connection.execute(
            insert(sync_logs).values(sync_type=task, status="running", mode="full", started_at=NOW)
        )
    )
    connection.execute(
        scheduled_tasks.update()
        .where(scheduled_tasks.c.task_type == task)
        .values(current_log_id=log_id)
    )
    return log_id


def test_the_reaper_takes_a_lease_at_its_expiry_instant_and_bumps_each_token_once(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        first = leases.acquire(connection, "sync_users", "dead", NOW, TTL)
        second = leases.acquire(connection, "sync_groups", "dead too", NOW, TTL)
        logs = [running_log(connection, "sync_users"), running_log(connection, "sync_groups")]
    assert first.token == second.token  # the same token: only the task name tells them apart
    with engine.begin() as connection:
        reaped = leases.reap_expired(connection, NOW + TTL)  # expired at exactly this instant
    assert sorted(reaped) == ["sync_groups", "sync_users"]
    assert task_row(engine).lease_token == first.token + 1
    assert task_row(engine, "sync_groups").lease_token == second.token + 1
    with engine.connect() as connection:
        closed = connection.execute(
            select(sync_logs.c.status, sync_logs.c.completed_at).where(sync_logs.c.id.in_(logs))
        ).all()
    assert [tuple(row) for row in closed] == [("failed", NOW + TTL)] * 2


def test_renewal_extends_from_the_given_instant(engine: Engine) -> None:
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "a", NOW, TTL)
        assert leases.renew(connection, lease, NOW + TTL / 2, TTL)
    row = task_row(engine)
    assert (row.lease_expires_at, row.heartbeat_at) == (NOW + TTL / 2 + TTL, NOW + TTL / 2)


def test_a_takeover_closes_the_abandoned_run_at_the_takeover_instant(engine: Engine) -> None:
    with engine.begin() as connection:
        leases.acquire(connection, "sync_users", "a", NOW, TTL)
        log_id = running_log(connection, "sync_users")
    later = NOW + TTL + timedelta(seconds=5)
    with engine.begin() as connection:
        leases.acquire(connection, "sync_users", "b", later, TTL)
    with engine.connect() as connection:
        completed = connection.scalar(
            select(sync_logs.c.completed_at).where(sync_logs.c.id == log_id)
        )
    assert completed == later


def test_the_errors_name_the_task_and_the_owner() -> None:
    unknown = UnknownTask("nope")
    assert unknown.task == "nope" and str(unknown) == "unknown task 'nope'"
    running = AlreadyRunning("sync_users", None)
    assert (running.task, running.owner) == ("sync_users", None)
    assert str(running) == "sync_users is already running (lease held by another process)"
    assert AlreadyRunning("t", "host:1").owner == "host:1"
    lost = leases.LeaseLost("sync_users")
    assert lost.task == "sync_users" and str(lost) == f"sync_users: {leases.LOST}"


@contextmanager
def meanwhile(engine: Engine, change: Callable[[Connection], None]) -> Iterator[None]:
    """Run `change` in another transaction just before the reaper's UPDATE: what another
    replica or the owner's heartbeat can do between the reaper's read and its write."""
    done: list[bool] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if (
            not done
            and statement.startswith("UPDATE scheduled_tasks")
            and ABANDONED in str(parameters)
        ):
            done.append(True)
            with engine.begin() as other:
                change(other)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert done, "the reaper never tried to free the lease"


@pytest.fixture
def mariadb(mariadb_engine: Engine) -> Engine:
    """MariaDB only: a row changed after the reaper read it is seen by its UPDATE there (SQLite
    lets one writer in at a time, so the interleaving cannot happen)."""
    empty_database(mariadb_engine)
    return mariadb_engine


def test_a_lease_renewed_after_the_reaper_read_it_is_not_reaped(mariadb: Engine) -> None:
    with mariadb.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "slow but alive", NOW, TTL)

    def renewal(other: Connection) -> None:
        leases.renew(other, lease, NOW + TTL - timedelta(seconds=1), TTL)

    with meanwhile(mariadb, renewal), mariadb.begin() as connection:
        assert leases.reap_expired(connection, NOW + TTL + timedelta(seconds=1)) == []
    row = task_row(mariadb)
    assert (row.status, row.lease_owner, row.lease_token) == (
        "running",
        "slow but alive",
        lease.token,
    )


def test_a_lease_another_replica_took_over_after_the_read_is_not_reaped_again(
    mariadb: Engine,
) -> None:
    """Even when the new owner's lease has expired too by the reaper's clock: the reaper read
    the old token, so freeing the row would close the wrong run and hand out a used token."""
    late = NOW + TTL + timedelta(seconds=1)
    with mariadb.begin() as connection:
        leases.acquire(connection, "sync_users", "dead", NOW, TTL)

    def takeover(other: Connection) -> None:
        assert leases.reap_expired(other, late) == ["sync_users"]
        leases.acquire(other, "sync_users", "replica 2", NOW, TTL)  # expired by `late` as well

    before = task_row(mariadb).lease_token
    with meanwhile(mariadb, takeover), mariadb.begin() as connection:
        assert leases.reap_expired(connection, late) == []
    row = task_row(mariadb)
    assert (row.status, row.lease_owner, row.lease_token) == ("running", "replica 2", before + 2)


def test_a_lease_is_taken_over_at_the_very_instant_it_expires(engine: Engine) -> None:
    with engine.begin() as connection:
        first = leases.acquire(connection, "sync_users", "dead", NOW, TTL)
    with engine.begin() as connection:
        second = leases.acquire(connection, "sync_users", "next", NOW + TTL, TTL)
    assert (second.owner, second.token) == ("next", first.token + 1)


def test_only_the_exact_lease_is_released_or_fenced(engine: Engine) -> None:
    """A lease matches its own task row, owner and token only; once released, its fence fails
    even though nobody took the token since."""
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "a", NOW, TTL)
        other = leases.acquire(connection, "sync_groups", "b", NOW, TTL)
    assert other.token == lease.token
    impostors = [
        leases.Lease("sync_groups", lease.owner, lease.token),
        leases.Lease(lease.task, "b", lease.token),
        leases.Lease(lease.task, lease.owner, lease.token + 1),
    ]
    with engine.begin() as connection:
        assert not any(leases.release(connection, other) for other in impostors)
    assert task_row(engine).status == task_row(engine, "sync_groups").status == "running"
    with engine.begin() as connection:
        assert leases.release(connection, lease, last_status="success")
    with pytest.raises(leases.LeaseLost, match="sync_users"), engine.begin() as connection:
        leases.fence(connection, lease)


def test_an_unknown_task_is_named(engine: Engine) -> None:
    with pytest.raises(UnknownTask, match="'nope'"), engine.begin() as connection:
        leases.acquire(connection, "nope", "a", NOW, TTL)


def test_without_an_instant_the_reaper_and_renewal_read_the_database_clock(engine: Engine) -> None:
    """The scheduler passes no `now`: replicas must judge expiry by one clock, the database's."""
    with engine.begin() as connection:
        now = database_now(connection)
        leases.acquire(connection, "sync_users", "dead", now - 2 * TTL, TTL)
    with engine.begin() as connection:
        assert leases.reap_expired(connection) == ["sync_users"]
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "alive", now - 2 * TTL, TTL)
        assert leases.renew(connection, lease, None, TTL)
    assert task_row(engine).lease_expires_at >= now + TTL


def test_a_live_conflicting_lease_refuses_naming_the_conflict_and_its_owner(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        leases.acquire(connection, "sync_groups", "replica A", NOW, TTL)
    with pytest.raises(AlreadyRunning) as refused, engine.begin() as connection:
        leases.acquire(connection, "sync_users", "replica B", NOW, TTL, conflicts=["sync_groups"])
    assert (refused.value.task, refused.value.owner) == ("sync_groups", "replica A")
    with engine.begin() as connection:  # the conflict's lease has expired: it no longer counts
        lease = leases.acquire(
            connection, "sync_users", "replica B", NOW + TTL, TTL, conflicts=["sync_groups"]
        )
    assert lease.owner == "replica B"


def test_a_refused_lease_names_its_task_and_holder_and_a_taken_one_its_heartbeat(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "replica A", NOW, TTL)
    assert task_row(engine).heartbeat_at == NOW
    with pytest.raises(AlreadyRunning) as live, engine.begin() as connection:
        leases.acquire(connection, "sync_users", "replica B", NOW, TTL)
    later = NOW + TTL
    with pytest.raises(AlreadyRunning) as stale, engine.begin() as connection:
        leases.acquire(connection, "sync_users", "replica B", later, TTL, lease.token - 1)
    for refused in (live.value, stale.value):
        assert (refused.task, refused.owner) == ("sync_users", "replica A")


def test_a_takeover_starts_without_the_abandoned_runs_progress(engine: Engine) -> None:
    with engine.begin() as connection:
        lease = leases.acquire(connection, "sync_users", "dead", NOW, TTL)
        assert leases.renew(connection, lease, NOW, TTL, progress={"northpass.people": 40})
    with engine.begin() as connection:
        leases.acquire(connection, "sync_users", "replica 2", NOW + TTL, TTL)
    assert task_row(engine).progress is None
