"""`webhook_events`: the inbox's pending events turned into targeted re-reads.

An event is a hint, never truth: a person event re-reads that person (`GET /v2/people/{id}`)
and upserts them; a completion or quiz event re-reads that person's transcript (confirmed, as in
`sync_enrollments`), recounts their partners and pushes those whose counts changed. One run
takes every pending event, so many completions for one partner within the worker's debounce
window make one push, and a duplicate or a late event re-reads what is already current and
changes nothing. A re-read that fails leaves that person's events pending for the next run
while the others go on; when every re-read fails the run fails. Like `partner_refresh`, its
lease excludes the runs whose data it shares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from partnersync.clients import ClientError, TranscriptResult, fan_out
from partnersync.db.bulk import upsert
from partnersync.db.schema import lms_users, webhook_events
from partnersync.sync.context import SyncContext
from partnersync.sync.enrollments import (
    read_transcript_confirmed,
    store_reread,
    stored_enrollment_ids,
)
from partnersync.sync.partner_users import partner_user_pairs
from partnersync.sync.people import person_row
from partnersync.tasks.push import STREAM as PUSH_STREAM
from partnersync.tasks.push import partial_data, push_counts

STREAM = "northpass.webhook_events"
PEOPLE = "northpass.people"
TRANSCRIPTS = "northpass.transcripts"
PERSON_EVENTS = frozenset(
    {"learner_created_events", "person_invited_events", "person_activated_events"}
)
LEARNING_EVENTS = frozenset({"course_completed_events", "quiz_completed_events"})
BATCH = 1000
"""Events taken by one run; more wait for the next."""


@dataclass
class Plan:
    """What the pending events ask for, and each event's outcome once known."""

    people: dict[str, list[int]] = field(default_factory=dict)
    """Person id → the person events naming them."""
    learners: dict[str, list[int]] = field(default_factory=dict)
    """Person id → the completion and quiz events naming them."""
    outcomes: dict[int, str] = field(default_factory=dict)

    def settle(self, events: list[int], outcome: str) -> None:
        for event in events:
            self.outcomes[event] = outcome

    def retry(self, events: list[int]) -> None:
        """These events stay pending: their re-read failed, the next run tries again."""
        for event in events:
            self.outcomes.pop(event, None)


class AllReadsFailed(RuntimeError):
    """Every re-read of a batch failed: Northpass is down, not one person's record."""


def check_reads(failures: dict[str, ClientError], attempted: int) -> None:
    """One person's failing read leaves their events pending and the others go on; when all
    failed, the run fails loudly instead."""
    if failures and len(failures) == attempted:
        first = next(iter(failures.values()))
        raise AllReadsFailed(f"all {attempted} re-read(s) failed; first: {first}") from first


def plan(rows: Iterable[tuple[int, str, str | None]]) -> Plan:
    """Sort pending events (id, type, person) into re-reads; unknown types are only noted."""
    result = Plan()
    for event_id, event_type, person_id in rows:
        if event_type not in PERSON_EVENTS | LEARNING_EVENTS:
            result.outcomes[event_id] = "ignored: not an event type partnersync reads"
        elif person_id is None:
            result.outcomes[event_id] = "skipped: names no person"
        else:
            kind = result.people if event_type in PERSON_EVENTS else result.learners
            kind.setdefault(person_id, []).append(event_id)
            result.outcomes[event_id] = "re-read"
    return result


def pending(connection: Connection) -> list[tuple[int, str, str | None]]:
    rows = connection.execute(
        select(webhook_events.c.id, webhook_events.c.event_type, webhook_events.c.person_id)
        .where(webhook_events.c.processed_at.is_(None))
        .order_by(webhook_events.c.id)
        .limit(BATCH)
    )
    return [(row.id, row.event_type, row.person_id) for row in rows]


async def process_webhook_events(context: SyncContext) -> None:
    report = context.report.stream(STREAM)
    with context.engine.connect() as connection:
        work = plan(pending(connection))
    report.processed += len(work.outcomes)
    report.notes.append(
        f"{len(work.outcomes)} event(s): {len(work.people)} person re-read(s), "
        f"{len(work.learners)} transcript re-read(s)"
    )
    await _people(context, work)
    partners = await _transcripts(context, work)
    await _push(context, partners)
    with context.write() as connection:
        mark_processed(connection, work.outcomes, context)
    report.failed += sum(1 for outcome in work.outcomes.values() if outcome.startswith("skipped"))


async def _people(context: SyncContext, work: Plan) -> None:
    report = context.report.stream(PEOPLE)
    rows: list[dict[str, Any]] = []
    failures: dict[str, ClientError] = {}
    for person_id in sorted(work.people):
        context.checkpoint()
        try:
            page = await context.northpass.person(person_id)
        except ClientError as exc:
            failures[person_id] = exc
            report.fail(person_id, f"re-read failed, stays pending: {exc}")
            work.retry(work.people[person_id])
            continue
        if page is None:
            work.settle(work.people[person_id], "skipped: Northpass has no such person")
            continue
        if page.skipped:
            reason = f"skipped: unreadable person ({page.skipped[0].reason})"
            work.settle(work.people[person_id], reason)
        rows.extend(person_row(person) for person in page.records)
    check_reads(failures, len(work.people))
    if rows:
        with context.write() as connection:
            report.wrote(upsert(connection, lms_users, rows))


async def _transcripts(context: SyncContext, work: Plan) -> set[int]:
    """Re-read the transcripts of the learners who are partner users; their partners."""
    pairs = partner_user_pairs().subquery()
    with context.engine.connect() as connection:
        partner_of: dict[str, set[int]] = {}
        for partner_id, user_id in connection.execute(
            select(pairs.c.partner_id, pairs.c.user_id).where(
                pairs.c.user_id.in_(sorted(work.learners))
            )
        ):
            partner_of.setdefault(user_id, set()).add(partner_id)
        people = sorted(partner_of)
        stored = stored_enrollment_ids(connection, people)
    for person_id in set(work.learners) - set(partner_of):
        work.settle(work.learners[person_id], "ignored: not a partner user")
    if not people:
        return set()
    client = context.northpass
    report = context.report.stream(TRANSCRIPTS)
    failures: dict[str, ClientError] = {}

    async def reread(person: str) -> TranscriptResult | None:
        try:
            return await read_transcript_confirmed(client, person, stored.get(person, set()))
        except ClientError as exc:
            failures[person] = exc
            return None

    concurrency = context.settings.northpass_concurrency
    read = [t async for t in fan_out(people, reread, concurrency) if t is not None]
    context.checkpoint()
    check_reads(failures, len(people))
    for person, exc in failures.items():
        report.fail(person, f"re-read failed, stays pending: {exc}")
        work.retry(work.learners[person])
    store_reread(context, read, report)
    return {partner for t in read for partner in partner_of[t.person_id]}


async def _push(context: SyncContext, partners: set[int]) -> None:
    """The affected partners recounted and pushed if changed, in one PATCH batch; nothing
    from partial data."""
    report = context.report.stream(PUSH_STREAM)
    if not partners:
        return
    with context.engine.connect() as connection:
        gap = partial_data(connection)
    if gap:
        report.notes.append(f"no push from partial data: {gap}; sync_to_impartner will push")
        return
    await push_counts(context, report, partners)


def mark_processed(connection: Connection, outcomes: dict[int, str], context: SyncContext) -> None:
    if outcomes:
        connection.execute(
            update(webhook_events)
            .where(webhook_events.c.id == bindparam("event"))
            .values(processed_at=context.started_at, outcome=bindparam("text")),
            [{"event": event, "text": text[:255]} for event, text in outcomes.items()],
        )
