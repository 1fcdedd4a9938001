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

from sqlalchemy import ColumnElement, Connection, Select, and_, case, func, select

from partnersync.config import Settings
from partnersync.db.schema import (
    lms_courses,
    lms_enrollments,
    lms_groups,
    lms_users,
    partner_push_state,
    partners,
)
from partnersync.sync.certifications import counted_certifications, not_counted_reason
from partnersync.sync.partner_users import partner_user_pairs, partner_user_sources

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
        return []
    counts = _certification_counts(connection, now, partner_id)
    users = _partner_user_counts(connection, partner_id)
    groups = _group_ids(connection, partner_id)
    states = _push_states(connection, partner_id)
    result = []
    for key, summary in found.items():
        certification_count, total_npcu, certified_users, expiring_90d = counts.get(key, NONE)
        summary = replace(
            summary,
            certification_count=certification_count,
            total_npcu=total_npcu,
            certified_users=certified_users,
            expiring_90d=expiring_90d,
            partner_users=users.get(key, 0),
            group_ids=groups.get(key, []),
        )
        result.append(with_push_state(summary, states.get(key), settings))
    return result


def only(query: Select[Any], column: ColumnElement[int], partner_id: int | None) -> Select[Any]:
    """`query` narrowed to one partner, or as it is."""
    return query if partner_id is None else query.where(column == partner_id)


NONE = (0, 0, 0, 0)


def _certification_counts(
    connection: Connection, now: datetime, partner_id: int | None
) -> dict[int, tuple[int, int, int, int]]:
    """partner id → (certifications, NPCU total, certified users, expiring soon)."""
    certified = counted_certifications(now).subquery("certified")
    soon = and_(
        certified.c.expires_at.is_not(None),
        certified.c.expires_at <= now + timedelta(days=EXPIRING_DAYS),
    )
    query = select(
        certified.c.partner_id,
        func.count(),
        func.sum(certified.c.npcu_value),
        func.count(certified.c.user_id.distinct()),
        func.sum(case((soon, 1), else_=0)),
    ).group_by(certified.c.partner_id)
    query = only(query, certified.c.partner_id, partner_id)
    return {
        row[0]: (int(row[1]), int(row[2] or 0), int(row[3]), int(row[4] or 0))
        for row in connection.execute(query)
    }


def _partner_user_counts(connection: Connection, partner_id: int | None) -> dict[int, int]:
    pairs = partner_user_pairs().subquery("pairs")
    query = select(pairs.c.partner_id, func.count()).group_by(pairs.c.partner_id)
    query = only(query, pairs.c.partner_id, partner_id)
    return {row[0]: int(row[1]) for row in connection.execute(query)}


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
    query = only(select(partner_push_state), partner_push_state.c.partner_id, partner_id)
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
    certified = counted_certifications(now).subquery("certified")
    rows = connection.execute(
        select(
            certified.c.partner_id,
            partners.c.account_name,
            certified.c.user_id,
            lms_users.c.email,
            lms_users.c.first_name,
            lms_users.c.last_name,
            certified.c.course_id,
            lms_courses.c.name.label("course_name"),
            certified.c.npcu_value,
            certified.c.expires_at,
        )
        .join(partners, partners.c.id == certified.c.partner_id)
        .join(lms_users, lms_users.c.id == certified.c.user_id)
        .join(lms_courses, lms_courses.c.id == certified.c.course_id)
        .where(
            certified.c.expires_at.is_not(None),
            certified.c.expires_at <= now + timedelta(days=days),
        )
        .order_by(certified.c.expires_at, certified.c.partner_id, certified.c.user_id)
    )
    return [ExpiringCertification(*row) for row in rows]
