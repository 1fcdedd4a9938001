"""`sync_enrollments`: transcripts of partner users only → `lms_enrollments`.

One transcript request per user is the expensive part of every sync, so an incremental
run asks only for partner users whose enrollments may have changed: new partner users,
users active since their last enrollment sync, users who joined a partner group since,
users last synced more than `max_age_days` ago, and partner users Northpass lists as changed
since this task's own people watermark (learning bumps a person's `updated_at`), so a
completion is found without `sync_users` having run first. A full run asks for all of them.

Why the people listing and not the per-course enrollment listings: both find the change, but
the listing costs a page per 100 changed people, the per-course scan a page per 100
enrollments of every course (bench/webhooks.py measures both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, or_, select, update

from partnersync.clients import NorthpassClient, TranscriptItem, TranscriptResult, fan_out
from partnersync.db.bulk import (
    DEFAULT_BATCH,
    Key,
    check_sweep,
    chunked,
    soft_delete_keys,
    sweep_candidates,
    unstorable,
    upsert,
)
from partnersync.db.schema import lms_enrollments, lms_group_members, lms_users
from partnersync.sync.context import SyncContext
from partnersync.sync.partner_users import partner_user_ids
from partnersync.sync.report import StreamReport
from partnersync.sync.watermark import latest

STREAM = "northpass.transcripts"
CHANGED_PEOPLE = "northpass.transcripts.people"
"""The watermark of the people listing `sync_enrollments` reads for itself."""
STATUSES = ("enrolled", "in_progress", "completed")
WRITE_EVERY = 50
"""Transcripts are stored in transactions of this many users."""


def candidates(
    connection: Connection, *, full: bool, now: datetime, max_age: timedelta
) -> list[str]:
    """Partner users whose transcripts this run should read, in a stable order."""
    partner_users = partner_user_ids().subquery()
    query = select(lms_users.c.id).where(lms_users.c.id.in_(select(partner_users.c.user_id)))
    if not full:
        synced = lms_users.c.enrollments_synced_at
        joined_since = exists().where(
            lms_group_members.c.user_id == lms_users.c.id,
            lms_group_members.c.added_at >= synced,
        )
        query = query.where(
            or_(
                synced.is_(None),
                lms_users.c.last_active_at >= synced,
                joined_since,
                synced < now - max_age,
            )
        )
    return list(connection.scalars(query.order_by(lms_users.c.id)))


def enrollment_row(person_id: str, item: TranscriptItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "user_id": person_id,
        "course_id": item.resource_id,
        "status": item.progress_status,
        "progress": item.progress,
        "enrolled_at": item.enrolled_at,
        "started_at": item.started_at,
        "completed_at": item.completed_at,
        "expires_at": item.expires_at,
        "last_active_at": item.last_active_at,
    }


def sync_stamp(run_started: datetime) -> datetime:
    """The run start floored to the second: vendors stamp activity at second precision, so
    activity in the same second as the run start compares equal and is read again next time.
    """
    return run_started.replace(microsecond=0)


def store_transcripts(
    connection: Connection,
    transcripts: Iterable[TranscriptResult],
    report: StreamReport,
    synced_at: datetime,
    removals: dict[str, list[Key]],
) -> None:
    """Upsert each user's course items and plan the removal of the ones gone from the transcript.

    An item that could not be read keeps its stored row; a user with an item that has no
    id at all gets no removals, since the stored row it might be cannot be told apart.
    Users without removals are stamped now; the others (in `removals`) when their removals
    are made, at the end of the run under the deletion guard.
    """
    stamped = []
    for transcript in transcripts:
        report.skipped(transcript.skipped)
        seen = {(skip.id,) for skip in transcript.skipped if skip.id is not None}
        rows = []
        for item in transcript.items:
            seen.add((item.id,))
            if item.resource_type != "course":
                continue
            if item.progress_status not in STATUSES:
                report.fail(item.id, f"unknown progress_status {item.progress_status!r}")
                continue
            row = enrollment_row(transcript.person_id, item)
            problem = unstorable(lms_enrollments, row)
            if problem:
                report.fail(item.id, problem)
            else:
                rows.append(row)
        if rows:
            report.wrote(upsert(connection, lms_enrollments, rows))
        gone: list[Key] = []
        if all(skip.id is not None for skip in transcript.skipped):
            gone, _ = sweep_candidates(
                connection,
                lms_enrollments,
                seen,
                scope=lms_enrollments.c.user_id == transcript.person_id,
            )
        if gone:
            removals[transcript.person_id] = gone
        else:
            stamped.append(transcript.person_id)
    stamp(connection, stamped, synced_at)


def store_reread(
    context: SyncContext, transcripts: Iterable[TranscriptResult], report: StreamReport
) -> None:
    """Store a targeted re-read of some users' transcripts (one partner's, a webhook batch's)
    in one fenced transaction, its removals under the deletion guard."""
    synced_at = sync_stamp(context.started_at)
    removals: dict[str, list[Key]] = {}
    with context.write() as connection:
        store_transcripts(connection, transcripts, report, synced_at, removals)
        if removals:
            report.deleted += remove_gone(connection, removals, synced_at, context.max_delete_share)


def stamp(connection: Connection, person_ids: list[str], synced_at: datetime) -> None:
    """Record that these users' transcripts are stored completely, as of `synced_at`."""
    if person_ids:
        connection.execute(
            update(lms_users)
            .where(lms_users.c.id == bindparam("person_id"))
            .values(enrollments_synced_at=synced_at),
            [{"person_id": person_id} for person_id in person_ids],
        )


def remove_gone(
    connection: Connection,
    removals: dict[str, list[Key]],
    synced_at: datetime,
    max_share: float | None,
) -> int:
    """Make the planned removals, all or none: refused above `max_share` of all enrollments.

    One user losing a course is normal; transcripts coming back empty for many users at once
    (a vendor fault, a 404 wave) is a broken read, and the guard keeps the stored rows.
    """
    planned = [key for keys in removals.values() for key in keys]
    active = connection.scalar(
        select(func.count())
        .select_from(lms_enrollments)
        .where(lms_enrollments.c.deleted_at.is_(None))
    )
    check_sweep(lms_enrollments.name, len(planned), int(active or 0), max_share)
    deleted = soft_delete_keys(connection, lms_enrollments, planned, now=synced_at)
    stamp(connection, list(removals), synced_at)
    return deleted


async def read_transcript_confirmed(
    client: NorthpassClient, person_id: str, stored: set[str]
) -> TranscriptResult:
    """A transcript that would drop stored items is read a second time, and only the items
    missing from both reads are gone: transcripts page by offset, and a transient 404 reads
    as an empty transcript."""
    first = await client.transcript(person_id)
    if stored <= _seen_ids(first):
        return first
    second = await client.transcript(person_id)
    items = {item.id: item for item in first.items}
    items.update({item.id: item for item in second.items})
    return TranscriptResult(person_id, list(items.values()), second.skipped)


def _seen_ids(transcript: TranscriptResult) -> set[str]:
    ids = {item.id for item in transcript.items}
    return ids | {skip.id for skip in transcript.skipped if skip.id is not None}


def stored_enrollment_ids(connection: Connection, people: list[str]) -> dict[str, set[str]]:
    """The live enrollment ids of these users."""
    found: dict[str, set[str]] = {}
    for batch in chunked(people, DEFAULT_BATCH):
        rows = connection.execute(
            select(lms_enrollments.c.user_id, lms_enrollments.c.id).where(
                lms_enrollments.c.user_id.in_(batch), lms_enrollments.c.deleted_at.is_(None)
            )
        )
        for user_id, enrollment_id in rows:
            found.setdefault(user_id, set()).add(enrollment_id)
    return found


async def changed_people(
    context: SyncContext,
) -> tuple[dict[str, datetime | None], datetime | None]:
    """People Northpass lists as changed since the watermark (all of them on a first run) with
    their `updated_at`, and the latest seen; nothing to read on a full run, which reads all."""
    if context.full:
        return {}, context.started_at
    since = context.watermarks.read_from(CHANGED_PEOPLE)
    changed: dict[str, datetime | None] = {}
    seen: datetime | None = None
    async for page in context.northpass.people(updated_since=since):
        context.checkpoint()
        for person in page.records:
            changed[person.id] = person.updated_at
            seen = latest(seen, person.updated_at)
    return changed, seen


def changed_partner_users(connection: Connection, changed: dict[str, datetime | None]) -> set[str]:
    """The changed people who are partner users and changed since their transcript was read
    (the watermark's overlap lists some again that were read after their change); a change
    without a time counts."""
    partner_users = partner_user_ids().subquery()
    rows = connection.execute(
        select(lms_users.c.id, lms_users.c.enrollments_synced_at).where(
            lms_users.c.id.in_(select(partner_users.c.user_id))
        )
    )
    found = set()
    for user_id, synced in rows:
        if user_id in changed:
            at = changed[user_id]
            if at is None or synced is None or at >= synced:
                found.add(user_id)
    return found


async def sync_enrollments(context: SyncContext) -> None:
    report = context.report.stream(STREAM)
    max_age = timedelta(days=context.settings.max_age_days)
    changed, seen = await changed_people(context)
    with context.engine.connect() as connection:
        people = candidates(connection, full=context.full, now=context.started_at, max_age=max_age)
        if changed:
            people = sorted({*people, *changed_partner_users(connection, changed)})
        stored = stored_enrollment_ids(connection, people)
    report.notes.append(f"{len(people)} partner user(s) to read")
    synced_at = sync_stamp(context.started_at)
    removals: dict[str, list[Key]] = {}
    batch: list[TranscriptResult] = []
    done = 0
    writing: Awaitable[None] | None = None  # one batch stored while more transcripts arrive
    try:
        client = context.northpass
        transcripts = fan_out(
            people,
            lambda person: read_transcript_confirmed(client, person, stored.get(person, set())),
            context.settings.northpass_concurrency,
        )
        async for transcript in transcripts:
            context.checkpoint()
            batch.append(transcript)
            done += 1
            context.progress(STREAM, done, len(people))
            if len(batch) >= WRITE_EVERY:
                if writing is not None:
                    await writing
                writing = context.in_thread(_store, context, batch, report, synced_at, removals)
                batch = []
    finally:
        if writing is not None:
            await writing
    _store(context, batch, report, synced_at, removals)
    if removals:
        with context.write() as connection:
            report.deleted += remove_gone(connection, removals, synced_at, context.max_delete_share)
    context.watermarks.advance(CHANGED_PEOPLE, seen)


def _store(
    context: SyncContext,
    batch: list[TranscriptResult],
    report: StreamReport,
    synced_at: datetime,
    removals: dict[str, list[Key]],
) -> None:
    if batch:
        with context.write() as connection:
            store_transcripts(connection, batch, report, synced_at, removals)
