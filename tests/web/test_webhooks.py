"""`POST /api/webhooks/northpass`: signature instead of a bearer token, the inbox's dedupe by
id and by natural key, unknown types stored, the body limit, and the route off without a
secret."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, update

from partnersync.db.schema import lms_users, webhook_events
from partnersync.db.types import utcnow
from partnersync.sandbox.webhooks import sign
from partnersync.sync.inbox import SIGNATURE_HEADER
from partnersync.web.app import create_app
from tests.web.conftest import AUTH, web_settings

SECRET = "school-webhook-secret-0123"
URL = "/api/webhooks/northpass"


def event(
    event_id: str = "ev-1",
    event_type: str = "course_completed_events",
    person: str = "p-1",
    created_at: str = "2026-12-01T10:00:00Z",
) -> dict[str, Any]:
    return {
        "data": {
            "id": event_id,
            "type": event_type,
            "attributes": {"created_at": created_at},
            "relationships": {
                "person": {"data": {"type": "people", "id": person}},
                "course": {"data": {"type": "courses", "id": "c-1"}},
            },
        }
    }


def deliver(client: TestClient, payload: Any, secret: str = SECRET, **headers: str) -> Any:
    body = json.dumps(payload).encode()
    signed = {SIGNATURE_HEADER: sign(secret, body), "Content-Type": "application/json"}
    return client.post(URL, content=body, headers={**signed, **headers})


def stored(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.scalar(select(func.count()).select_from(webhook_events)) or 0)


@pytest.fixture
def client(engine: Engine) -> TestClient:
    settings = web_settings(NORTHPASS_WEBHOOK_SECRET=SECRET)
    return TestClient(create_app(engine, settings, functions={}))


def test_a_signed_event_is_stored_once_by_id_and_by_natural_key(
    client: TestClient, engine: Engine
) -> None:
    answer = deliver(client, event())
    assert answer.status_code == 200 and answer.json() == {"stored": True}
    assert deliver(client, event()).json() == {"stored": False}  # the same delivery again
    assert deliver(client, event("ev-2")).json() == {"stored": False}  # same event, new id
    assert deliver(client, event("ev-3", person="p-2")).json() == {"stored": True}
    assert stored(engine) == 2
    with engine.connect() as c:
        row = c.execute(select(webhook_events).order_by(webhook_events.c.id)).first()
    assert row is not None
    assert (row.event_id, row.person_id, row.course_id, row.source) == (
        "ev-1",
        "p-1",
        "c-1",
        "delivery",
    )
    assert json.loads(row.payload) == event() and row.processed_at is None


def test_a_missing_or_wrong_signature_is_refused_and_no_bearer_token_is_needed(
    client: TestClient, engine: Engine
) -> None:
    body = json.dumps(event()).encode()
    assert client.post(URL, content=body).status_code == 401
    assert client.post(URL, content=body, headers=AUTH).status_code == 401  # a token is no key
    assert deliver(client, event(), secret="another-secret").status_code == 401
    tampered = {SIGNATURE_HEADER: sign(SECRET, body)}
    assert client.post(URL, content=body + b" ", headers=tampered).status_code == 401
    assert stored(engine) == 0
    metrics = client.get("/metrics", headers=AUTH).text
    assert "partnersync_webhooks_refused_total 4.0" in metrics
    assert SECRET not in metrics


def test_unknown_types_are_stored_and_learner_events_name_their_included_person(
    client: TestClient, engine: Engine
) -> None:
    assert deliver(client, event("ev-9", "certificate_designed_events")).json()["stored"]
    learner = {
        "data": {"id": "ev-10", "type": "learner_created_events", "attributes": {}},
        "included": [{"type": "people", "id": "p-7", "attributes": {"email": "x@example.com"}}],
    }
    assert deliver(client, learner).json()["stored"]
    with engine.connect() as c:
        rows = c.execute(select(webhook_events.c.event_id, webhook_events.c.person_id)).all()
    people = {event_id: person_id for event_id, person_id in rows}
    assert people == {"ev-9": "p-1", "ev-10": "p-7"}


def test_signed_garbage_is_a_400_and_a_large_body_a_413(client: TestClient, engine: Engine) -> None:
    assert deliver(client, {"data": {"type": "x"}}).status_code == 400
    assert deliver(client, [1, 2]).status_code == 400
    huge = event()
    huge["data"]["attributes"]["blob"] = "x" * (1024 * 1024)
    assert deliver(client, huge).status_code == 413
    assert stored(engine) == 0


def test_without_a_secret_the_route_says_webhooks_are_off(engine: Engine) -> None:
    client = TestClient(create_app(engine, web_settings(), functions={}))
    answer = deliver(client, event())
    assert answer.status_code == 404
    assert "NORTHPASS_WEBHOOK_SECRET" in answer.json()["detail"]
    assert client.get("/api/tasks", headers=AUTH).status_code == 200  # the rest as before


def test_the_status_says_when_deliveries_stopped(client: TestClient, engine: Engine) -> None:
    assert client.get("/api/webhooks/status").status_code == 401  # this one needs the token
    fresh = client.get("/api/webhooks/status", headers=AUTH).json()
    assert fresh == {"configured": True, "last_delivery_at": None, "pending": 0, "problem": None}
    deliver(client, event())
    last = utcnow() - timedelta(hours=5)
    with engine.begin() as c:
        c.execute(update(webhook_events).values(received_at=last))
        c.execute(insert(lms_users).values(id="p-1", last_active_at=utcnow()))
    status = client.get("/api/webhooks/status", headers=AUTH).json()
    assert status["pending"] == 1 and status["last_delivery_at"] is not None
    assert "while learners were active" in status["problem"]
