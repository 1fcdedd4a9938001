"""The one certification rule (docs/design.md §3), shared by the push, the dashboard and the API.

A partner's certification count is the number of distinct (user, course) pairs where the user
is a partner user of that partner, the enrollment is completed, live and not expired, and the
course is worth NPCU; its NPCU total sums `npcu_value` over the same pairs. A user who belongs
to two partners counts for both; a course retired from the catalog still counts, since the
certification earned on it stays valid until it expires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
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
from partnersync.sync.partner_users import partner_user_pairs


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


def counted_certifications(
    now: datetime,
) -> Select[tuple[int, str, str, int, str | None, datetime | None]]:
    """One row per counted (partner, user, course): its NPCU value, category, and when it
    expires (NULL when one of its completions never does; else the latest expiry)."""
    pairs = partner_user_pairs().subquery("pairs")
    enrollment = lms_enrollments.c
    never = func.max(case((enrollment.expires_at.is_(None), 1), else_=0))
    return (
        select(
            pairs.c.partner_id,
            pairs.c.user_id,
            lms_courses.c.id.label("course_id"),
            lms_courses.c.npcu_value,
            lms_courses.c.certification_category,
            case((never == 1, null()), else_=func.max(enrollment.expires_at)).label("expires_at"),
        )
        .join(lms_enrollments, enrollment.user_id == pairs.c.user_id)
        .join(lms_courses, lms_courses.c.id == enrollment.course_id)
        .where(counts(now))
        .group_by(
            pairs.c.partner_id,
            pairs.c.user_id,
            lms_courses.c.id,
            lms_courses.c.npcu_value,
            lms_courses.c.certification_category,
        )
    )


def certification_totals(connection: Connection, now: datetime) -> dict[int, Totals]:
    """Totals for every active partner (zeros included), keyed by `partners.id`."""
    certified = counted_certifications(now).subquery("certified")
    rows = connection.execute(
        select(
            certified.c.partner_id,
            certified.c.certification_category,
            func.count(),
            func.sum(certified.c.npcu_value),
        ).group_by(certified.c.partner_id, certified.c.certification_category)
    )
    counted: dict[int, tuple[int, int, dict[str, int]]] = {}
    for partner_id, category, count, npcu in rows:
        certifications, total, categories = counted.get(partner_id, (0, 0, {}))
        if category is not None:
            categories[category] = int(count)
        counted[partner_id] = (certifications + int(count), total + int(npcu), categories)
    active = connection.scalars(
        select(partners.c.id).where(partners.c.is_active == true(), partners.c.deleted_at.is_(None))
    )
    return {
        partner_id: Totals(*counted[partner_id]) if partner_id in counted else Totals()
        for partner_id in active
    }


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
        select(rule.pattern, rule.category, rule.priority).order_by(rule.priority.desc(), rule.id)
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
