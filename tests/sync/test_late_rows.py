"""Rows the vendor makes visible late, dated before the watermark: the overlap catches them.

The sandbox's `late_changes` knob changes a record now with an `updated_at` `lag_seconds` in
the past, visible from the next listing request on (a vendor transaction that committed late).
Within `PARTNERSYNC_WATERMARK_OVERLAP_SECONDS` the next incremental run stores it; older than
that, only a full run can, and that run says so in its notes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Table, select

from partnersync.db.schema import contacts, lms_courses, lms_groups, lms_users, partners
from partnersync.sandbox.knobs import LateChange
from partnersync.sandbox.server import RunningSandbox

from .conftest import run

NO_MARGIN = {"IMPARTNER_FILTER_MARGIN_HOURS": 0}  # the overlap alone, not the margin on top

STREAMS = [
    # listing, task, table, key column, updated column, stream
    ("people", "sync_users", lms_users, lms_users.c.id, "updated_at_lms", "northpass.people"),
    ("groups", "sync_groups", lms_groups, lms_groups.c.id, "updated_at_lms", "northpass.groups"),
    (
        "courses",
        "sync_courses",
        lms_courses,
        lms_courses.c.id,
        "updated_at_lms",
        "northpass.courses",
    ),
    (
        "Account",
        "impartner_sync",
        partners,
        partners.c.impartner_id,
        "updated_at_source",
        "impartner.accounts",
    ),
    (
        "User",
        "impartner_sync",
        contacts,
        contacts.c.impartner_id,
        "updated_at_source",
        "impartner.users",
    ),
]


def oldest_and_newest(sandbox: RunningSandbox, listing: str) -> tuple[Any, Any]:
    ds = sandbox.dataset
    ids = sorted(ds.impartner_table(listing)) if listing in ("Account", "User") else None
    if ids is not None:
        return ids[0], ids[-1]
    records = list(getattr(ds, listing))
    return records[0], records[-1]


def touch(sandbox: RunningSandbox, listing: str, record_id: Any) -> None:
    ds = sandbox.dataset
    if listing in ("Account", "User"):
        ds.update_record(listing, record_id)
    else:
        getattr(
            ds, {"people": "touch_person", "groups": "touch_group"}.get(listing, "touch_course")
        )(record_id)


def vendor_updated(sandbox: RunningSandbox, listing: str, record_id: Any) -> datetime:
    ds = sandbox.dataset
    if listing in ("Account", "User"):
        stamp: datetime = ds.impartner_table(listing)[record_id].Updated
    else:
        stamp = getattr(ds, listing)[record_id].updated_at
    return stamp


def stored_updated(
    engine: Engine, table: Table, key: Column[Any], updated: str, record_id: Any
) -> Any:
    with engine.connect() as connection:
        return connection.scalar(select(table.c[updated]).where(key == record_id))


def close(a: datetime | None, b: datetime) -> bool:
    return a is not None and abs(a - b) < timedelta(seconds=2)


def prepare(engine: Engine, sandbox: RunningSandbox, listing: str, task: str) -> Any:
    """A full run, then an incremental one that moves the watermark to a fresh change."""
    oldest, newest = oldest_and_newest(sandbox, listing)
    assert run(engine, sandbox, "impartner_sync", "full", **NO_MARGIN).status == "success"
    assert run(engine, sandbox, task, "full", **NO_MARGIN).status == "success"
    touch(sandbox, listing, newest)
    assert run(engine, sandbox, task, "incremental", **NO_MARGIN).status == "success"
    return oldest


@pytest.mark.parametrize(("listing", "task", "table", "key", "updated", "stream"), STREAMS)
def test_a_late_row_within_the_overlap_arrives_with_the_next_incremental_run(
    engine: Engine,
    sandbox: RunningSandbox,
    listing: str,
    task: str,
    table: Table,
    key: Column[Any],
    updated: str,
    stream: str,
) -> None:
    late = prepare(engine, sandbox, listing, task)
    sandbox.set_knobs(late_changes=(LateChange(listing, "touch", lag_seconds=60),))
    outcome = run(engine, sandbox, task, "incremental", **NO_MARGIN)
    assert outcome.status == "success", outcome.error
    stamp = vendor_updated(sandbox, listing, late)
    assert close(stored_updated(engine, table, key, updated, late), stamp)


@pytest.mark.parametrize(("listing", "task", "table", "key", "updated", "stream"), STREAMS)
def test_a_late_row_older_than_the_overlap_is_caught_and_reported_by_the_next_full_run(
    engine: Engine,
    sandbox: RunningSandbox,
    listing: str,
    task: str,
    table: Table,
    key: Column[Any],
    updated: str,
    stream: str,
) -> None:
    late = prepare(engine, sandbox, listing, task)
    sandbox.set_knobs(late_changes=(LateChange(listing, "touch", lag_seconds=900),))
    assert run(engine, sandbox, task, "incremental", **NO_MARGIN).status == "success"
    stamp = vendor_updated(sandbox, listing, late)
    assert not close(stored_updated(engine, table, key, updated, late), stamp)  # out of reach

    full = run(engine, sandbox, task, "full", **NO_MARGIN)
    assert full.status == "success", full.error
    assert close(stored_updated(engine, table, key, updated, late), stamp)
    notes = " ".join(full.report.streams[stream].notes)
    assert "1 changed row(s) dated before the incremental window" in notes
    assert "PARTNERSYNC_WATERMARK_OVERLAP_SECONDS" in notes


def test_without_the_overlap_a_late_row_is_skipped_by_incremental_runs(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    """The mechanism itself: with the overlap set to 0 the row within 60 s is missed."""
    late = prepare(engine, sandbox, "people", "sync_users")
    sandbox.set_knobs(late_changes=(LateChange("people", "touch", lag_seconds=60),))
    run(engine, sandbox, "sync_users", "incremental", PARTNERSYNC_WATERMARK_OVERLAP_SECONDS=0)
    stamp = vendor_updated(sandbox, "people", late)
    assert not close(
        stored_updated(engine, lms_users, lms_users.c.id, "updated_at_lms", late), stamp
    )


def test_the_impartner_margin_adds_to_the_overlap(engine: Engine, sandbox: RunningSandbox) -> None:
    """A row 2 h late is out of the overlap's reach but within a 3 h filter margin."""
    late = prepare(engine, sandbox, "Account", "impartner_sync")
    sandbox.set_knobs(late_changes=(LateChange("Account", "touch", lag_seconds=7200),))
    run(engine, sandbox, "impartner_sync", "incremental", IMPARTNER_FILTER_MARGIN_HOURS=3)
    stamp = vendor_updated(sandbox, "Account", late)
    stored = stored_updated(engine, partners, partners.c.impartner_id, "updated_at_source", late)
    assert close(stored, stamp)
