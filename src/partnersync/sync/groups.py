"""`sync_groups`: groups → `lms_groups`, partner matching, memberships → `lms_group_members`.

Three steps, each building on the last one's stored state:

1. the groups stream (`pull`: watermark, sweep, undelete). Its rows never carry `partner_id`
   or `partner_link`, so reading groups can never undo a link;
2. matching (`match_partners`): automatic links are recomputed from names; manual ones are
   left alone;
3. memberships of partner-linked groups and "All Partners". A group whose memberships must be
   read again gets `memberships_synced_at = NULL` the moment that becomes known (it changed,
   or was newly linked), so a run that fails before reading it does not forget it.

Membership removals are planned per group and made together at the end, under one guard for
the whole stream: a small group losing a member is normal, every group emptying at once is a
broken read. Memberships of groups no longer kept (deleted, unlinked) are removed under the
same guard, so a mass unlinking cannot silently empty the table either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from partnersync.clients import ApiError, NorthpassClient, NorthpassGroup, Page, Skipped, fan_out
from partnersync.db.bulk import WriteCounts, check_sweep, chunked, upsert
from partnersync.db.schema import lms_group_members, lms_groups, partners
from partnersync.sync.collection import Stream, confirmed_gone_in_northpass, pull
from partnersync.sync.context import SyncContext
from partnersync.sync.matching import DEFAULT_THRESHOLD, is_all_partners, match_groups_detailed
from partnersync.sync.report import StreamReport

MEMBERSHIPS = "northpass.memberships"
BATCH = 500


def group_row(group: NorthpassGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "memberships_count": group.memberships_count,
        "created_at_lms": group.created_at,
        "updated_at_lms": group.updated_at,
    }


GROUPS = Stream(
    name="northpass.groups",
    table=lms_groups,
    to_row=group_row,
    updated_at=lambda group: group.updated_at,
    confirm=confirmed_gone_in_northpass("groups"),
)


async def named_groups(pages: AsyncIterator[Page[NorthpassGroup]]) -> AsyncIterator[Page[Any]]:
    """A group without a name is a bad record: skipped and counted (its id still spares it)."""
    async for page in pages:
        named = [group for group in page.records if group.name and group.name.strip()]
        unnamed = [
            Skipped(group.id, "name: missing")
            for group in page.records
            if not (group.name and group.name.strip())
        ]
        yield Page(named, [*page.skipped, *unnamed])


async def sync_groups(context: SyncContext) -> None:
    report = context.report.stream(GROUPS.name)
    with context.engine.connect() as connection:
        before = _group_versions(connection)
    await pull(
        context,
        GROUPS,
        lambda since: named_groups(context.northpass.groups(updated_since=since)),
    )
    with context.write() as connection:
        after = _group_versions(connection)
        changed = [
            group_id for group_id, version in after.items() if before.get(group_id) != version
        ]
        _needs_members(connection, changed)
        links = match_partners(connection)
    report.notes.append(links.summary())
    await sync_memberships(context)


def _group_versions(connection: Connection) -> dict[str, tuple[Any, bool]]:
    rows = connection.execute(
        select(lms_groups.c.id, lms_groups.c.updated_at_lms, lms_groups.c.deleted_at)
    )
    return {row.id: (row.updated_at_lms, row.deleted_at is None) for row in rows}


def _needs_members(connection: Connection, group_ids: Iterable[str]) -> None:
    """Flag groups whose memberships must be read again (durable across failed runs)."""
    for batch in chunked(group_ids, BATCH):
        connection.execute(
            update(lms_groups).where(lms_groups.c.id.in_(batch)).values(memberships_synced_at=None)
        )


# --- matching -------------------------------------------------------------------------------


@dataclass
class LinkChanges:
    """What one matching pass changed; `linked` includes groups moved to another partner."""

    linked: list[str] = field(default_factory=list)
    unlinked: list[str] = field(default_factory=list)
    unchanged: int = 0
    manual: int = 0
    ambiguous: int = 0
    inactive: int = 0  # named after an inactive or deleted partner
    kept_inactive: int = 0  # of those, still linked to it (it was active when linked)
    tiers: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        tiers = ", ".join(f"{tier} {count}" for tier, count in sorted(self.tiers.items()))
        return (
            f"partner matching: {len(self.linked)} linked, {len(self.unlinked)} unlinked, "
            f"{self.unchanged} unchanged, {self.manual} manual kept, "
            f"{self.ambiguous} ambiguous, {self.inactive} of inactive partners "
            f"({self.kept_inactive} still linked to them); by tier: {tiers or 'none'}"
        )


def match_partners(connection: Connection, *, threshold: float = DEFAULT_THRESHOLD) -> LinkChanges:
    """Recompute automatic group ↔ partner links from names; never touch a manual link.

    Only active, not deleted partners are linked; the others still claim groups named after
    them (see `matching`). A group already linked to a partner that became inactive or was
    deleted keeps that link, though: the group is still that partner's, and offboarding must
    know whose people are in it. Groups are the live ones without a manual link. A newly
    (re)linked group is flagged for a membership read.
    """
    linkable: list[tuple[int, str | None]] = []
    unlinkable: list[tuple[int, str | None]] = []
    for partner in connection.execute(
        select(partners.c.id, partners.c.account_name, partners.c.is_active, partners.c.deleted_at)
    ):
        live = partner.is_active and partner.deleted_at is None
        (linkable if live else unlinkable).append((partner.id, partner.account_name))
    groups = connection.execute(
        select(
            lms_groups.c.id, lms_groups.c.name, lms_groups.c.partner_id, lms_groups.c.partner_link
        ).where(lms_groups.c.deleted_at.is_(None))
    ).all()
    automatic = [group for group in groups if group.partner_link != "manual"]
    result = match_groups_detailed(
        [(group.id, group.name) for group in automatic],
        linkable,
        unlinkable=unlinkable,
        threshold=threshold,
    )
    changes = LinkChanges(
        manual=len(groups) - len(automatic),
        ambiguous=len(result.ambiguous),
        inactive=len(result.unlinkable),
        tiers=result.tiers(),
    )
    links: list[dict[str, Any]] = []
    for group in automatic:
        match = result.matches.get(group.id)
        if match is not None:
            if group.partner_id == match.partner_id and group.partner_link == "auto":
                changes.unchanged += 1
            else:
                links.append({"group": group.id, "partner": match.partner_id})
                changes.linked.append(group.id)
        elif group.partner_id in result.unlinkable.get(group.id, ()):
            changes.kept_inactive += 1
        elif group.partner_id is not None or group.partner_link is not None:
            changes.unlinked.append(group.id)
    not_manual = or_(lms_groups.c.partner_link.is_(None), lms_groups.c.partner_link != "manual")
    if links:
        connection.execute(
            update(lms_groups)
            .where(lms_groups.c.id == bindparam("group"), not_manual)
            .values(partner_id=bindparam("partner"), partner_link="auto")
            .values(memberships_synced_at=None),
            links,
        )
    for batch in chunked(changes.unlinked, BATCH):
        connection.execute(
            update(lms_groups)
            .where(lms_groups.c.id.in_(batch), not_manual)
            .values(partner_id=None, partner_link=None)
        )
    return changes


# --- memberships ----------------------------------------------------------------------------


@dataclass
class GroupMembers:
    """One group's complete membership listing (or `missing` when the group answered 404)."""

    group_id: str
    person_ids: set[str] = field(default_factory=set)
    skipped: list[Skipped] = field(default_factory=list)
    missing: bool = False


async def read_members(client: NorthpassClient, group_id: str) -> GroupMembers:
    result = GroupMembers(group_id)
    try:
        async for page in client.group_memberships(group_id):
            result.skipped.extend(page.skipped)
            result.person_ids.update(membership.person_id for membership in page.records)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return GroupMembers(group_id, missing=True)
    return result


async def read_members_confirmed(
    client: NorthpassClient, group_id: str, stored: set[str]
) -> GroupMembers:
    """A listing that would remove members is read a second time, and only the members
    missing from both reads are gone: the listing pages by offset, and members removed
    before the cursor during a read shift live ones out of sight."""
    first = await read_members(client, group_id)
    if first.missing or first.skipped or stored <= first.person_ids:
        return first
    second = await read_members(client, group_id)
    if second.missing:
        return second
    return GroupMembers(group_id, first.person_ids | second.person_ids, second.skipped)


def confirmed_members(connection: Connection, group_ids: list[str]) -> dict[str, set[str]]:
    """The stored confirmed members of these groups."""
    member = lms_group_members.c
    found: dict[str, set[str]] = {group_id: set() for group_id in group_ids}
    for batch in chunked(group_ids, BATCH):
        rows = connection.execute(
            select(member.group_id, member.user_id).where(
                member.group_id.in_(batch),
                member.deleted_at.is_(None),
                member.status == "confirmed",
            )
        )
        for group_id, user_id in rows:
            found[group_id].add(user_id)
    return found


def membership_groups(connection: Connection) -> list[Any]:
    """Live groups whose memberships are kept: partner-linked ones and "All Partners"."""
    rows = connection.execute(
        select(
            lms_groups.c.id,
            lms_groups.c.name,
            lms_groups.c.partner_id,
            lms_groups.c.memberships_count,
            lms_groups.c.memberships_synced_at,
        ).where(lms_groups.c.deleted_at.is_(None))
    ).all()
    return [row for row in rows if row.partner_id is not None or is_all_partners(row.name)]


def confirmed_counts(connection: Connection) -> dict[str, int]:
    rows = connection.execute(
        select(lms_group_members.c.group_id, func.count())
        .where(lms_group_members.c.deleted_at.is_(None), lms_group_members.c.status == "confirmed")
        .group_by(lms_group_members.c.group_id)
    )
    return {group_id: count for group_id, count in rows}


def groups_to_read(groups: list[Any], counts: dict[str, int], *, full: bool) -> list[str]:
    """Every kept group in a full run; otherwise the flagged ones and those whose count moved.

    Largest first, so the long "All Partners" listing overlaps the small ones.
    """
    chosen = [
        group
        for group in groups
        if full
        or group.memberships_synced_at is None
        or (
            group.memberships_count is not None
            and group.memberships_count != counts.get(group.id, 0)
        )
    ]
    chosen.sort(key=lambda group: -(group.memberships_count or 0))
    return [group.id for group in chosen]


async def sync_memberships(context: SyncContext) -> None:
    """Read the chosen groups' memberships, store them as they arrive, remove at the end.

    Removals (members no longer listed, and every membership of groups no longer kept) are
    checked together against `sweep_max_share` of all stored memberships before any is made.
    A group whose listing had unreadable records, or came back empty although the group
    reports members, gets no removals.
    """
    report = context.report.stream(MEMBERSHIPS)
    with context.engine.connect() as connection:
        groups = membership_groups(connection)
        targets = groups_to_read(groups, confirmed_counts(connection), full=context.full)
        stored_members = confirmed_members(connection, targets)
    reported = {group.id: group.memberships_count or 0 for group in groups}
    client = context.northpass
    planned: dict[str, set[str]] = {}
    done = 0
    context.progress(MEMBERSHIPS, done, len(targets))
    async for members in fan_out(
        targets,
        lambda group_id: read_members_confirmed(client, group_id, stored_members[group_id]),
        context.settings.northpass_concurrency,
    ):
        context.checkpoint()
        done += 1
        context.progress(MEMBERSHIPS, done, len(targets))
        group_id = members.group_id
        gone = store_listing(context, report, members)
        if gone is None:
            continue
        if members.skipped:
            report.notes.append(
                f"group {group_id}: {len(members.skipped)} unreadable record(s), so no removals"
            )
        elif not members.person_ids and reported[group_id]:
            report.notes.append(
                f"group {group_id}: empty listing but {reported[group_id]} member(s) reported, "
                "so no removals"
            )
        else:
            planned[group_id] = gone

    with context.write() as connection:
        stored = confirmed_counts(connection)
        kept = {group.id for group in membership_groups(connection)}
        unkept = sorted(set(stored) - kept)
        removals = sum(len(users) for users in planned.values()) + sum(stored[g] for g in unkept)
        check_sweep(
            lms_group_members.name, removals, sum(stored.values()), context.max_delete_share
        )
        for group_id, users in planned.items():
            remove_members(connection, group_id, users, context.started_at)
        drop_members_of(connection, unkept, context.started_at)
        for batch in chunked(planned, BATCH):
            connection.execute(
                update(lms_groups)
                .where(lms_groups.c.id.in_(batch))
                .values(memberships_synced_at=context.started_at)
            )
    report.deleted += removals
    report.notes.append(f"{len(planned)} of {len(groups)} group(s) read completely")


def store_listing(
    context: SyncContext, report: StreamReport, members: GroupMembers
) -> set[str] | None:
    """Store one group's listing in a fenced write; the confirmed members it no longer lists
    (for the caller to remove, guarded), or None when the group is gone (HTTP 404)."""
    if members.missing:
        report.notes.append(f"group {members.group_id}: not found (HTTP 404), skipped")
        return None
    report.skipped(members.skipped)
    with context.write() as connection:
        counts, gone = store_members(
            connection, members.group_id, members.person_ids, context.started_at
        )
    report.wrote(counts)
    return gone


def store_members(
    connection: Connection, group_id: str, person_ids: set[str], now: datetime
) -> tuple[WriteCounts, set[str]]:
    """Upsert a group's listed members as confirmed; return the confirmed members not listed.

    Pending rows (added locally, not yet in Northpass) are never touched unless Northpass lists
    them, which confirms them. `added_at` is stamped on new and returning members only; they
    were added outside partnersync (`source` manual), whoever had added them before.
    """
    member = lms_group_members.c
    stored = {
        row.user_id: row
        for row in connection.execute(
            select(member.user_id, member.status, member.deleted_at).where(
                member.group_id == group_id
            )
        )
    }
    rows = [
        {"group_id": group_id, "user_id": user_id, "status": "confirmed", "pending_error": None}
        for user_id in sorted(person_ids)
    ]
    counts = upsert(connection, lms_group_members, rows) if rows else WriteCounts()
    fresh = {u for u in person_ids if u not in stored or stored[u].deleted_at is not None}
    promoted = {u for u in person_ids - fresh if stored[u].status != "confirmed"}
    in_group = member.group_id == group_id
    for batch in chunked(sorted(fresh), BATCH):
        connection.execute(
            update(lms_group_members)
            .where(in_group, member.user_id.in_(batch))
            .values(
                added_at=now, confirmed_at=now, source="manual", added_by=None, added_reason=None
            )
        )
    for batch in chunked(sorted(promoted), BATCH):
        connection.execute(
            update(lms_group_members)
            .where(in_group, member.user_id.in_(batch))
            .values(confirmed_at=now, added_at=func.coalesce(member.added_at, now))
        )
    gone = {
        user_id
        for user_id, row in stored.items()
        if row.deleted_at is None and row.status == "confirmed" and user_id not in person_ids
    }
    return counts, gone


def remove_members(
    connection: Connection, group_id: str, user_ids: Iterable[str], now: datetime
) -> None:
    """Soft-delete confirmed memberships; a row turned pending meanwhile is spared."""
    member = lms_group_members.c
    for batch in chunked(sorted(user_ids), BATCH):
        connection.execute(
            update(lms_group_members)
            .where(
                member.group_id == group_id,
                member.user_id.in_(batch),
                member.status == "confirmed",
                member.deleted_at.is_(None),
            )
            .values(deleted_at=now)
        )


def drop_members_of(connection: Connection, group_ids: list[str], now: datetime) -> None:
    """Soft-delete the confirmed memberships of groups no longer kept (deleted or unlinked).

    Unread, they would go stale; a group linked again is re-read and its rows undeleted.
    """
    member = lms_group_members.c
    for batch in chunked(group_ids, BATCH):
        connection.execute(
            update(lms_group_members)
            .where(
                member.group_id.in_(batch),
                member.deleted_at.is_(None),
                member.status == "confirmed",
            )
            .values(deleted_at=now)
        )
