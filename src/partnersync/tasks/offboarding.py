"""Offboarding: people who left a partner lose its Northpass groups and "All Partners".

A due departure (`access.departures`: a contact deactivated or deleted in Impartner, or its
partner inactive, deleted or out of scope, for PARTNERSYNC_OFFBOARD_GRACE_HOURS) removes the
person from the partner's live linked groups, unless another contact still makes them belong
to that partner, and from "All Partners", unless they still belong to some active partner: a
contact of one, or a confirmed member of a group linked to one that is not being removed.
Memberships added outside partnersync (`source` manual) stay unless
PARTNERSYNC_OFFBOARD_MANUAL_MEMBERSHIPS is set. Groups and people are never deleted.

The plan is made from stored state only, and the caller makes it only while the latest
`impartner_sync` and `sync_groups` succeeded. Before anything is sent the deletion guard
applies: more than one member of a group beyond PARTNERSYNC_SWEEP_MAX_SHARE of its confirmed
members, or more than that share of all partner memberships, refuses the whole run unless the
guard is lifted (`--allow-mass-delete`). One removal is never a mass removal: without that
floor, a partner with three people could never lose one. Removals are `DELETE
/v2/groups/{id}/relationships/people`, 50 people a request, redone one by one when a batch is
refused; a 404 for one person means already gone. Each answer is recorded in the audit trail
with the membership's soft deletion, in one fenced transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, true, update

from partnersync.config import Settings
from partnersync.db.bulk import chunked
from partnersync.db.schema import lms_group_members, lms_groups, lms_users, partners
from partnersync.db.types import utcnow
from partnersync.sync.context import SyncContext
from partnersync.sync.report import StreamReport
from partnersync.tasks import access_audit
from partnersync.tasks.access import (
    Departure,
    Key,
    all_partners_groups,
    belonging,
    departures,
    due,
    partner_groups,
)

STREAM = "northpass.offboarding"
UPSTREAM = ("impartner_sync", "sync_groups")
"""The tasks whose stored data a plan is made from."""


class RemovalRefused(RuntimeError):
    """Offboarding would remove more than the guard allows; nothing is removed."""

    def __init__(self, scope: str, removing: int, members: int, max_share: float) -> None:
        super().__init__(
            f"refusing to remove {removing} of {members} members of {scope} "
            f"({removing / members:.0%} > {max_share:.0%} allowed) and removing none; if the "
            "departures are real, run once with --allow-mass-delete"
        )


@dataclass(frozen=True)
class Removal:
    group_id: str
    user_id: str
    source: str
    departure: Departure


@dataclass
class Plan:
    """What an offboarding run would remove, and what the guard measures it against."""

    removals: list[Removal] = field(default_factory=list)
    members: Counter[str] = field(default_factory=Counter)  # confirmed, per kept group
    group_names: dict[str, str] = field(default_factory=dict)
    waiting: list[Departure] = field(default_factory=list)  # within the grace period
    manual_kept: set[Key] = field(default_factory=set)  # added outside partnersync

    @property
    def keys(self) -> set[Key]:
        return {(r.group_id, r.user_id) for r in self.removals}

    def by_group(self) -> dict[str, list[Removal]]:
        grouped: dict[str, list[Removal]] = {}
        for removal in sorted(self.removals, key=lambda r: (r.group_id, r.user_id)):
            grouped.setdefault(removal.group_id, []).append(removal)
        return grouped


def plan(connection: Connection, settings: Settings, now: datetime) -> Plan:
    """The removals due now, from the stored partners, contacts and memberships."""
    grace = timedelta(hours=settings.offboard_grace_hours)
    everyone = all_partners_groups(connection)
    owner = {g: p for p, groups in partner_groups(connection).items() for g in groups}
    active = set(
        connection.scalars(
            select(partners.c.id).where(
                partners.c.is_active == true(), partners.c.deleted_at.is_(None)
            )
        )
    )
    belongs = {(b.partner_id, b.user_id) for b in belonging(connection)}
    member = lms_group_members.c
    kept = [*owner, *everyone]
    rows: dict[str, list[tuple[str, str, str]]] = {}  # user → (group, status, source)
    result = Plan(group_names=_names(connection, kept) | everyone)
    for batch in chunked(kept, 500):
        for row in connection.execute(
            select(member.group_id, member.user_id, member.status, member.source).where(
                member.group_id.in_(batch), member.deleted_at.is_(None)
            )
        ):
            rows.setdefault(row.user_id, []).append((row.group_id, row.status, row.source))
            if row.status == "confirmed":
                result.members[row.group_id] += 1

    left = [d for d in departures(connection) if (d.partner_id, d.user_id) not in belongs]
    result.waiting = [d for d in left if not due(d, now, grace)]
    chosen: dict[Key, Removal] = {}

    def remove(group_id: str, source: str, departure: Departure) -> None:
        if source == "manual" and not settings.offboard_manual_memberships:
            result.manual_kept.add((group_id, departure.user_id))
            return
        chosen.setdefault(
            (group_id, departure.user_id), Removal(group_id, departure.user_id, source, departure)
        )

    leaving: dict[str, Departure] = {}
    for departure in (d for d in left if due(d, now, grace)):
        leaving.setdefault(departure.user_id, departure)
        for group_id, _, source in rows.get(departure.user_id, []):
            if owner.get(group_id) == departure.partner_id:
                remove(group_id, source, departure)
    belonging_users = {user_id for _, user_id in belongs}
    for user_id, departure in leaving.items():
        staying = any(
            status == "confirmed" and owner.get(g) in active and (g, user_id) not in chosen
            for g, status, _ in rows.get(user_id, [])
        )
        if user_id in belonging_users or staying:
            continue
        for group_id, _, source in rows.get(user_id, []):
            if group_id in everyone:
                remove(group_id, source, departure)
    result.removals = list(chosen.values())
    return result


def _names(connection: Connection, group_ids: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for batch in chunked(group_ids, 500):
        rows = connection.execute(
            select(lms_groups.c.id, lms_groups.c.name).where(lms_groups.c.id.in_(batch))
        )
        names.update({row.id: row.name for row in rows})
    return names


def check(plan: Plan, max_share: float | None) -> None:
    """The deletion guard (None: lifted for this run); raises `RemovalRefused`."""
    if max_share is None:
        return
    for group_id, removing in sorted(Counter(r.group_id for r in plan.removals).items()):
        members = plan.members[group_id]
        if removing > 1 and members and removing / members > max_share:
            name = plan.group_names.get(group_id, group_id)
            raise RemovalRefused(f"group {name} ({group_id})", removing, members, max_share)
    total = sum(plan.members.values())
    if total and len(plan.removals) / total > max_share:
        raise RemovalRefused("all partner groups", len(plan.removals), total, max_share)


def describe(plan: Plan, grace_hours: int) -> list[str]:
    """Notes on what the plan holds back."""
    notes = []
    if plan.waiting:
        first = min(d.since for d in plan.waiting) + timedelta(hours=grace_hours)
        notes.append(
            f"{len(plan.waiting)} departure(s) within the grace period of {grace_hours} h: "
            f"nothing removed for them yet (the first is due {first:%Y-%m-%d %H:%M} UTC)"
        )
    if plan.manual_kept:
        notes.append(
            f"{len(plan.manual_kept)} membership(s) of people who left were added outside "
            "partnersync and kept (PARTNERSYNC_OFFBOARD_MANUAL_MEMBERSHIPS=true removes them)"
        )
    return notes


def planned(plan: Plan) -> list[dict[str, object]]:
    """The removals as a dry run prints them, one item per group."""
    return [
        {
            "group_id": group_id,
            "remove_person_ids": [r.user_id for r in removals],
            "reasons": {r.user_id: r.departure.reason for r in removals},
        }
        for group_id, removals in plan.by_group().items()
    ]


async def offboard(context: SyncContext, plan: Plan, report: StreamReport) -> None:
    """Make the planned removals, group by group, each recorded with the vendor's answer."""
    grouped = plan.by_group()
    report.processed += len(plan.removals)
    done = 0
    context.progress(STREAM, done, len(plan.removals))
    emails: dict[str, str | None] = {}
    with context.engine.connect() as connection:
        for batch in chunked(sorted({r.user_id for r in plan.removals}), 500):
            rows = connection.execute(
                select(lms_users.c.id, lms_users.c.email).where(lms_users.c.id.in_(batch))
            )
            emails.update({row.id: row.email for row in rows})
    for group_id, removals in grouped.items():
        context.checkpoint()
        context.confirm_lease()
        result = await context.northpass.remove_group_members(
            group_id, [r.user_id for r in removals]
        )
        refused = {skip.id: skip.reason for skip in result.failed}
        absent = set(result.not_members)
        writes = [
            access_audit.Write(
                action="remove",
                group_id=group_id,
                group_name=plan.group_names.get(group_id),
                user_id=r.user_id,
                email=emails.get(r.user_id),
                partner_id=r.departure.partner_id,
                source=r.source,
                decided_by="partnersync",
                cause=r.departure.cause,
                reason=f"{r.departure.reason}; grace {context.settings.offboard_grace_hours} h",
                outcome="failed" if r.user_id in refused else "done",
                answer=(
                    f"refused by Northpass: {refused[r.user_id]}"
                    if r.user_id in refused
                    else "not a member (HTTP 404)"
                    if r.user_id in absent
                    else "removed (HTTP 204)"
                ),
            )
            for r in removals
        ]
        with context.write() as connection:
            _soft_delete(connection, group_id, result.done, context.started_at)
            access_audit.record(connection, writes, at=utcnow(), sync_log_id=context.log_id)
        for user_id, reason in refused.items():
            report.fail(f"{group_id}/{user_id}", reason)
        report.deleted += len(result.done)
        done += len(removals)
        context.progress(STREAM, done, len(plan.removals))
    people = len({r.user_id for r in plan.removals})
    report.notes.append(
        f"{report.deleted} membership(s) of {people} person(s) who left removed "
        f"in {len(grouped)} group(s)"
    )


def _soft_delete(connection: Connection, group_id: str, user_ids: list[str], now: datetime) -> None:
    member = lms_group_members.c
    for batch in chunked(user_ids, 500):
        connection.execute(
            update(lms_group_members)
            .where(
                member.group_id == group_id,
                member.user_id.in_(batch),
                member.deleted_at.is_(None),
            )
            .values(deleted_at=now)
        )
