"""What a partner programme team reads: each partner's counts, people and certifications.

Everything is derived from the one certification rule (`sync.certifications`) and the one
definition of a partner user (`sync.partner_users`), next to what partnersync last pushed and
what Impartner held when the push last read it back (`partner_push_state`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Connection, Select, select

from partnersync.config import Settings
from partnersync.db.schema import (
    lms_courses,
    lms_enrollments,
    lms_groups,
    lms_users,
    partner_push_state,
    partners,
)
from partnersync.sync.certifications import (
    certifications_of,
    counted_by_user,
    not_counted_reason,
    partner_members,
)
from partnersync.sync.partner_users import partner_user_sources

EXPIRING_DAYS = 90
"""`expiring_90d` counts counted certifications whose expiry falls within this many days."""

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class PartnerSummary:
    """One partner's line in the partner view; numbers are computed now, by the rule."""

    id: int
    impartner_id: int
    name: str | None
    tier: str | None
    is_active: bool
    certification_count: int = 0
    total_npcu: int = 0
    partner_users: int = 0
    certified_users: int = 0
    expiring_90d: int = 0
    group_ids: list[str] = field(default_factory=list)
    last_pushed_at: datetime | None = None
    pushed_certification_count: int | None = None
    pushed_total_npcu: int | None = None
    crm_certification_count: int | None = None
    crm_total_npcu: int | None = None
    crm_read_at: datetime | None = None
    drift: bool = False
    """Impartner (as last read) holds other numbers than the rule gives now."""


SortField = Literal[
    "name",
    "id",
    "impartner_id",
    "is_active",
    "certification_count",
    "total_npcu",
    "partner_users",
    "certified_users",
    "expiring_90d",
    "last_pushed_at",
    "pushed_certification_count",
    "pushed_total_npcu",
    "crm_certification_count",
    "crm_total_npcu",
    "drift",
]
SORTABLE: tuple[str, ...] = get_args(SortField)
"""Every numeric field, `name`, and the flags and dates; `tier` and the group ids do not sort."""


@dataclass(frozen=True)
class Certification:
    """One course a partner user completed: counted or not, and why not."""

    course_id: str
    course_name: str | None
    npcu_value: int
    completed_at: datetime | None
    expires_at: datetime | None
    counted: bool
    not_counted_reason: str | None
    course_retired: bool
    """The course left the catalog; a certification earned on it still counts until it expires."""


@dataclass(frozen=True)
class PartnerUser:
    lms_user_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    membership: Literal["group", "contact", "both"]
    certifications: list[Certification]


@dataclass(frozen=True)
class ExpiringCertification:
    partner_id: int
    partner_name: str | None
    lms_user_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    course_id: str
    course_name: str | None
    npcu_value: int
    expires_at: datetime


def summaries(
    connection: Connection, settings: Settings, now: datetime, partner_id: int | None = None
) -> list[PartnerSummary]:
    """Every live partner (or only `partner_id`), ordered by id; five set-based queries."""
    return summaries_until(connection, settings, now, partner_id)[0]


def summaries_until(
    connection: Connection, settings: Settings, now: datetime, partner_id: int | None = None
) -> tuple[list[PartnerSummary], datetime | None]:
    """`summaries`, and the next instant at which they change by time alone (a certification
    expires, or enters the `expiring_90d` window), None if never: how long they may be kept."""
    query = select(
        partners.c.id,
        partners.c.impartner_id,
        partners.c.account_name,
        partners.c.partner_tier,
        partners.c.is_active,
    ).where(partners.c.deleted_at.is_(None))
    rows = connection.execute(only(query, partners.c.id, partner_id).order_by(partners.c.id))
    found = {
        row.id: PartnerSummary(
            row.id, row.impartner_id, row.account_name, row.partner_tier, bool(row.is_active)
        )
        for row in rows
    }
    if not found:
        return [], None
    members = partner_members(connection, partner_id)
    certified = certifications_of(members, counted_by_user(connection, now, _users(members)))
    soon = now + timedelta(days=EXPIRING_DAYS)
    groups = _group_ids(connection, partner_id)
    states = _push_states(connection, partner_id)
    result = []
    for key, summary in found.items():
        held = certified.get(key, [])
        summary = replace(
            summary,
            certification_count=len(held),
            total_npcu=sum(h.npcu for _, h in held),
            certified_users=len({user for user, _ in held}),
            expiring_90d=sum(
                1 for _, h in held if h.expires_at is not None and h.expires_at <= soon
            ),
            partner_users=len(members.get(key, ())),
            group_ids=groups.get(key, []),
        )
        result.append(with_push_state(summary, states.get(key), settings))
    window = timedelta(days=EXPIRING_DAYS)
    instants = [
        instant
        for held in certified.values()
        for _, h in held
        if h.expires_at is not None
        for instant in (h.expires_at, h.expires_at - window)
        if instant > now
    ]
    return result, min(instants, default=None)


def only(query: Select[Any], column: ColumnElement[int], partner_id: int | None) -> Select[Any]:
    """`query` narrowed to one partner, or as it is."""
    return query if partner_id is None else query.where(column == partner_id)


def _users(members: dict[int, set[str]]) -> set[str] | None:
    """The users whose certifications to read: one partner's members by id, else everyone
    (one scan beats an IN list of thousands)."""
    if len(members) > 1:
        return None
    return set().union(*members.values())


def _group_ids(connection: Connection, partner_id: int | None) -> dict[int, list[str]]:
    query = (
        select(lms_groups.c.partner_id, lms_groups.c.id)
        .where(lms_groups.c.partner_id.is_not(None), lms_groups.c.deleted_at.is_(None))
        .order_by(lms_groups.c.partner_id, lms_groups.c.id)
    )
    query = only(query, lms_groups.c.partner_id, partner_id)
    groups: dict[int, list[str]] = defaultdict(list)
    for partner_id, group_id in connection.execute(query):
        groups[partner_id].append(group_id)
    return groups


def _push_states(connection: Connection, partner_id: int | None) -> dict[int, Any]:
    state = partner_push_state.c
    query = select(
        state.partner_id, state.pushed_values, state.pushed_at, state.crm_values, state.crm_read_at
    )
    query = only(query, state.partner_id, partner_id)
    return {row.partner_id: row for row in connection.execute(query)}


def with_push_state(summary: PartnerSummary, state: Any, settings: Settings) -> PartnerSummary:
    """The summary with what was pushed and what Impartner holds, and whether they drifted."""
    if state is None:
        return summary
    pushed = state.pushed_values or {}
    crm = state.crm_values
    count_field, npcu_field = settings.push_count_field, settings.push_npcu_field
    crm_count = crm.get(count_field) if crm else None
    crm_npcu = crm.get(npcu_field) if crm else None
    drift = crm is not None and (
        crm_count != summary.certification_count or crm_npcu != summary.total_npcu
    )
    return replace(
        summary,
        last_pushed_at=state.pushed_at,
        pushed_certification_count=pushed.get(count_field),
        pushed_total_npcu=pushed.get(npcu_field),
        crm_certification_count=crm_count,
        crm_total_npcu=crm_npcu,
        crm_read_at=state.crm_read_at,
        drift=drift,
    )


def select_summaries(
    items: Iterable[PartnerSummary],
    *,
    q: str | None = None,
    tier: str | None = None,
    active: bool | None = None,
    sort: SortField = "name",
    order: Order = "asc",
) -> list[PartnerSummary]:
    """Filter and sort: `q` matches the name (case-insensitively) or the Impartner id, `tier`
    exactly (case-insensitively); nulls sort last either way, ties by id."""
    needle = (q or "").casefold()
    chosen = [
        item
        for item in items
        if (
            not needle or needle in (item.name or "").casefold() or needle == str(item.impartner_id)
        )
        and (tier is None or (item.tier or "").casefold() == tier.casefold())
        and (active is None or item.is_active == active)
    ]

    def key(item: PartnerSummary) -> Any:
        value = getattr(item, sort)
        return value.casefold() if isinstance(value, str) else value

    present = [item for item in chosen if getattr(item, sort) is not None]
    missing = [item for item in chosen if getattr(item, sort) is None]
    present.sort(key=lambda item: item.id)
    present.sort(key=key, reverse=order == "desc")
    return present + sorted(missing, key=lambda item: item.id)


def partner_users(connection: Connection, partner_id: int, now: datetime) -> list[PartnerUser]:
    """The partner's users, how each belongs, and every course each completed."""
    sources = partner_user_sources().subquery("sources")
    how: dict[str, set[str]] = defaultdict(set)
    for user_id, source in connection.execute(
        select(sources.c.user_id, sources.c.how).where(sources.c.partner_id == partner_id)
    ):
        how[user_id].add(source)
    if not how:
        return []
    people = {
        row.id: row
        for row in connection.execute(
            select(
                lms_users.c.id, lms_users.c.email, lms_users.c.first_name, lms_users.c.last_name
            ).where(lms_users.c.id.in_(list(how)))
        )
    }
    completions = connection.execute(
        select(
            lms_enrollments.c.user_id,
            lms_courses.c.id.label("course_id"),
            lms_courses.c.name,
            lms_courses.c.npcu_value,
            lms_courses.c.deleted_at.is_not(None).label("retired"),
            lms_enrollments.c.completed_at,
            lms_enrollments.c.expires_at,
            not_counted_reason(now).label("reason"),
        )
        .join(lms_courses, lms_courses.c.id == lms_enrollments.c.course_id)
        .where(lms_enrollments.c.user_id.in_(list(how)), lms_enrollments.c.status == "completed")
    )
    by_user: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in completions:
        by_user[row.user_id][row.course_id].append(row)
    result = []
    for user_id in sorted(how, key=lambda u: ((people[u].email or "") if u in people else "", u)):
        person = people.get(user_id)
        sources_of = how[user_id]
        membership: Literal["group", "contact", "both"] = (
            "both" if len(sources_of) == 2 else "group" if "group" in sources_of else "contact"
        )
        courses = [one_certification(rows) for rows in by_user[user_id].values()]
        courses.sort(key=lambda c: (c.completed_at is None, c.completed_at), reverse=False)
        result.append(
            PartnerUser(
                user_id,
                person.email if person else None,
                person.first_name if person else None,
                person.last_name if person else None,
                membership,
                courses,
            )
        )
    return result


def one_certification(rows: list[Any]) -> Certification:
    """A user's completions of one course as one certification, as the rule counts it: counted
    when any completion counts; expiring never if one of those never does, else at the latest."""
    counted = [row for row in rows if row.reason is None]
    chosen = counted or rows
    latest = max(chosen, key=lambda row: (row.completed_at is not None, row.completed_at))
    if counted:
        never = any(row.expires_at is None for row in counted)
        expires = None if never else max(row.expires_at for row in counted)
    else:
        expires = latest.expires_at
    first = rows[0]
    return Certification(
        course_id=first.course_id,
        course_name=first.name,
        npcu_value=int(first.npcu_value),
        completed_at=latest.completed_at,
        expires_at=expires,
        counted=bool(counted),
        not_counted_reason=None if counted else latest.reason,
        course_retired=bool(first.retired),
    )


def expiring(connection: Connection, now: datetime, days: int) -> list[ExpiringCertification]:
    """Counted certifications expiring within `days`, soonest first, with partner and person."""
    until = now + timedelta(days=days)
    certified = certifications_of(partner_members(connection), counted_by_user(connection, now))
    due = [
        (partner_id, user, held)
        for partner_id, pairs in certified.items()
        for user, held in pairs
        if held.expires_at is not None and held.expires_at <= until
    ]
    if not due:
        return []
    names = dict(connection.execute(select(partners.c.id, partners.c.account_name)).tuples().all())
    people = {
        row.id: row
        for row in connection.execute(
            select(
                lms_users.c.id, lms_users.c.email, lms_users.c.first_name, lms_users.c.last_name
            ).where(lms_users.c.id.in_(sorted({user for _, user, _ in due})))
        )
    }
    courses = dict(
        connection.execute(
            select(lms_courses.c.id, lms_courses.c.name).where(
                lms_courses.c.id.in_(sorted({held.course_id for _, _, held in due}))
            )
        )
        .tuples()
        .all()
    )
    found = [
        ExpiringCertification(
            partner_id,
            names.get(partner_id),
            user,
            people[user].email,
            people[user].first_name,
            people[user].last_name,
            held.course_id,
            courses.get(held.course_id),
            held.npcu,
            held.expires_at,
        )
        for partner_id, user, held in due
        if held.expires_at is not None
    ]
    return sorted(found, key=lambda e: (e.expires_at, e.partner_id, e.lms_user_id))
