"""The sandbox's webhooks: signed deliveries of its learner events, the knobs that make them
unreliable, the retry-then-disable rule and the `GET /v2/webhooks` sent log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from partnersync.sandbox.server import RunningSandbox
from partnersync.sandbox.webhooks import SIGNATURE_HEADER, sign

COMPLETED = "course_completed_events"
CREATED = "learner_created_events"


class Receiver:
    """A real HTTP endpoint on loopback that records what it is sent and answers `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((json.loads(body), self.headers[SIGNATURE_HEADER]))
                receiver.bodies.append(body)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.bodies: list[bytes] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self) -> list[str]:
        return [event["data"]["type"] for event, _ in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()
    yield box
    box.server.shutdown()
    box.server.server_close()


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def subscribe(sb: RunningSandbox, url: str, *types: str, **knobs: Any) -> None:
    sb.set_knobs(webhook_subscriptions=[{"url": url, "types": list(types)}], **knobs)


def some_completion(sb: RunningSandbox) -> tuple[str, str]:
    person = next(iter(sb.dataset.people))
    course = next(iter(sb.dataset.courses))
    sb.dataset.add_completion(person, course)
    return person, course


def test_a_completion_is_delivered_signed_and_logged(
    sb: RunningSandbox, np: httpx.Client, receiver: Receiver
) -> None:
    subscribe(sb, receiver.url, COMPLETED)
    person, course = some_completion(sb)
    sb.dataset.add_person("new@example.com", "New", "Learner")  # not subscribed to
    wait_for(lambda: len(receiver.received) == 1)
    event, signature = receiver.received[0]
    assert signature == sign(sb.knobs.webhook_secret, receiver.bodies[0])
    data = event["data"]
    assert data["type"] == COMPLETED
    assert data["relationships"]["person"]["data"] == {"type": "people", "id": person}
    assert data["relationships"]["course"]["data"] == {"type": "courses", "id": course}
    wait_for(lambda: np.get("/v2/webhooks").json()["data"][0]["attributes"]["received_at"])
    record = np.get("/v2/webhooks").json()["data"][0]
    assert record["type"] == "webhook"
    assert record["attributes"]["payload"] == event
    assert record["attributes"]["url"] == receiver.url
    assert record["attributes"]["attempt_left"] == 24


def test_a_learner_event_includes_the_person(sb: RunningSandbox, receiver: Receiver) -> None:
    subscribe(sb, receiver.url, CREATED, "person_activated_events")
    person = sb.dataset.add_person("new@example.com", "New", "Learner")
    sb.dataset.update_person(person.id, registration_status="activated")
    wait_for(lambda: len(receiver.received) == 2)
    assert receiver.types() == [CREATED, "person_activated_events"]
    included = receiver.received[0][0]["included"][0]
    assert included["id"] == person.id and included["attributes"]["email"] == "new@example.com"


def test_paused_out_of_order_deliveries_arrive_newest_first(
    sb: RunningSandbox, receiver: Receiver
) -> None:
    subscribe(sb, receiver.url, CREATED, webhook_paused=True, webhook_out_of_order=True)
    ids = [sb.dataset.add_person(f"p{i}@example.com", "P", str(i)).id for i in range(3)]
    sb.set_knobs(webhook_paused=False)
    wait_for(lambda: len(receiver.received) == 3)
    delivered = [
        event["data"]["relationships"]["person"]["data"]["id"] for event, _ in receiver.received
    ]
    assert delivered == ids[::-1]


def test_duplicates_wrong_signatures_and_lost_events(
    sb: RunningSandbox, np: httpx.Client, receiver: Receiver
) -> None:
    subscribe(
        sb, receiver.url, CREATED, webhook_duplicate_share=1.0, webhook_bad_signature_share=1.0
    )
    sb.dataset.add_person("a@example.com", "A", "A")
    wait_for(lambda: len(receiver.received) == 2)
    assert receiver.received[0][0] == receiver.received[1][0]
    assert receiver.received[0][1] != sign(sb.knobs.webhook_secret, receiver.bodies[0])

    subscribe(sb, receiver.url, CREATED, webhook_drop_share=1.0)
    sb.dataset.add_person("b@example.com", "B", "B")  # logged, delivered to nobody
    subscribe(sb, receiver.url, CREATED, webhook_unlogged_share=1.0)
    sb.dataset.add_person("c@example.com", "C", "C")  # not even logged
    time.sleep(0.2)
    assert len(receiver.received) == 2
    log = np.get("/v2/webhooks").json()["data"]
    assert len(log) == 2
    assert log[0]["attributes"]["received_at"] is None
    assert log[0]["attributes"]["attempt_left"] == 0


def test_failed_deliveries_are_retried_then_every_subscription_is_disabled(
    sb: RunningSandbox, receiver: Receiver
) -> None:
    receiver.status = 500
    subscribe(sb, receiver.url, CREATED, webhook_retry_seconds=0.01, webhook_retry_attempts=3)
    sb.dataset.add_person("a@example.com", "A", "A")
    wait_for(lambda: sb.state.webhooks.status()["disabled"])
    assert len(receiver.received) == 4  # the first try and three retries
    receiver.status = 200
    sb.dataset.add_person("b@example.com", "B", "B")
    time.sleep(0.1)
    assert len(receiver.received) == 4  # nothing is sent while disabled
    httpx.post(f"{sb.base_url}/_sandbox/webhooks/enable").raise_for_status()
    sb.dataset.add_person("c@example.com", "C", "C")
    wait_for(lambda: len(receiver.received) == 5)


def test_a_retried_delivery_that_succeeds_is_received(
    sb: RunningSandbox, receiver: Receiver
) -> None:
    receiver.status = 503
    subscribe(sb, receiver.url, CREATED, webhook_retry_seconds=0.2)
    sb.dataset.add_person("a@example.com", "A", "A")
    wait_for(lambda: len(receiver.received) == 1)
    receiver.status = 200
    record = sb.state.webhooks.kept()[0]
    wait_for(lambda: record.received_at is not None)
    assert len(receiver.received) == 2 and record.attempt_left == 23


def test_the_log_pages_by_at_most_50_filters_by_type_and_keeps_three_months(
    sb: RunningSandbox, np: httpx.Client, clock: Any, receiver: Receiver
) -> None:
    subscribe(sb, receiver.url, CREATED, COMPLETED, webhook_paused=True)
    for i in range(55):
        sb.dataset.add_person(f"p{i}@example.com", "P", str(i))
    some_completion(sb)
    page = np.get("/v2/webhooks", params={"limit": 100}).json()
    assert len(page["data"]) == 50 and "next" in page["links"]
    assert page["data"][0]["attributes"]["type"] == COMPLETED  # newest first
    completed = np.get("/v2/webhooks", params={"filter[type][in]": COMPLETED}).json()["data"]
    assert [r["attributes"]["type"] for r in completed] == [COMPLETED]
    clock.now = clock.now.replace(month=clock.now.month + 3, day=clock.now.day + 1)
    assert np.get("/v2/webhooks").json()["data"] == []


def test_more_than_ten_subscriptions_are_refused(sb: RunningSandbox) -> None:
    many = [{"url": f"http://127.0.0.1:1/{i}", "types": [CREATED]} for i in range(11)]
    answer = httpx.post(f"{sb.base_url}/_sandbox/knobs", json={"webhook_subscriptions": many})
    assert answer.status_code == 400
