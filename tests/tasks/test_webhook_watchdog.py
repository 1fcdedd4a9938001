"""The webhook watchdog: deliveries that stopped while Northpass still logs events, or a silence
while learners are active, fail the replay run, which the alert webhook and `/metrics` report."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, update

from partnersync.db.schema import lms_users, webhook_events
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from partnersync.tasks.webhook_watchdog import IN_FLIGHT, DeliveryFacts, problem
from partnersync.web.app import create_app
from tests.sync.conftest import pull_everything
from tests.tasks.test_webhook_events import webhook_settings
from tests.web.conftest import AUTH

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SILENCE = timedelta(hours=3)


def facts(delivered: float | None, missed: float | None, active: float | None) -> DeliveryFacts:
    """Each given as hours before NOW."""

    def ago(hours: float | None) -> datetime | None:
        return None if hours is None else NOW - timedelta(hours=hours)

    return DeliveryFacts(ago(delivered), ago(missed), ago(active))


@pytest.mark.parametrize(
    ("delivered", "missed", "active", "finding"),
    [
        (0.1, None, 0.0, None),  # deliveries flow
        (None, None, 1.0, None),  # nothing delivered yet, nothing missed: not judged
        (5.0, 1.0, 0.5, "never delivered"),  # the log has what no delivery brought
        (None, 1.0, None, "never delivered"),  # a receiver that never got anything
        (0.5, 1.0, 0.0, None),  # one dropped event, deliveries since
        (5.0, IN_FLIGHT / timedelta(hours=2), None, None),  # missed but maybe still in flight
        (5.0, None, 0.5, "while learners were active"),  # silent, learners active since
        (5.0, None, 6.0, None),  # silent, but nobody learned since
        (1.0, None, 0.5, None),  # quiet for less than the silence
    ],
)
def test_the_two_symptoms(
    delivered: float | None, missed: float | None, active: float | None, finding: str | None
) -> None:
    found = problem(facts(delivered, missed, active), NOW, SILENCE)
    assert (found is None) == (finding is None)
    assert finding is None or finding in (found or "")


class Alerts:
    """The alert webhook: a real endpoint on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        alerts = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                alerts.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def alerts() -> Iterator[Alerts]:
    box = Alerts()
    yield box
    box.server.shutdown()
    box.server.server_close()


def test_a_silence_while_learners_are_active_fails_the_replay_and_alerts(
    engine: Engine, sandbox: RunningSandbox, alerts: Alerts
) -> None:
    pull_everything(engine, sandbox)
    settings = webhook_settings(sandbox, PARTNERSYNC_ALERT_WEBHOOK_URL=alerts.url)
    app = create_app(engine, settings, functions={})
    worker = app.state.services.webhooks
    assert worker is not None
    last = utcnow() - timedelta(hours=5)
    with engine.begin() as c:
        c.execute(
            insert(webhook_events).values(
                event_id="old",
                natural_key="k-old",
                event_type="course_completed_events",
                payload="{}",
                source="delivery",
                received_at=last,
                processed_at=last,
            )
        )
        c.execute(update(lms_users).values(last_active_at=utcnow() - timedelta(hours=1)))

    outcome = worker.replay()
    assert outcome is not None and outcome.status == "failed"
    assert "while learners were active" in (outcome.error or "")
    assert [(a["task"], a["status"]) for a in alerts.received] == [("webhook_replay", "failing")]
    metrics = TestClient(app).get("/metrics", headers=AUTH).text
    assert 'partnersync_task_consecutive_failures{task="webhook_replay"} 1.0' in metrics
    (gauge,) = [
        line.split()[1]
        for line in metrics.splitlines()
        if line.startswith("partnersync_webhook_last_delivery_timestamp_seconds ")
    ]
    assert abs(float(gauge) - last.timestamp()) < 1
