"""The one certification rule (docs/design.md §3), shared by the push, the dashboard and the API.

A partner's certification count is the number of distinct (user, course) pairs where the user
is a partner user of that partner, the enrollment is completed, live and not expired, and the
course is worth NPCU; its NPCU total sums `npcu_value` over the same pairs. A user who belongs
to two partners counts for both; a course retired from the catalog still counts, since the
certification earned on it stays valid until it expires.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    func,
    not_,
    null,
    select,
    true,
    update,
)

from partnersync.db.schema import (
    certification_category_rules,
    lms_courses,
    lms_enrollments,
    partners,
)
from partnersync.sync.partner_users import partner_user_sources


@dataclass(frozen=True)
class Totals:
    """One partner's certifications: count, NPCU total and count per course category."""

    certifications: int = 0
    npcu: int = 0
    categories: dict[str, int] = field(default_factory=dict)


def disqualifications(now: datetime) -> list[tuple[str, ColumnElement[bool]]]:
    """Why an enrollment does not count as a certification at `now`, each reason with its
    condition: the rule, spelt out once, for the counts and for the partner view's reasons."""
    enrollment = lms_enrollments.c
    return [
        ("not completed", enrollment.status != "completed"),
        ("enrollment removed in Northpass", enrollment.deleted_at.is_not(None)),
        ("expired", and_(enrollment.expires_at.is_not(None), enrollment.expires_at <= now)),
        ("course worth no NPCU", lms_courses.c.npcu_value <= 0),
    ]


def counts(now: datetime) -> ColumnElement[bool]:
    """The enrollment (joined with its course) counts as a certification at `now`."""
    return and_(*(not_(condition) for _, condition in disqualifications(now)))


def not_counted_reason(now: datetime) -> ColumnElement[str | None]:
    """The first reason the enrollment does not count, or NULL when it counts."""
    return case(*((condition, reason) for reason, condition in disqualifications(now)))


@dataclass(frozen=True)
class Held:
    """A counted certification of one user on one course."""

    course_id: str
    npcu: int
    category: str | None
    expires_at: datetime | None
    """None when one of the user's completions of the course never expires, else the latest."""


def counted_by_user(
    connection: Connection, now: datetime, user_ids: Collection[str] | None = None
) -> dict[str, list[Held]]:
    """Every user's (or `user_ids`') counted certifications at `now`, one per course."""
    enrollment = lms_enrollments.c
    never = func.max(case((enrollment.expires_at.is_(None), 1), else_=0))
    chosen = [enrollment.user_id.in_(list(user_ids))] if user_ids is not None else []
    rows = connection.execute(
        select(
            enrollment.user_id,
            lms_courses.c.id,
            lms_courses.c.npcu_value,
            lms_courses.c.certification_category,
            case((never == 1, null()), else_=func.max(enrollment.expires_at)),
        )
        .join(lms_courses, lms_courses.c.id == enrollment.course_id)
        .where(counts(now), *chosen)
        .group_by(
            enrollment.user_id,
            lms_courses.c.id,
            lms_courses.c.npcu_value,
            lms_courses.c.certification_category,
        )
    )
    held: dict[str, list[Held]] = defaultdict(list)
    for user_id, course_id, npcu, category, expires_at in rows:
        held[user_id].append(Held(course_id, int(npcu), category, expires_at))
    return held


def partner_members(connection: Connection, partner_id: int | None = None) -> dict[int, set[str]]:
    """Active partner (or only `partner_id`) → its partner users (`sync.partner_users`)."""
    pairs = partner_user_sources().subquery("pairs")  # deduplicated here, in sets
    query = select(pairs.c.partner_id, pairs.c.user_id)
    if partner_id is not None:
        query = query.where(pairs.c.partner_id == partner_id)
    members: dict[int, set[str]] = defaultdict(set)
    for partner, user_id in connection.execute(query):
        members[partner].add(user_id)
    return members


def certifications_of(
    members: Mapping[int, set[str]], held: Mapping[str, list[Held]]
) -> dict[int, list[tuple[str, Held]]]:
    """Partner → its counted (user, certification) pairs: a user of two partners counts for
    both, a user's certification once per course."""
    return {
        partner_id: [(user, h) for user in sorted(users) for h in held.get(user, ())]
        for partner_id, users in members.items()
    }


def certification_totals(connection: Connection, now: datetime) -> dict[int, Totals]:
    """Totals for every active partner (zeros included), keyed by `partners.id`."""
    pairs = certifications_of(partner_members(connection), counted_by_user(connection, now))
    active = connection.scalars(
        select(partners.c.id).where(partners.c.is_active == true(), partners.c.deleted_at.is_(None))
    )
    totals = {}
    for partner_id in active:
        certified = pairs.get(partner_id, [])
        categories = Counter(h.category for _, h in certified if h.category is not None)
        npcu = sum(h.npcu for _, h in certified)
        totals[partner_id] = Totals(len(certified), npcu, dict(categories))
    return totals


# --- course categories ------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryRule:
    pattern: str
    category: str
    priority: int = 0

    def matches(self, course_name: str) -> bool:
        return self.pattern.casefold() in course_name.casefold()


def category_rules(
    connection: Connection, configured: Mapping[str, Sequence[str]]
) -> list[CategoryRule]:
    """Rules from the table and from the setting, highest priority first.

    Setting rules have priority 0 and keep their written order; on equal priority the table's
    rules come first, so an operator's row can override a configured default.
    """
    rule = certification_category_rules.c
    stored = connection.execute(
        select(rule.pattern, rule.category, rule.priority).order_by(rule.id)  # sorted below
    )
    rules = [CategoryRule(row.pattern, row.category, row.priority) for row in stored]
    rules += [
        CategoryRule(pattern, category)
        for category, patterns in configured.items()
        for pattern in patterns
    ]
    return sorted(rules, key=lambda rule: -rule.priority)  # stable: ties keep the order above


def category_of(course_name: str, rules: Iterable[CategoryRule]) -> str | None:
    return next((rule.category for rule in rules if rule.matches(course_name)), None)


def assign_categories(connection: Connection, rules: Sequence[CategoryRule]) -> int:
    """Set `lms_courses.certification_category` from the rules; returns courses changed.

    Without any rule the column is left as it is, so categories set by other means survive
    until rules are configured.
    """
    if not rules:
        return 0
    courses = connection.execute(
        select(lms_courses.c.id, lms_courses.c.name, lms_courses.c.certification_category)
    )
    changed = [
        {"course_id": course.id, "category": category}
        for course in courses
        if (category := category_of(course.name, rules)) != course.certification_category
    ]
    if changed:
        connection.execute(
            update(lms_courses)
            .where(lms_courses.c.id == bindparam("course_id"))
            .values(certification_category=bindparam("category")),
            changed,
        )
    return len(changed)
