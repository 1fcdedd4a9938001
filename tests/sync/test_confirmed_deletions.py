"""No live record is soft-deleted because an offset-paged read shifted under deletions.

Northpass pages by offset: records deleted from page 1 while page 2 is read shift live
records past the cursor, so a full read misses them. A sweep candidate is deleted only once
the vendor answers 404 for it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, Table, select

from partnersync.db.schema import lms_courses, lms_groups, lms_users
from partnersync.sandbox.knobs import PageMutation
from partnersync.sandbox.server import RunningSandbox

from .conftest import run

CASES = [
    # listing, task, table, page size, records deleted mid-read
    ("people", "sync_users", lms_users, 5, 4),
    ("groups", "sync_groups", lms_groups, 2, 1),
    ("courses", "sync_courses", lms_courses, 2, 1),
]


def live_ids(engine: Engine, table: Table) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(table.c.id).where(table.c.deleted_at.is_(None))))


def vendor_ids(sandbox: RunningSandbox, listing: str) -> set[str]:
    return set(getattr(sandbox.dataset, listing))


@pytest.mark.parametrize(("listing", "task", "table", "page", "count"), CASES)
def test_deletions_during_a_full_read_never_remove_live_rows(
    engine: Engine,
    sandbox: RunningSandbox,
    listing: str,
    task: str,
    table: Table,
    page: int,
    count: int,
) -> None:
    run(engine, sandbox, "impartner_sync", "full")
    first = run(engine, sandbox, task, "full", NORTHPASS_PAGE_SIZE=page)
    assert first.status == "success", first.error
    before = vendor_ids(sandbox, listing)
    sandbox.set_knobs(
        page_mutations=(PageMutation(listing, after_page=1, action="delete", count=count),)
    )
    outcome = run(engine, sandbox, task, "full", NORTHPASS_PAGE_SIZE=page)
    assert outcome.status == "success", outcome.error

    after = vendor_ids(sandbox, listing)
    assert len(before - after) == count
    assert after <= live_ids(engine, table), "a live row was swept"

    sandbox.set_knobs(page_mutations=())  # the next full read sees the deletions for what they are
    again = run(engine, sandbox, task, "full", NORTHPASS_PAGE_SIZE=page)
    assert again.status == "success", again.error
    assert live_ids(engine, table) == after


def test_a_candidate_the_vendor_still_has_is_kept_and_counted_in_requests(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full", NORTHPASS_PAGE_SIZE=5)
    sandbox.set_knobs(page_mutations=(PageMutation("people", after_page=1, action="delete"),))
    sandbox.reset_counters()
    outcome = run(engine, sandbox, "sync_users", "full", NORTHPASS_PAGE_SIZE=5)
    stats: dict[str, Any] = sandbox.stats()
    lookups = stats["routes"]["GET /v2/people/{id}"]["by_status"]
    notes = " ".join(outcome.report.streams["northpass.people"].notes)
    assert lookups == {"200": 1}  # the live person the deletion shifted out of sight
    assert "1 row(s) missing from the read still exist at the vendor; kept" in notes
    assert outcome.report.total("deleted") == 0
