"""Failure alerts: sent on transitions only, across replicas, to a real loopback receiver."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.scheduler.scheduler import Scheduler
from partnersync.sync.context import SyncContext
from partnersync.tasks.alerts import transition
from partnersync.tasks.runner import run_task
from partnersync.types import OutcomeStatus

from .conftest import Receiver, log_rows, make_due, only, wait_for


@pytest.mark.parametrize(
    ("previous", "status", "expected"),
    [
        (0, "failed", "failing"),
        (1, "failed", None),
        (7, "failed", None),
        (0, "success", None),
        (1, "success", "recovered"),
        (5, "success", "recovered"),
    ],
)
def test_only_transitions_alert(previous: int, status: OutcomeStatus, expected: str | None) -> None:
    assert transition(previous, status) == expected


def replica(engine: Engine, url: str, outcomes: list[str], owner: str) -> Scheduler:
    async def sync_users(context: SyncContext) -> None:
        await asyncio.sleep(0)
        if outcomes.pop(0) == "fail":
            raise RuntimeError("Impartner answered 503 six times")

    values: dict[str, Any] = {"PARTNERSYNC_ALERT_WEBHOOK_URL": url}
    settings = Settings(**values)
    return Scheduler(engine, settings, functions={"sync_users": sync_users}, owner=owner)


def run_once(engine: Engine, scheduler: Scheduler) -> None:
    make_due(engine, "sync_users")
    assert scheduler.tick() == ["sync_users"]
    wait_for(lambda: not scheduler.running)


def test_one_alert_when_failing_starts_and_one_on_recovery_whichever_replica_runs(
    engine: Engine, receiver: Receiver
) -> None:
    only(engine, "sync_users")
    outcomes = ["fail", "fail", "fail", "ok", "ok", "fail"]
    first = replica(engine, receiver.url, outcomes, "replica-a")
    second = replica(engine, receiver.url, outcomes, "replica-b")
    for scheduler in (first, second, first, second, first, second):
        run_once(engine, scheduler)
    assert [row.owner for row in log_rows(engine)][:2] == ["replica-a", "replica-b"]
    assert receiver.statuses() == [
        ("sync_users", "failing"),
        ("sync_users", "recovered"),
        ("sync_users", "failing"),
    ]
    failing = receiver.messages[0]
    assert failing["error"] == "RuntimeError: Impartner answered 503 six times"
    assert receiver.messages[1]["error"] is None
    assert failing["at"].startswith(str(log_rows(engine)[0].completed_at.date()))


def test_a_webhook_that_fails_never_fails_the_run_nor_leaks_its_url(
    engine: Engine,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    only(engine, "sync_users")
    receiver.status = 500
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}/?token=s3cret"
    run_once(engine, replica(engine, receiver.url, ["fail"], "a"))
    run_once(engine, replica(engine, unreachable, ["ok"], "a"))
    receiver.status = 204
    run_once(engine, replica(engine, receiver.url, ["fail"], "a"))
    assert receiver.statuses() == [("sync_users", "failing"), ("sync_users", "failing")]
    assert [row.status for row in log_rows(engine)] == ["failed", "success", "failed"]
    captured = capsys.readouterr()
    assert "s3cret" not in captured.out + captured.err + caplog.text


def test_runs_started_outside_the_schedule_alert_too(engine: Engine, receiver: Receiver) -> None:
    """A failure that begins in a CLI run must alert, or the transition would be lost."""

    async def breaks(context: SyncContext) -> None:
        raise RuntimeError("Northpass answered 401")

    async def works(context: SyncContext) -> None:
        return None

    values: dict[str, Any] = {"PARTNERSYNC_ALERT_WEBHOOK_URL": receiver.url}
    settings = Settings(**values)
    run_task(engine, settings, "sync_users", breaks, trigger="cli")
    run_task(engine, settings, "sync_users", breaks, trigger="api")
    run_task(engine, settings, "sync_users", works, trigger="cli")
    assert receiver.statuses() == [("sync_users", "failing"), ("sync_users", "recovered")]
