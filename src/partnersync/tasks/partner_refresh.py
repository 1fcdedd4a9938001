"""`partner_refresh`: one partner brought up to date now, for a programme team that cannot
wait for the schedule (`partnersync sync partner ID`, `POST /api/partners/{id}/refresh`).

It re-reads the members of the partner's linked groups and the transcripts of its partner
users, recounts, and pushes the partner's numbers if they changed: only that partner's
requests. It runs through the runner like every task, and its lease excludes
`sync_enrollments` and `sync_to_impartner` (registry `exclusive_with`), so it never
interleaves with the runs whose data it shares. Reads are confirmed and removals guarded as
in the full syncs.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from partnersync.clients import fan_out
from partnersync.db.bulk import check_sweep
from partnersync.db.schema import lms_group_members, lms_groups, partners
from partnersync.sync.context import SyncContext
from partnersync.sync.enrollments import (
    read_transcript_confirmed,
    store_reread,
    stored_enrollment_ids,
)
from partnersync.sync.groups import (
    confirmed_members,
    read_members_confirmed,
    remove_members,
    store_listing,
)
from partnersync.sync.partner_users import partner_user_pairs
from partnersync.tasks.push import STREAM as PUSH_STREAM
from partnersync.tasks.push import push_counts
from partnersync.tasks.runner import TaskFunction

MEMBERS = "northpass.group_members"
TRANSCRIPTS = "northpass.transcripts"


class NoSuchPartner(LookupError):
    pass


def refresh_partner(partner_id: int) -> TaskFunction:
    """The task function that refreshes `partner_id`."""

    async def refresh(context: SyncContext) -> None:
        await _refresh(context, partner_id)

    return refresh


def is_active_partner(connection: Connection, partner_id: int) -> bool:
    return bool(
        connection.scalar(
            select(partners.c.is_active).where(
                partners.c.id == partner_id, partners.c.deleted_at.is_(None)
            )
        )
    )


async def _refresh(context: SyncContext, partner_id: int) -> None:
    with context.engine.connect() as connection:
        if not is_active_partner(connection, partner_id):
            raise NoSuchPartner(f"no active partner with id {partner_id}")
        groups = list(
            connection.scalars(
                select(lms_groups.c.id).where(
                    lms_groups.c.partner_id == partner_id, lms_groups.c.deleted_at.is_(None)
                )
            )
        )
    await _members(context, groups)
    await _transcripts(context, partner_id)
    await push_counts(context, context.report.stream(PUSH_STREAM), [partner_id])


async def _members(context: SyncContext, groups: list[str]) -> None:
    """Each linked group's listing, confirmed, stored; removals guarded per group."""
    report = context.report.stream(MEMBERS)
    with context.engine.connect() as connection:
        stored = confirmed_members(connection, groups)
    for group_id in groups:
        context.checkpoint()
        members = await read_members_confirmed(context.northpass, group_id, stored[group_id])
        gone = store_listing(context, report, members)
        if gone is None:
            continue
        if members.skipped or not members.person_ids:
            report.notes.append(f"group {group_id}: incomplete or empty listing, no removals")
            continue
        with context.write() as connection:
            check_sweep(
                lms_group_members.name, len(gone), len(stored[group_id]), context.max_delete_share
            )
            remove_members(connection, group_id, gone, context.started_at)
        report.deleted += len(gone)


async def _transcripts(context: SyncContext, partner_id: int) -> None:
    """Every partner user's transcript, confirmed before removals, stored."""
    report = context.report.stream(TRANSCRIPTS)
    pairs = partner_user_pairs().subquery()
    with context.engine.connect() as connection:
        people = sorted(
            connection.scalars(select(pairs.c.user_id).where(pairs.c.partner_id == partner_id))
        )
        stored = stored_enrollment_ids(connection, people)
    client = context.northpass
    read = [
        transcript
        async for transcript in fan_out(
            people,
            lambda person: read_transcript_confirmed(client, person, stored.get(person, set())),
            context.settings.northpass_concurrency,
        )
    ]
    context.checkpoint()
    store_reread(context, read, report)
    report.notes.append(f"{len(people)} partner user(s) read")
