"""One record that cannot be stored is skipped and counted; it never blocks its neighbours.

The sandbox serves the bad value as the vendor would (a lone surrogate is valid JSON,
`"\\ud800"`, but not encodable as UTF-8); the run must succeed, store everything else and
move its watermark, so the next incremental run is not blocked either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from partnersync.clients import NorthpassPerson, Page
from partnersync.db.bulk import upsert
from partnersync.db.schema import lms_groups, lms_users, sync_state
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.collection import pull
from partnersync.sync.context import SyncContext
from partnersync.sync.people import PEOPLE

from .conftest import run, settings_for

LONE_SURROGATE = "\ud800"


def people(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {row.id: row for row in connection.execute(select(lms_users))}


def watermark(engine: Engine, stream: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(sync_state.c.watermark).where(sync_state.c.stream == stream)
        )


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_lone_surrogate_in_a_name_skips_that_person_only(
    engine: Engine, sandbox: RunningSandbox, mode: Any
) -> None:
    ds = sandbox.dataset
    bad = sorted(ds.people)[3]
    ds.update_person(bad, first_name=f"Zo{LONE_SURROGATE}e")
    outcome = run(engine, sandbox, "sync_users", mode, NORTHPASS_PAGE_SIZE=5)
    assert outcome.status == "success", outcome.error
    report = outcome.report.streams["northpass.people"]
    assert report.failed == 1
    assert "not valid Unicode" in report.examples[0] and bad in report.examples[0]
    assert set(people(engine)) == set(ds.people) - {bad}
    assert watermark(engine, "northpass.people") is not None

    fixed_later = ds.add_person("later@example.com", "Later", "Person")
    again = run(engine, sandbox, "sync_users", "incremental")
    assert again.status == "success"
    assert fixed_later.id in people(engine)


def test_a_batch_the_database_refuses_is_written_row_by_row(engine: Engine) -> None:
    """A value nothing checked beforehand (here a count out of every integer range)."""
    now = utcnow()
    rows = [
        {"id": f"g{n}", "name": f"Group {n}", "memberships_count": n, "updated_at_lms": now}
        for n in range(5)
    ]
    rows[2]["memberships_count"] = 2**70
    with engine.begin() as connection:
        counts = upsert(connection, lms_groups, rows)
    assert (counts.created, [key for key, _ in counts.rejected]) == (4, [("g2",)])
    reason = counts.rejected[0][1]
    assert reason.startswith("refused by the database:") and "\n" not in reason
    assert "Group 2" not in reason  # no statement, no parameters
    with engine.connect() as connection:
        stored = set(connection.scalars(select(lms_groups.c.id)))
    assert stored == {"g0", "g1", "g3", "g4"}


def test_a_failed_row_does_not_undo_the_rest_of_its_transaction(engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, lms_groups, [{"id": "before", "name": "Before"}])
        upsert(connection, lms_groups, [{"id": "bad", "name": "Bad", "memberships_count": 2**70}])
        upsert(connection, lms_groups, [{"id": "after", "name": "After"}])
    with engine.connect() as connection:
        assert set(connection.scalars(select(lms_groups.c.id))) == {"before", "after"}


def test_out_of_range_over_long_and_repeated_records_are_counted_not_stored(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    def person(person_id: str, first_name: str, **extra: Any) -> NorthpassPerson:
        return NorthpassPerson.model_validate(
            {
                "id": person_id,
                "attributes": {
                    "email": f"{person_id}@example.com",
                    "first_name": first_name,
                    "updated_at": "2026-11-30T10:00:00Z",
                    **extra,
                },
            }
        )

    async def pages(since: datetime | None) -> AsyncIterator[Page[NorthpassPerson]]:
        yield Page([person("a", "Ann"), person("b", "B" * 300), person("c", "Cy")])
        yield Page([person("a", "Ann"), person("a", "Another Ann"), person("d", "Di")])

    context = SyncContext(
        engine=engine, settings=settings_for(sandbox), mode="full", started_at=datetime.now(UTC)
    )
    asyncio.run(pull(context, PEOPLE, pages))
    report = context.report.stream(PEOPLE.name)
    assert report.failed == 2  # the over-long name and the different second "a"
    reasons = " | ".join(report.examples)
    assert "first_name: 300 characters" in reasons and "id seen twice" in reasons
    stored = people(engine)
    assert set(stored) == {"a", "c", "d"} and stored["a"].first_name == "Ann"


def test_an_error_no_row_caused_fails_the_run_instead_of_rejecting_every_row(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    """A missing column (a schema out of step) is not ten bad records: the run fails and its
    watermark stays, so the records are read again once the cause is fixed."""
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE lms_courses RENAME COLUMN status TO status_gone"))
    try:
        outcome = run(engine, sandbox, "sync_courses", "full")
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE lms_courses RENAME COLUMN status_gone TO status"))
    assert outcome.status == "failed"
    assert outcome.report.total("failed") == 0
    assert watermark(engine, "northpass.courses") is None
    assert "\n" not in (outcome.error or "") and "[SQL" not in (outcome.error or "")


def test_an_npcu_text_too_long_to_store_skips_that_course_only(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_courses", "full")
    ds = sandbox.dataset
    course = sorted(ds.courses)[0]
    ds.set_course_property(course, "npcu", "0" * 80 + "1")
    outcome = run(engine, sandbox, "sync_npcu", "full")
    assert outcome.status == "success", outcome.error
    assert outcome.report.total("failed") >= 1
    examples = outcome.report.streams["northpass.course_properties"].examples
    assert any("npcu_raw" in example for example in examples)
