"""`webhook_replay`: what the receiver missed (it was down, or the delivery was dropped) comes
from the sent-webhook log into the inbox once, and processing then makes the database exact."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from partnersync.db.schema import lms_enrollments, webhook_events
from partnersync.sandbox.server import RunningSandbox
from partnersync.web.webhook_worker import WebhookWorker
from tests.tasks.test_partner_refresh import count_of
from tests.tasks.test_webhook_events import (
    COMPLETED,
    completions_of_one_partner,
    impartner_count,
    pulled,
)

__all__ = ["pulled"]


def test_events_missed_while_the_receiver_was_down_are_replayed_once(
    engine: Engine, sandbox: RunningSandbox, pulled: tuple[TestClient, WebhookWorker]
) -> None:
    _, worker = pulled
    partner_id, todo = completions_of_one_partner(engine, sandbox)
    down = {"url": "http://127.0.0.1:9/api/webhooks/northpass", "types": [COMPLETED]}
    elsewhere = {"url": "http://127.0.0.1:9/other", "types": [COMPLETED]}
    sandbox.set_knobs(webhook_subscriptions=[down, elsewhere], webhook_retry_seconds=3600)
    before = count_of(engine, sandbox, partner_id)
    for person, course in todo:
        sandbox.dataset.add_completion(person, course)

    replayed = worker.replay()
    assert replayed is not None and replayed.status == "success", replayed and replayed.error
    stream = replayed.report.streams["northpass.sent_webhooks"]
    assert (stream.processed, stream.created) == (2 * len(todo), len(todo))  # one per endpoint
    outcome = worker.run_pending()
    assert outcome is not None and outcome.status == "success", outcome and outcome.error
    assert impartner_count(engine, sandbox, partner_id) == before + len(todo)
    with engine.connect() as c:
        sources = set(c.scalars(select(webhook_events.c.source)))
        done = c.execute(
            select(lms_enrollments.c.user_id, lms_enrollments.c.course_id).where(
                lms_enrollments.c.status == "completed"
            )
        ).all()
    assert sources == {"replay"} and set(todo) <= {tuple(row) for row in done}

    again = worker.replay()  # a restart replays the overlap: nothing new
    assert again is not None and again.report.streams["northpass.sent_webhooks"].created == 0
    assert worker.run_pending() is None


def test_a_dropped_event_only_the_log_has_is_replayed(
    engine: Engine, sandbox: RunningSandbox, pulled: tuple[TestClient, WebhookWorker]
) -> None:
    _, worker = pulled
    partner_id, todo = completions_of_one_partner(engine, sandbox)
    person, course = todo[0]
    hook = {"url": "http://127.0.0.1:9/api/webhooks/northpass", "types": [COMPLETED]}
    sandbox.set_knobs(webhook_subscriptions=[hook], webhook_drop_share=1.0)
    before = count_of(engine, sandbox, partner_id)
    sandbox.dataset.add_completion(person, course)
    assert sandbox.state.webhooks.status()["attempts"] == 0  # delivered to nobody
    replayed = worker.replay()
    assert replayed is not None and replayed.status == "success", replayed and replayed.error
    worker.run_pending()
    assert impartner_count(engine, sandbox, partner_id) == before + 1
