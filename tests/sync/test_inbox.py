"""The inbox's pure parts: the signature check, what an event names, and its natural key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from partnersync.sandbox.webhooks import sign
from partnersync.sync.inbox import BadEvent, parse_event, signature_ok


def test_the_signature_covers_the_raw_bytes() -> None:
    body = b'{"data": {"id": "e"}}'
    assert signature_ok("s3cret", body, sign("s3cret", body))
    assert not signature_ok("s3cret", body + b"\n", sign("s3cret", body))
    assert not signature_ok("s3cret", body, sign("other", body))
    assert not signature_ok("s3cret", body, None)
    assert not signature_ok("s3cret", body, "")


def test_included_may_sit_inside_data() -> None:
    event = parse_event(
        {
            "data": {
                "id": "e1",
                "type": "person_activated_events",
                "attributes": {"created_at": "2026-12-01T10:00:00Z"},
                "included": [{"type": "people", "id": "p1"}],
            }
        }
    )
    assert (event.person_id, event.course_id) == ("p1", None)
    assert event.created_at == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_without_a_time_only_the_id_makes_events_twins() -> None:
    def completion(event_id: str, at: str | None) -> dict[str, object]:
        attributes = {"created_at": at} if at else {}
        person = {"data": {"type": "people", "id": "p1"}}
        return {
            "data": {
                "id": event_id,
                "type": "course_completed_events",
                "attributes": attributes,
                "relationships": {"person": person},
            }
        }

    at = "2026-12-01T10:00:00Z"
    assert (
        parse_event(completion("a", at)).natural_key == parse_event(completion("b", at)).natural_key
    )
    assert (
        parse_event(completion("a", None)).natural_key
        != parse_event(completion("b", None)).natural_key
    )


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"data": []},
        {"data": {"type": "x"}},
        {"data": {"id": 5, "type": "x"}},
        {"data": {"id": "e"}},
    ],
)
def test_what_is_not_an_event(payload: object) -> None:
    with pytest.raises(BadEvent):
        parse_event(payload)
