"""`group_members_sync`: pending (locally added) memberships → Northpass, then confirmed.

Per group, the pending members are added in batches (the client sends ≤ 50 per request and
redoes a refused batch person by person), then the group's memberships are read back: a pending
member Northpass lists is confirmed; one it refused or does not list stays pending with the
reason in `pending_error`, and is tried again next run. Trusting the read-back rather than the
write's status is what makes "confirmed" mean "Northpass has it".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from partnersync.clients import ApiError
from partnersync.db.bulk import chunked
from partnersync.db.schema import lms_group_members, lms_groups
from partnersync.sync.context import SyncContext
from partnersync.sync.groups import read_members
from partnersync.sync.report import printable

STREAM = "northpass.pending_memberships"
NOT_LISTED = "added, but not listed by Northpass when read back"
GROUP_GONE = "the group no longer exists in Northpass"


def pending_by_group(connection: Connection) -> dict[str, list[str]]:
    member = lms_group_members.c
    rows = connection.execute(
        select(member.group_id, member.user_id)
        .where(member.status == "pending", member.deleted_at.is_(None))
        .order_by(member.group_id, member.user_id)
    )
    pending: dict[str, list[str]] = defaultdict(list)
    for group_id, user_id in rows:
        pending[group_id].append(user_id)
    return dict(pending)


def confirm(connection: Connection, group_id: str, user_ids: Iterable[str], now: datetime) -> None:
    member = lms_group_members.c
    for batch in chunked(user_ids, 500):
        connection.execute(
            update(lms_group_members)
            .where(
                member.group_id == group_id,
                member.user_id.in_(batch),
                member.status == "pending",
            )
            .values(status="confirmed", confirmed_at=now, pending_error=None)
        )


def keep_pending(connection: Connection, group_id: str, errors: dict[str, str]) -> None:
    if not errors:
        return
    member = lms_group_members.c
    connection.execute(
        update(lms_group_members)
        .where(
            member.group_id == group_id,
            member.user_id == bindparam("uid"),
            member.status == "pending",
        )
        .values(pending_error=bindparam("reason")),
        [
            {"uid": user_id, "reason": printable(reason)[:2000]}
            for user_id, reason in errors.items()
        ],
    )


async def group_members_sync(context: SyncContext) -> None:
    report = context.report.stream(STREAM)
    with context.engine.connect() as connection:
        pending = pending_by_group(connection)
        live = set(
            connection.scalars(
                select(lms_groups.c.id).where(
                    lms_groups.c.id.in_(list(pending)), lms_groups.c.deleted_at.is_(None)
                )
            )
        )
    total = sum(len(users) for users in pending.values())
    report.processed += total
    if context.dry_run:
        context.planned.extend(
            {"group_id": group_id, "add_person_ids": users} for group_id, users in pending.items()
        )
        report.notes.append(f"dry run: {total} pending membership(s) in {len(pending)} group(s)")
        return
    done = 0
    context.progress(STREAM, done, total)
    for group_id, users in pending.items():
        context.checkpoint()
        errors = await _write_group(context, group_id, users, group_id in live)
        with context.write() as connection:
            confirm(connection, group_id, [u for u in users if u not in errors], context.started_at)
            keep_pending(connection, group_id, errors)
        for user_id, reason in errors.items():
            report.fail(f"{group_id}/{user_id}", reason)
        report.updated += len(users) - len(errors)
        done += len(users)
        context.progress(STREAM, done, total)
    report.notes.append(
        f"{report.updated} of {total} pending membership(s) confirmed in {len(pending)} group(s)"
    )


async def _write_group(
    context: SyncContext, group_id: str, users: list[str], live: bool
) -> dict[str, str]:
    """Add the users, read the group back; return the users left pending, with why."""
    if not live:
        return dict.fromkeys(users, "the group is deleted locally")
    client = context.northpass
    context.confirm_lease()
    try:
        written = await client.add_group_members(group_id, users)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return dict.fromkeys(users, GROUP_GONE)
    refused = {skip.id: f"refused by Northpass: {skip.reason}" for skip in written.failed}
    listed = await read_members(client, group_id)
    if listed.missing:
        return dict.fromkeys(users, GROUP_GONE)
    return {
        user_id: refused.get(user_id, NOT_LISTED)
        for user_id in users
        if user_id not in listed.person_ids
    }
