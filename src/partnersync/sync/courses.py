"""`sync_courses` (catalog → `lms_courses`) and `sync_npcu` (course property `npcu`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from partnersync.clients import NorthpassCourse, NorthpassCourseProperties, Page
from partnersync.db.bulk import unstorable
from partnersync.db.schema import lms_courses
from partnersync.sync.collection import Stream, confirmed_gone_in_northpass, pull
from partnersync.sync.context import SyncContext
from partnersync.sync.report import StreamReport

VALID_NPCU = range(0, 3)
"""NPCU values a course can be worth; anything else is reported, never guessed."""


def course_row(course: NorthpassCourse) -> dict[str, Any]:
    return {
        "id": course.id,
        "name": course.name or f"(unnamed course {course.id})",
        "status": course.status,
        "created_at_lms": course.created_at,
        "updated_at_lms": course.updated_at,
    }


COURSES = Stream(
    name="northpass.courses",
    table=lms_courses,
    to_row=course_row,
    updated_at=lambda course: course.updated_at,
    confirm=confirmed_gone_in_northpass("courses"),
)


async def sync_courses(context: SyncContext) -> None:
    await pull(context, COURSES, lambda since: context.northpass.courses(updated_since=since))


async def sync_npcu(context: SyncContext) -> None:
    """Read every course's properties (there is no change filter) and store valid NPCU values.

    Catalog courses the bulk listing leaves out are asked for one by one; a course whose
    properties are not accessible (403) or whose value is not 0, 1 or 2 is counted as
    failed with the reason, and its stored value is left as it was.
    """
    report = context.report.stream("northpass.course_properties")
    values: dict[str, tuple[int, str | None]] = {}
    listed: set[str] = set()

    def take(page: Page[NorthpassCourseProperties]) -> None:
        report.skipped(page.skipped)
        for properties in page.records:
            listed.add(properties.id)
            value = npcu_of(properties, report)
            if value is not None:
                values[properties.id] = value
        context.progress("northpass.course_properties", len(listed), None)

    async for page in context.northpass.course_properties():
        context.checkpoint()
        take(page)
    with context.engine.connect() as connection:
        catalog = set(
            connection.scalars(select(lms_courses.c.id).where(lms_courses.c.deleted_at.is_(None)))
        )
    for course_id in sorted(catalog - listed):
        context.checkpoint()
        take(await context.northpass.course_properties_for(course_id))
    with context.write() as connection:
        store_npcu(connection, values, report)


def npcu_of(
    properties: NorthpassCourseProperties, report: StreamReport
) -> tuple[int, str | None] | None:
    """(value, raw text) for a course; a course without the property is worth 0."""
    raw = properties.npcu_raw
    if raw is None or raw == "":
        return 0, None
    if properties.npcu is None or properties.npcu not in VALID_NPCU:
        report.fail(properties.id, f"invalid npcu value: {raw!r} is not 0, 1 or 2")
        return None
    problem = unstorable(lms_courses, {"npcu_raw": str(raw)})
    if problem:
        report.fail(properties.id, problem)
        return None
    return properties.npcu, str(raw)


def store_npcu(
    connection: Connection, values: dict[str, tuple[int, str | None]], report: StreamReport
) -> None:
    """Update `npcu_value` where it differs; properties of unknown courses are noted."""
    stored = {
        row.id: (row.npcu_value, row.npcu_raw)
        for row in connection.execute(
            select(lms_courses.c.id, lms_courses.c.npcu_value, lms_courses.c.npcu_raw)
        )
    }
    unknown = sorted(course_id for course_id in values if course_id not in stored)
    changed = [
        {"course_id": course_id, "npcu_value": value, "npcu_raw": raw}
        for course_id, (value, raw) in values.items()
        if course_id in stored and stored[course_id] != (value, raw)
    ]
    report.processed += len(values) - len(unknown)
    report.updated += len(changed)
    report.unchanged += len(values) - len(unknown) - len(changed)
    if changed:
        connection.execute(
            update(lms_courses)
            .where(lms_courses.c.id == bindparam("course_id"))
            .values(npcu_value=bindparam("npcu_value"), npcu_raw=bindparam("npcu_raw")),
            changed,
        )
    if unknown:
        report.notes.append(
            f"{len(unknown)} course(s) with properties are not in the catalog: {_sample(unknown)}"
        )


def _sample(ids: Iterable[str], limit: int = 5) -> str:
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more
