"""The webhook inbox: Northpass events, as delivered or replayed from the sent log, stored raw
and once. Northpass promises neither order nor exactly-once, so an event is known by its id
and, in case it comes again under another id, by its natural key (type, person, course,
created_at). An event is a hint for a re-read (tasks/webhook_events.py), never truth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select
from sqlalchemy.exc import IntegrityError

from partnersync.db.schema import webhook_events

SIGNATURE_HEADER = "X-Northpass-Hmac-SHA256"


def signature_ok(secret: str, body: bytes, given: str | None) -> bool:
    """Whether `given` is the base64 HMAC-SHA256 of the raw body; compared in constant time."""
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, (given or "").strip().encode())


class BadEvent(ValueError):
    """A payload that is not a JSON:API event with an id and a type."""


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    person_id: str | None
    course_id: str | None
    created_at: datetime | None

    @property
    def natural_key(self) -> str:
        """Type, person, course and time; without a time only the id tells events apart (a
        retaken course must not look like its first completion)."""
        when = self.created_at.isoformat() if self.created_at else f"id:{self.event_id}"
        parts = (self.event_type, self.person_id or "", self.course_id or "", when)
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _text(value: Any, limit: int = 64) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _related(data: dict[str, Any], name: str) -> str | None:
    relation = (data.get("relationships") or {}).get(name)
    target = relation.get("data") if isinstance(relation, dict) else None
    return _text(target.get("id")) if isinstance(target, dict) else None


def _included_person(payload: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The person a learner event includes; `included` may sit beside or inside `data`."""
    for item in [*(payload.get("included") or ()), *(data.get("included") or ())]:
        if isinstance(item, dict) and item.get("type") == "people":
            return _text(item.get("id"))
    return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_event(payload: Any) -> Event:
    """The parts of an event processing needs; raises `BadEvent` when it has no id or type."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise BadEvent("not a JSON:API event: no `data` object")
    event_id, event_type = _text(data.get("id")), _text(data.get("type"))
    if event_id is None or event_type is None:
        raise BadEvent("an event needs an id and a type (strings of at most 64 characters)")
    attributes = data.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    return Event(
        event_id,
        event_type,
        _related(data, "person") or _included_person(payload, data),
        _related(data, "course"),
        _instant(attributes.get("created_at")),
    )


def is_known(connection: Connection, event: Event) -> bool:
    found = connection.scalar(
        select(webhook_events.c.id)
        .where(
            or_(
                webhook_events.c.event_id == event.event_id,
                webhook_events.c.natural_key == event.natural_key,
            )
        )
        .limit(1)
    )
    return found is not None


def ingest(connection: Connection, event: Event, raw: str, source: str, now: datetime) -> bool:
    """Store the event unless it is known; True when it is new. Call in a transaction of its
    own: a twin stored concurrently surfaces as `IntegrityError`, which also means known."""
    if is_known(connection, event):
        return False
    try:
        connection.execute(
            insert(webhook_events).values(
                event_id=event.event_id,
                natural_key=event.natural_key,
                event_type=event.event_type,
                person_id=event.person_id,
                course_id=event.course_id,
                event_created_at=event.created_at,
                payload=raw,
                source=source,
                received_at=now,
            )
        )
    except IntegrityError:
        return False
    return True
