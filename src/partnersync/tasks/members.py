"""`group_members_sync`: pending memberships → Northpass, then confirmed; then offboarding.

Pending memberships are what partnersync decided on: a contact's access (`provisioning`) or an
accepted suggestion. Per group they are added in batches (the client sends ≤ 50 per request
and redoes a refused batch person by person), then the group's memberships are read back: a
pending member Northpass lists is confirmed; one it refused or does not list stays pending
with the reason in `pending_error`, and is tried again next run. Trusting the read-back rather
than the write's status is what makes "confirmed" mean "Northpass has it".

Then the people who left a partner are removed (`offboarding`), but only while the stored data
the removals are planned from is whole: after a failed `impartner_sync` or `sync_groups` the
additions are still made and the run then fails, naming why, with nothing removed. The
deletion guard is checked before anything is written. Every add and removal goes to the audit
trail (`access_audit`) with the vendor's answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update

from partnersync.clients import ApiError
from partnersync.db.bulk import chunked
from partnersync.db.schema import lms_group_members, lms_groups, lms_users
from partnersync.db.types import utcnow
from partnersync.sync.context import SyncContext
from partnersync.sync.groups import read_members
from partnersync.sync.report import printable
from partnersync.tasks import access_audit, offboarding
from partnersync.tasks.access import Key
from partnersync.tasks.upstream import PartialData, failed_upstream
from partnersync.types import MembershipSource

STREAM = "northpass.pending_memberships"
NOT_LISTED = "added, but not listed by Northpass when read back"
GROUP_GONE = "the group no longer exists in Northpass"


@dataclass(frozen=True)
class NewMember:
    """A membership partnersync decided on, to become pending."""

    group_id: str
    user_id: str
    source: MembershipSource
    added_by: str  # partnersync (automatic) or operator (accepted)
    reason: str


def add_pending(connection: Connection, wanted: Sequence[NewMember], now: datetime) -> set[Key]:
    """Make `wanted` pending memberships for `group_members_sync` (a removed one is revived);
    returns the keys that are live members already, which are left as they are."""
    member = lms_group_members.c
    stored: dict[Key, datetime | None] = {}
    for batch in chunked(list(dict.fromkeys((w.group_id, w.user_id) for w in wanted)), 500):
        found = connection.execute(
            select(member.group_id, member.user_id, member.deleted_at).where(
                tuple_(member.group_id, member.user_id).in_(batch)
            )
        )
        stored.update({(row.group_id, row.user_id): row.deleted_at for row in found})
    already = {key for key, deleted_at in stored.items() if deleted_at is None}
    rows = {
        (w.group_id, w.user_id): {
            "group_id": w.group_id,
            "user_id": w.user_id,
            "status": "pending",
            "added_at": now,
            "confirmed_at": None,
            "pending_error": None,
            "source": w.source,
            "added_by": w.added_by,
            "added_reason": w.reason,
            "deleted_at": None,
        }
        for w in wanted
        if (w.group_id, w.user_id) not in already
    }
    new = [row for key, row in rows.items() if key not in stored]
    revived = [
        {f"new_{k}": v for k, v in row.items()} for key, row in rows.items() if key in stored
    ]
    for part in chunked(new, 500):
        connection.execute(insert(lms_group_members), part)
    if revived:
        names = [name for name in next(iter(rows.values())) if name not in ("group_id", "user_id")]
        connection.execute(
            update(lms_group_members)
            .where(
                member.group_id == bindparam("new_group_id"),
                member.user_id == bindparam("new_user_id"),
            )
            .values({name: bindparam(f"new_{name}") for name in names}),
            revived,
        )
    return already


@dataclass(frozen=True)
class Pending:
    """A pending membership, with what its audit record needs."""

    user_id: str
    email: str | None
    source: str
    added_by: str | None
    reason: str | None


def pending_by_group(connection: Connection) -> dict[str, list[Pending]]:
    member = lms_group_members.c
    rows = connection.execute(
        select(
            member.group_id,
            member.user_id,
            lms_users.c.email,
            member.source,
            member.added_by,
            member.added_reason,
        )
        .outerjoin(lms_users, lms_users.c.id == member.user_id)
        .where(member.status == "pending", member.deleted_at.is_(None))
        .order_by(member.group_id, member.user_id)
    )
    pending: dict[str, list[Pending]] = {}
    for row in rows:
        pending.setdefault(row.group_id, []).append(Pending(*row[1:]))
    return pending


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
    removals = context.report.stream(offboarding.STREAM)
    settings = context.settings
    with context.engine.connect() as connection:
        gap = failed_upstream(connection, offboarding.UPSTREAM)
        plan = None if gap else offboarding.plan(connection, settings, context.started_at)
        leaving = plan.keys if plan else set()
        pending = {
            group_id: kept
            for group_id, rows in pending_by_group(connection).items()
            if (kept := [p for p in rows if (group_id, p.user_id) not in leaving])
        }
        groups = {
            row.id: row
            for row in connection.execute(
                select(lms_groups.c.id, lms_groups.c.name, lms_groups.c.partner_id).where(
                    lms_groups.c.id.in_(list(pending)), lms_groups.c.deleted_at.is_(None)
                )
            )
        }
    if plan is not None:
        removals.notes.extend(offboarding.describe(plan, settings.offboard_grace_hours))
    refusal = _guard(context, plan)
    total = sum(len(users) for users in pending.values())
    report.processed += total
    if context.dry_run:
        _describe_dry_run(context, pending, plan, gap, refusal)
        return
    done = 0
    context.progress(STREAM, done, total)
    for group_id, users in pending.items():
        context.checkpoint()
        live = groups.get(group_id)
        ids = [p.user_id for p in users]
        errors = await _write_group(context, group_id, ids, live is not None)
        writes = [
            access_audit.Write(
                action="add",
                group_id=group_id,
                group_name=live.name if live else None,
                user_id=p.user_id,
                email=p.email,
                partner_id=live.partner_id if live else None,
                source=p.source,
                decided_by=p.added_by or "operator",
                cause="contact" if p.source == "contact" else "suggestion",
                reason=p.reason or "a pending membership",
                outcome="failed" if p.user_id in errors else "done",
                answer=errors.get(p.user_id, "added, and listed by Northpass when read back"),
            )
            for p in users
        ]
        with context.write() as connection:
            confirm(connection, group_id, [u for u in ids if u not in errors], context.started_at)
            keep_pending(connection, group_id, errors)
            access_audit.record(connection, writes, at=utcnow(), sync_log_id=context.log_id)
        for user_id, reason in errors.items():
            report.fail(f"{group_id}/{user_id}", reason)
        report.updated += len(users) - len(errors)
        done += len(users)
        context.progress(STREAM, done, total)
    report.notes.append(
        f"{report.updated} of {total} pending membership(s) confirmed in {len(pending)} group(s)"
    )
    if plan is not None:
        await offboarding.offboard(context, plan, removals)
    if gap:
        raise PartialData(
            f"refusing to offboard from partial data: {gap}; the pending memberships were "
            "written, nothing was removed"
        )


def _guard(context: SyncContext, plan: offboarding.Plan | None) -> str | None:
    """The deletion guard, before any write; a dry run gets the refusal back to describe."""
    if plan is None:
        return None
    try:
        offboarding.check(plan, context.max_delete_share)
    except offboarding.RemovalRefused as exc:
        if not context.dry_run:
            raise
        return str(exc)
    return None


def _describe_dry_run(
    context: SyncContext,
    pending: dict[str, list[Pending]],
    plan: offboarding.Plan | None,
    gap: str | None,
    refusal: str | None,
) -> None:
    """Exactly the writes a real run would make now, and why it would make no others."""
    notes = context.report.stream(STREAM).notes
    total = sum(len(users) for users in pending.values())
    if refusal:
        notes.append(f"a real run would write nothing: {refusal}")
        return
    context.planned.extend(
        {"group_id": group_id, "add_person_ids": [p.user_id for p in users]}
        for group_id, users in pending.items()
    )
    notes.append(f"dry run: {total} pending membership(s) in {len(pending)} group(s)")
    if plan is not None:
        context.planned.extend(offboarding.planned(plan))
        notes.append(f"dry run: {len(plan.removals)} membership(s) of people who left to remove")
    if gap:
        notes.append(f"a real run would then refuse to offboard from partial data: {gap}")


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
