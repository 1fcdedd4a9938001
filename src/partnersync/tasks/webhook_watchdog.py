"""The webhook watchdog: has Northpass stopped delivering? After 24 hours of failed retries it
disables every webhook of the school, and nothing tells partnersync but the silence.

Two symptoms, judged after each replay from what the inbox holds: the sent log has events no
delivery brought and no delivery came since (deliveries stopped while Northpass still logs), or
no delivery for `PARTNERSYNC_WEBHOOK_SILENCE_MINUTES` while learners were active since the last
one (Northpass logs nothing for a disabled school, so only activity shows the gap). Until a
first delivery arrives only the first symptom can be judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from partnersync.db.schema import lms_users, webhook_events

IN_FLIGHT = timedelta(minutes=5)
"""A logged event younger than this may still be on its way: not yet a missed delivery."""


class DeliveriesStopped(RuntimeError):
    """The watchdog's finding; the replay run fails with it, so the alert webhook, the
    dashboard and `/metrics` (consecutive failures) all say so."""


@dataclass(frozen=True)
class DeliveryFacts:
    last_delivery: datetime | None
    """When the receiver last stored a delivered event."""
    newest_missed: datetime | None
    """The newest event only the replay brought (its Northpass time)."""
    newest_activity: datetime | None
    """The latest `last_active_at` of any learner, as the syncs stored it."""


def delivery_facts(connection: Connection) -> DeliveryFacts:
    events = webhook_events.c
    return DeliveryFacts(
        connection.scalar(select(func.max(events.received_at)).where(events.source == "delivery")),
        connection.scalar(
            select(func.max(events.event_created_at)).where(events.source == "replay")
        ),
        connection.scalar(select(func.max(lms_users.c.last_active_at))),
    )


def problem(facts: DeliveryFacts, now: datetime, silence: timedelta) -> str | None:
    """What is wrong with the deliveries, in one line, or None."""
    last = facts.last_delivery
    missed = facts.newest_missed
    if missed is not None and missed < now - IN_FLIGHT and (last is None or last < missed):
        return (
            "Northpass logged webhook events that were never delivered, and none arrived since "
            f"{missed:%Y-%m-%d %H:%M}Z: the school's webhooks may be disabled (Northpass admin: "
            "Apps → Webhooks); replay keeps the data current meanwhile"
        )
    active = facts.newest_activity
    if last is not None and active is not None and active > last and last < now - silence:
        return (
            f"no webhook delivery since {last:%Y-%m-%d %H:%M}Z while learners were active: "
            "check the school's webhook subscription and NORTHPASS_WEBHOOK_SECRET"
        )
    return None
