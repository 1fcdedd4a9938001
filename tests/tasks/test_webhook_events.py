"""Webhook events as hints: deliveries from the sandbox reach `lms_enrollments` and Impartner
through targeted re-reads, a burst makes one push, duplicates and late events change nothing,
a bad event never blocks its neighbours, and processing waits for the tasks whose data it shares.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from partnersync.db.migrate import seed_tasks
from partnersync.db.schema import (
    lms_courses,
    lms_enrollments,
    lms_users,
    partners,
    scheduled_tasks,
    sync_logs,
    webhook_events,
)
from partnersync.sandbox.server import RunningSandbox, bind
from partnersync.sandbox.webhooks import sign
from partnersync.sync.inbox import SIGNATURE_HEADER
from partnersync.sync.partner_users import partner_user_pairs
from partnersync.tasks.registry import PARTNER_REFRESH
from partnersync.web.app import create_app
from partnersync.web.webhook_worker import WebhookWorker
from tests.sync.conftest import pull_everything, run, settings_for
from tests.tasks.test_partner_refresh import count_of, hold
from tests.web.conftest import TOKEN

RECEIVER = "/api/webhooks/northpass"
COMPLETED = "course_completed_events"


def webhook_settings(sb: RunningSandbox, **extra: Any) -> Any:
    return settings_for(
        sb,
        NORTHPASS_WEBHOOK_SECRET=sb.knobs.webhook_secret,
        PARTNERSYNC_API_TOKEN=TOKEN,
        PARTNERSYNC_WEBHOOK_DEBOUNCE_SECONDS=0.5,
        PARTNERSYNC_SHUTDOWN_GRACE_SECONDS=0,
        **extra,
    )


def completions_of_one_partner(
    engine: Engine, sb: RunningSandbox
) -> tuple[int, list[tuple[str, str]]]:
    """A partner and up to three (person, course) unfinished NPCU courses of its own users."""
    with engine.connect() as c:
        worth = set(c.scalars(select(lms_courses.c.id).where(lms_courses.c.npcu_value > 0)))
        pairs = c.execute(partner_user_pairs()).all()
    owners: dict[str, set[int]] = {}
    for partner_id, user_id in pairs:
        owners.setdefault(user_id, set()).add(partner_id)
    todo: dict[int, list[tuple[str, str]]] = {}
    for user_id, partner_ids in sorted(owners.items()):
        if len(partner_ids) != 1:
            continue
        for item in sb.dataset.transcripts.get(user_id, []):
            if item.resource_id in worth and item.progress_status != "completed":
                todo.setdefault(next(iter(partner_ids)), []).append((user_id, item.resource_id))
    partner_id = max(todo, key=lambda p: len(todo[p]))
    return partner_id, todo[partner_id][:3]


def impartner_count(engine: Engine, sb: RunningSandbox, partner_id: int) -> Any:
    with engine.connect() as c:
        account = c.scalar(select(partners.c.impartner_id).where(partners.c.id == partner_id))
    return sb.dataset.accounts[int(account or 0)].Certification_Count__cf


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on loopback, lifespan and all, as `partnersync serve` runs it."""
    config = uvicorn.Config(app, http="h11", loop="asyncio", log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    sock = bind(0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_for(condition: Callable[[], object], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def replayed(engine: Engine) -> bool:
    with engine.connect() as c:
        status = c.scalar(
            select(sync_logs.c.status).where(sync_logs.c.sync_type == "webhook_replay")
        )
    return status == "success"


def patches(sb: RunningSandbox) -> int:
    return int(sb.stats()["routes"].get("PATCH /api/objects/v1/{object}", {}).get("total", 0))


def test_a_burst_of_delivered_completions_reaches_the_database_and_makes_one_push(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    assert run(engine, sandbox, "sync_to_impartner").status == "success"
    partner_id, todo = completions_of_one_partner(engine, sandbox)
    before = count_of(engine, sandbox, partner_id)
    app = create_app(engine, webhook_settings(sandbox), functions={})
    with serving(app) as url:
        wait_for(lambda: replayed(engine))  # the worker's replay at start has read the log
        subscription = {"url": url + RECEIVER, "types": [COMPLETED]}
        sandbox.set_knobs(webhook_subscriptions=[subscription], webhook_paused=True)
        for person, course in todo:
            sandbox.dataset.add_completion(person, course)
        sandbox.reset_counters()
        sandbox.set_knobs(webhook_paused=False)  # the burst arrives within the debounce
        wait_for(lambda: impartner_count(engine, sandbox, partner_id) == before + len(todo))
    routes = sandbox.stats()["routes"]
    assert patches(sandbox) == 1
    people = {person for person, _ in todo}
    assert routes["GET /v2/transcripts/{id}"]["total"] <= 2 * len(people)
    assert "GET /v2/people" not in routes and "GET /v2/courses" not in routes
    with engine.connect() as c:
        statuses = {
            (row.user_id, row.course_id): row.status
            for row in c.execute(
                select(lms_enrollments).where(lms_enrollments.c.user_id.in_(people))
            )
        }
        runs = c.execute(
            select(sync_logs.c.status).where(sync_logs.c.sync_type == "webhook_events")
        )
        pending = c.scalar(
            select(webhook_events.c.id).where(webhook_events.c.processed_at.is_(None))
        )
    assert all(statuses[pair] == "completed" for pair in todo)
    assert set(runs.scalars()) == {"success"} and pending is None


def deliver(client: TestClient, sb: RunningSandbox, payload: dict[str, Any]) -> bool:
    body = json.dumps(payload).encode()
    answer = client.post(
        RECEIVER, content=body, headers={SIGNATURE_HEADER: sign(sb.knobs.webhook_secret, body)}
    )
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["stored"])


def completion_event(sb: RunningSandbox, person: str, course: str, event_id: str, at: str) -> Any:
    payload = sb.state.webhooks.payload(COMPLETED, person, course)
    payload["data"].update(id=event_id, attributes={"created_at": at})
    return payload


@pytest.fixture
def pulled(engine: Engine, sandbox: RunningSandbox) -> tuple[TestClient, WebhookWorker]:
    """A synced database and an app whose worker the test drives itself (not started)."""
    pull_everything(engine, sandbox)
    assert run(engine, sandbox, "sync_to_impartner").status == "success"
    app = create_app(engine, webhook_settings(sandbox), functions={})
    worker = app.state.services.webhooks
    assert worker is not None
    return TestClient(app), worker


def enrollments(engine: Engine) -> list[Any]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(select(lms_enrollments).order_by(lms_enrollments.c.id))]


def test_duplicates_and_late_events_change_nothing(
    engine: Engine, sandbox: RunningSandbox, pulled: tuple[TestClient, WebhookWorker]
) -> None:
    client, worker = pulled
    partner_id, todo = completions_of_one_partner(engine, sandbox)
    person, course = todo[0]
    before = count_of(engine, sandbox, partner_id)
    sandbox.dataset.add_completion(person, course)
    assert deliver(
        client, sandbox, completion_event(sandbox, person, course, "e1", "2026-12-01T10:00:00Z")
    )
    assert not deliver(
        client, sandbox, completion_event(sandbox, person, course, "e1", "2026-12-01T10:00:00Z")
    )
    assert not deliver(
        client, sandbox, completion_event(sandbox, person, course, "e2", "2026-12-01T10:00:00Z")
    )
    sandbox.reset_counters()
    first = worker.run_pending()
    assert first is not None and first.status == "success", first and first.error
    assert impartner_count(engine, sandbox, partner_id) == before + 1 and patches(sandbox) == 1
    stored = enrollments(engine)

    # an older event delivered late, and a retried one under a new id: re-reads, no change
    assert deliver(
        client, sandbox, completion_event(sandbox, person, course, "e0", "2026-11-30T09:00:00Z")
    )
    sandbox.reset_counters()
    second = worker.run_pending()
    assert second is not None and second.status == "success", second and second.error
    assert patches(sandbox) == 0
    assert enrollments(engine) == stored
    assert impartner_count(engine, sandbox, partner_id) == before + 1


def test_a_bad_event_is_skipped_and_counted_while_its_neighbours_are_processed(
    engine: Engine, sandbox: RunningSandbox, pulled: tuple[TestClient, WebhookWorker]
) -> None:
    client, worker = pulled
    newcomer = sandbox.dataset.add_person("newcomer@example.com", "New", "Comer")
    learner = sandbox.state.webhooks.payload("learner_created_events", newcomer.id, None)
    assert deliver(client, sandbox, learner)
    assert deliver(client, sandbox, {"data": {"id": "x1", "type": "badge_designed_events"}})
    assert deliver(client, sandbox, {"data": {"id": "x2", "type": COMPLETED}})  # names no one
    outcome = worker.run_pending()
    assert outcome is not None and outcome.status == "success", outcome and outcome.error
    with engine.connect() as c:
        email = c.scalar(select(lms_users.c.email).where(lms_users.c.id == newcomer.id))
        outcomes = dict(
            c.execute(select(webhook_events.c.event_id, webhook_events.c.outcome)).tuples().all()
        )
        failed = c.scalar(
            select(sync_logs.c.records_failed).where(sync_logs.c.id == outcome.log_id)
        )
    assert email == "newcomer@example.com"
    assert outcomes["x1"].startswith("ignored") and outcomes["x2"].startswith("skipped")
    assert outcomes[learner["data"]["id"]] == "re-read"
    assert failed == 1


def test_processing_waits_while_enrollments_or_the_push_run(
    engine: Engine, sandbox: RunningSandbox, pulled: tuple[TestClient, WebhookWorker]
) -> None:
    client, worker = pulled
    _, todo = completions_of_one_partner(engine, sandbox)
    person, course = todo[0]
    sandbox.dataset.add_completion(person, course)
    assert deliver(
        client, sandbox, completion_event(sandbox, person, course, "e1", "2026-12-01T10:00:00Z")
    )
    with engine.begin() as c:
        seed_tasks(c, [PARTNER_REFRESH])  # as its first run would
    for blocker in ("sync_enrollments", "sync_to_impartner", "partner_refresh"):
        hold(engine, blocker)
        assert worker.run_pending() is None  # refused: the event waits in the inbox
        with engine.begin() as c:
            c.execute(
                update(scheduled_tasks)
                .where(scheduled_tasks.c.task_type == blocker)
                .values(status="idle", lease_owner=None, lease_expires_at=None)
            )
    outcome = worker.run_pending()
    assert outcome is not None and outcome.status == "success", outcome and outcome.error
    assert worker.run_pending() is None  # nothing pending any more


def pending_people(engine: Engine) -> set[str]:
    with engine.connect() as c:
        rows = c.scalars(
            select(webhook_events.c.person_id).where(webhook_events.c.processed_at.is_(None))
        )
        return {person for person in rows if person is not None}


def test_a_failing_re_read_leaves_its_events_pending_and_the_others_go_on(
    engine: Engine, sandbox: RunningSandbox, pulled: tuple[TestClient, WebhookWorker]
) -> None:
    client, worker = pulled
    partner_users = sorted({user for _, user in partner_user_pairs_of(engine)})
    first, second = partner_users[0], partner_users[1]
    course = sorted(sandbox.dataset.courses)[0]
    for n, person in enumerate((first, second)):
        sandbox.dataset.add_completion(person, course)
        payload = completion_event(sandbox, person, course, f"e{n}", "2026-12-01T10:00:00Z")
        assert deliver(client, sandbox, payload)

    sandbox.set_knobs(fault_5xx_share=1.0, fault_path_prefix="/v2/transcripts/")
    failed = worker.run_pending()
    assert failed is not None and failed.status == "failed"  # Northpass down: loudly
    assert pending_people(engine) == {first, second}

    sandbox.set_knobs(fault_5xx_share=1.0, fault_path_prefix=f"/v2/transcripts/{first}")
    partial = worker.run_pending()
    assert partial is not None and partial.status == "success", partial and partial.error
    assert pending_people(engine) == {first}  # its neighbour went on
    assert partial.report.streams["northpass.transcripts"].failed == 1

    sandbox.set_knobs(fault_5xx_share=0.0)
    done = worker.run_pending()
    assert done is not None and done.status == "success", done and done.error
    assert pending_people(engine) == set()


def partner_user_pairs_of(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as c:
        return [(partner, user) for partner, user in c.execute(partner_user_pairs())]
