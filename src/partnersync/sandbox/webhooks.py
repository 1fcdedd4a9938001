"""Simulated Northpass webhooks: the dataset's learner events delivered, signed, to the
subscribed endpoints by one background thread, and the sent log behind `GET /v2/webhooks`.

As the vendor documents it (docs/vendor-facts.md §3): the signature is the base64 of an
HMAC-SHA256 over the raw body; a failed delivery is retried `webhook_retry_seconds` apart
(an hour, compressed in tests) and after `webhook_retry_attempts` retries every subscription of
the school is disabled; one log record per endpoint, failed deliveries included. The knobs add
what the vendor does not promise away: duplicates, disorder, wrong signatures, lost events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from partnersync.sandbox.data import Dataset
from partnersync.sandbox.knobs import Knobs
from partnersync.sandbox.northpass_schema import PERSON, ref, timestamp

SIGNATURE_HEADER = "X-Northpass-Hmac-SHA256"
PERSON_EVENTS = ("learner_created_events", "person_activated_events")
"""Events that carry the person in `included`; the others only reference them."""


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class SentWebhook:
    """One record of the sent log: an event as sent (or to be sent) to one endpoint."""

    id: str
    type: str
    url: str
    payload: dict[str, Any]
    created_at: datetime
    received_at: datetime | None
    attempt_left: int


@dataclass
class Delivery:
    record: SentWebhook
    body: bytes
    due: float  # time.monotonic()
    bad_signature: bool = False


@dataclass
class Webhooks:
    """Subscriptions come from the knobs; the log, the queue and the disabled flag live here."""

    dataset: Dataset
    knobs: Callable[[], Knobs]
    log: list[SentWebhook] = field(default_factory=list)
    queue: list[Delivery] = field(default_factory=list)
    disabled: bool = False
    delivered: int = 0
    attempts: int = 0

    def __post_init__(self) -> None:
        self._wake = threading.Condition()
        self._dice = random.Random(0)
        self._stop = False
        self._thread: threading.Thread | None = None
        self.dataset.listeners.append(self.emit)

    # --- producing ------------------------------------------------------------------------

    def emit(self, event_type: str, person_id: str, course_id: str | None) -> None:
        """Called inside the dataset's change: one event, to every endpoint subscribed to it."""
        knobs = self.knobs()
        targets = [s.url for s in knobs.webhook_subscriptions if event_type in s.types]
        if self.disabled or not targets:
            return
        point = self._dice.random()
        if point < knobs.webhook_unlogged_share:
            return
        dropped = point < knobs.webhook_unlogged_share + knobs.webhook_drop_share
        payload = self.payload(event_type, person_id, course_id)
        body = json.dumps(payload).encode()
        now, due = self.dataset.now(), time.monotonic()
        with self._wake:
            for url in targets:
                record = SentWebhook(
                    str(uuid.UUID(int=self._dice.getrandbits(128), version=4)),
                    event_type,
                    url,
                    payload,
                    now,
                    None,
                    0 if dropped else knobs.webhook_retry_attempts,
                )
                self.log.append(record)
                if dropped:
                    continue
                copies = 2 if self._dice.random() < knobs.webhook_duplicate_share else 1
                for _ in range(copies):
                    bad = self._dice.random() < knobs.webhook_bad_signature_share
                    self.queue.append(Delivery(record, body, due, bad))
            self._start()
            self._wake.notify()

    def payload(self, event_type: str, person_id: str, course_id: str | None) -> dict[str, Any]:
        """The JSON:API event: person events include the person, others reference them."""
        ds = self.dataset
        relationships: dict[str, Any] = {"person": {"data": ref("people", person_id)}}
        if course_id is not None:
            relationships["course"] = {"data": ref("courses", course_id)}
        data: dict[str, Any] = {
            "id": str(uuid.UUID(int=self._dice.getrandbits(128), version=4)),
            "type": event_type,
            "attributes": {"created_at": timestamp(ds.now())},
            "relationships": relationships,
        }
        event: dict[str, Any] = {"data": data}
        person = ds.people.get(person_id)
        if event_type in PERSON_EVENTS and person is not None:
            event["included"] = [PERSON.render(ds, "", person)]
        return event

    # --- the log ----------------------------------------------------------------------------

    def horizon(self) -> datetime:
        """Records created before this are no longer kept."""
        return self.dataset.now() - timedelta(days=self.knobs().webhook_log_days)

    def kept(self) -> list[SentWebhook]:
        """The log as `GET /v2/webhooks` serves it: within the retention, newest first."""
        horizon = self.horizon()
        with self._wake:
            return [r for r in reversed(self.log) if r.created_at >= horizon]

    def enable(self) -> None:
        """What an admin does after the vendor's e-mail: every subscription works again."""
        self.disabled = False

    def status(self) -> dict[str, Any]:
        with self._wake:
            return {
                "disabled": self.disabled,
                "queued": len(self.queue),
                "delivered": self.delivered,
                "attempts": self.attempts,
                "logged": len(self.log),
            }

    # --- delivering -------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _next(self) -> Delivery | None:
        """The delivery to send now (waits for one), or None once closed."""
        with self._wake:
            while not self._stop:
                knobs = self.knobs()
                now = time.monotonic()
                ready = [d for d in self.queue if d.due <= now]
                if ready and not knobs.webhook_paused:
                    delivery = ready[-1] if knobs.webhook_out_of_order else ready[0]
                    self.queue.remove(delivery)
                    return delivery
                soonest = min((d.due for d in self.queue), default=now + 1)
                self._wake.wait(timeout=min(max(soonest - now, 0.01), 0.1))
            return None

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while (delivery := self._next()) is not None:
                self._send(client, delivery)

    def _send(self, client: httpx.Client, delivery: Delivery) -> None:
        knobs = self.knobs()
        secret = knobs.webhook_secret + ("-wrong" if delivery.bad_signature else "")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, delivery.body),
        }
        try:
            ok = client.post(delivery.record.url, content=delivery.body, headers=headers).is_success
        except httpx.HTTPError:
            ok = False
        with self._wake:
            self.attempts += 1
            record = delivery.record
            if ok:
                self.delivered += 1
                record.received_at = record.received_at or self.dataset.now()
            elif record.attempt_left > 0:
                record.attempt_left -= 1
                delivery.due = time.monotonic() + knobs.webhook_retry_seconds
                self.queue.append(delivery)
            else:  # the vendor gives up on the school: every subscription off, the queue gone
                self.disabled = True
                self.queue.clear()
