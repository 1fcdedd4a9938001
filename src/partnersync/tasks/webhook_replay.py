"""`webhook_replay`: events the receiver missed (downtime, a failed or dropped delivery), read
from Northpass's sent-webhook log (`GET /v2/webhooks`) into the inbox, deduplicated there.

The log is read from its newest record back to the newest event the inbox holds, less the
watermark overlap, so a restart loses nothing the log still keeps (3 months). Its order is
undocumented: the read stops early only while the pages come newest first, and otherwise
reads the whole log. Events older than the first look-back are the polling syncs' to find.
After the read, the watchdog (tasks/webhook_watchdog.py) judges the deliveries; when they
have stopped the run fails with its finding, after storing what it read.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from partnersync.db.schema import webhook_events
from partnersync.sync.context import SyncContext
from partnersync.sync.inbox import BadEvent, ingest, parse_event
from partnersync.sync.report import StreamReport
from partnersync.tasks.webhook_events import LEARNING_EVENTS, PERSON_EVENTS
from partnersync.tasks.webhook_watchdog import DeliveriesStopped, delivery_facts, problem

STREAM = "northpass.sent_webhooks"
FIRST_LOOK = timedelta(days=1)
"""With an empty inbox, how far back the log is read: the vendor's retry window."""


def replay_since(connection: Connection, now: datetime, overlap: timedelta) -> datetime:
    newest = connection.scalar(select(func.max(webhook_events.c.event_created_at)))
    return newest - overlap if newest is not None else now - FIRST_LOOK


def store_page(
    connection: Connection, records: list[Any], report: StreamReport, now: datetime
) -> list[datetime]:
    """Each record's event into the inbox; returns the records' event times."""
    times = []
    for record in records:
        attributes = record.get("attributes") if isinstance(record, dict) else None
        payload = attributes.get("payload") if isinstance(attributes, dict) else None
        report.processed += 1
        try:
            event = parse_event(payload)
        except BadEvent as exc:
            report.fail(record.get("id") if isinstance(record, dict) else None, str(exc))
            continue
        if event.created_at is not None:
            times.append(event.created_at)
        if ingest(connection, event, json.dumps(payload), "replay", now):
            report.created += 1
        else:
            report.unchanged += 1
    return times


async def replay_webhooks(context: SyncContext) -> None:
    report = context.report.stream(STREAM)
    overlap = timedelta(seconds=context.settings.watermark_overlap_seconds)
    with context.engine.connect() as connection:
        since = replay_since(connection, context.started_at, overlap)
    newest_first, previous = True, None
    async for records in context.northpass.sent_webhooks(PERSON_EVENTS | LEARNING_EVENTS):
        context.checkpoint()
        with context.write() as connection:
            times = store_page(connection, records or [], report, context.started_at)
        if not times:
            continue
        descending = times == sorted(times, reverse=True)
        if not descending or (previous is not None and times[0] > previous):
            newest_first = False
        previous = times[-1]
        if newest_first and previous < since:
            break
    report.notes.append(f"read back to {since:%Y-%m-%d %H:%M:%S}Z; {report.created} new event(s)")
    silence = timedelta(minutes=context.settings.webhook_silence_minutes)
    with context.engine.connect() as connection:
        stopped = problem(delivery_facts(connection), context.started_at, silence)
    if stopped is not None:
        raise DeliveriesStopped(stopped)
