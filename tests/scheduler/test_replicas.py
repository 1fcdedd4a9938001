"""Several scheduler processes against one real MariaDB: exclusion, crash recovery, SIGTERM.

Each replica is `python -m tests.scheduler.replica`: the `partnersync serve` loop with
small task coroutines. Intervals are whole minutes, so to get many short runs in a few
seconds the test plays an operator pressing "run now" on every task, all the time: it
keeps setting `next_run_at` to now. Every replica then wants every task on every tick,
the hardest case for mutual exclusion; only the database lease can keep runs apart.
Due-time arithmetic is tested separately with a frozen clock (test_scheduler.py).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, Update, update

from partnersync.db.engine import in_transaction
from partnersync.db.schema import scheduled_tasks
from partnersync.db.types import utcnow
from partnersync.tasks.leases import ABANDONED
from partnersync.tasks.runner import INTERRUPTED
from tests.conftest import empty_database

from .conftest import log_rows, only, task_row, wait_for

ROOT = Path(__file__).parents[2]
TASKS = ("sync_users", "sync_groups", "sync_courses", "sync_npcu")


class Replicas:
    """Starts replica processes and makes sure none outlives its test."""

    def __init__(self, engine: Engine, logs: Path) -> None:
        self.url = engine.url.render_as_string(hide_password=False)
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, owner: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "PARTNERSYNC_DATABASE_URL": self.url,
            "PARTNERSYNC_LEASE_SECONDS": "3",
            "PARTNERSYNC_SCHEDULER_TICK_SECONDS": "0.05",
            **env,
        }
        with (self.logs / f"{owner}.log").open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.scheduler.replica", owner],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.processes.append(process)
        return process

    def stop_all(self) -> list[int]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [process.wait(30) for process in self.processes]

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def replicas(mariadb_engine: Engine, tmp_path: Path) -> Iterator[Replicas]:
    empty_database(mariadb_engine)
    started = Replicas(mariadb_engine, tmp_path)
    yield started
    started.kill_all()


def keep_due(engine: Engine, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = utcnow()
        statement = (
            update(scheduled_tasks)
            .where(scheduled_tasks.c.enabled, scheduled_tasks.c.next_run_at > now)
            .values(next_run_at=now)
        )

        def bump(connection: Connection, statement: Update = statement) -> None:
            connection.execute(statement)

        # this range UPDATE can deadlock with the replicas' row updates: in_transaction retries
        in_transaction(engine, bump)
        time.sleep(0.05)


def test_two_then_three_replicas_never_run_one_task_at_the_same_time(
    mariadb_engine: Engine, replicas: Replicas
) -> None:
    engine = mariadb_engine
    only(engine, *TASKS)
    env = {"REPLICA_TASKS": ",".join(TASKS), "REPLICA_TASK_SECONDS": "0.2"}
    replicas.start("replica-1", **env)
    replicas.start("replica-2", **env)
    keep_due(engine, 6)
    joined = utcnow()
    replicas.start("replica-3", **env)
    keep_due(engine, 6)
    assert replicas.stop_all() == [0, 0, 0]

    runs = log_rows(engine)
    assert {run.status for run in runs} == {"success"}
    assert {run.owner for run in runs} == {"replica-1", "replica-2", "replica-3"}
    assert any(run.owner == "replica-3" for run in runs if run.started_at > joined)
    for task in TASKS:
        ordered = sorted((run for run in runs if run.sync_type == task), key=lambda r: r.started_at)
        assert len(ordered) >= 10, task
        for before, after in itertools.pairwise(ordered):
            assert before.completed_at <= after.started_at, (task, before.id, after.id)
    print(f"\n{len(runs)} runs checked for overlap")  # shown with -s


def test_a_killed_replicas_run_is_marked_abandoned_and_run_again_after_its_lease(
    mariadb_engine: Engine, replicas: Replicas
) -> None:
    engine = mariadb_engine
    only(engine, "sync_users")
    doomed = replicas.start("doomed", REPLICA_TASKS="sync_users", REPLICA_TASK_SECONDS="60")
    wait_for(lambda: [run for run in log_rows(engine) if run.status == "running"])
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    killed_at = utcnow()
    replicas.start("survivor", REPLICA_TASKS="sync_users", REPLICA_TASK_SECONDS="0.2")
    wait_for(lambda: [run.status for run in log_rows(engine)] == ["failed", "success"])
    abandoned, rerun = log_rows(engine)
    assert (abandoned.owner, abandoned.error_message) == ("doomed", ABANDONED)
    assert abandoned.completed_at >= killed_at + timedelta(seconds=1.5)  # lease ran out first
    assert rerun.owner == "survivor" and rerun.started_at >= abandoned.completed_at
    assert task_row(engine, "sync_users").consecutive_failures == 0
    assert replicas.stop_all()[-1] == 0


def test_sigterm_lets_runs_finish_or_records_them_failed_then_exits_cleanly(
    mariadb_engine: Engine, replicas: Replicas
) -> None:
    engine = mariadb_engine
    only(engine, "sync_users", "sync_groups")
    leaving = replicas.start(
        "leaving",
        REPLICA_TASKS="sync_users",
        REPLICA_TASK_SECONDS="2",
        REPLICA_ENDLESS="sync_groups",
        PARTNERSYNC_SHUTDOWN_GRACE_SECONDS="3",
    )
    wait_for(lambda: len([run for run in log_rows(engine) if run.status == "running"]) == 2)
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(30) == 0
    outcomes = {run.sync_type: (run.status, run.error_message) for run in log_rows(engine)}
    assert outcomes == {"sync_users": ("success", None), "sync_groups": ("failed", INTERRUPTED)}
    for name in ("sync_users", "sync_groups"):
        row = task_row(engine, name)
        assert (row.status, row.lease_owner) == ("idle", None)
