"""`in_transaction` runs a transaction again when MariaDB picks it as a deadlock victim."""

from __future__ import annotations

import threading

from sqlalchemy import Connection, Engine, select, update

from partnersync.db.engine import in_transaction
from partnersync.db.schema import scheduled_tasks
from tests.conftest import empty_database


def bump(connection: Connection, task: str) -> None:
    connection.execute(
        update(scheduled_tasks)
        .where(scheduled_tasks.c.task_type == task)
        .values(consecutive_failures=scheduled_tasks.c.consecutive_failures + 1)
    )


def test_a_deadlock_victim_is_run_again_and_both_transactions_land(
    mariadb_engine: Engine,
) -> None:
    empty_database(mariadb_engine)
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}

    def crossing(name: str, first: str, second: str) -> None:
        def work(connection: Connection) -> None:
            attempts[name] += 1
            bump(connection, first)
            if attempts[name] == 1:
                both_hold_one.wait()  # each holds one row and asks for the other's
            bump(connection, second)

        in_transaction(mariadb_engine, work)

    threads = [
        threading.Thread(target=crossing, args=("a", "sync_users", "sync_groups")),
        threading.Thread(target=crossing, args=("b", "sync_groups", "sync_users")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with mariadb_engine.connect() as connection:
        counts = {
            task_type: failures
            for task_type, failures in connection.execute(
                select(scheduled_tasks.c.task_type, scheduled_tasks.c.consecutive_failures).where(
                    scheduled_tasks.c.task_type.in_(["sync_users", "sync_groups"])
                )
            ).all()
        }
    assert counts == {"sync_users": 2, "sync_groups": 2}
    assert sorted(attempts.values()) == [1, 2]  # the victim ran twice
