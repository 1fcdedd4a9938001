"""Transcripts of partner users only, full and incremental, against the sandbox."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from partnersync.db.schema import lms_enrollments, lms_group_members, lms_groups, partners
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from tests.conftest import inserted_id

from .conftest import run


def make_partner_users(engine: Engine, sb: RunningSandbox, count: int) -> list[str]:
    """Link a group of `count` people who have transcripts to a partner, as sync_groups would."""
    people = sorted(pid for pid in sb.dataset.transcripts if pid in sb.dataset.people)[:count]
    with engine.begin() as connection:
        partner_id = inserted_id(
            connection.execute(
                insert(partners).values(impartner_id=990001, account_name="Acme", is_active=True)
            )
        )
        connection.execute(
            insert(lms_groups).values(
                id="group-acme", name="Acme", partner_id=partner_id, partner_link="manual"
            )
        )
        connection.execute(
            insert(lms_group_members),
            [
                {
                    "group_id": "group-acme",
                    "user_id": pid,
                    "status": "confirmed",
                    "added_at": utcnow() - timedelta(minutes=5),
                }
                for pid in people
            ],
        )
    return people


def expected_enrollments(sb: RunningSandbox, people: list[str]) -> dict[str, tuple[Any, ...]]:
    expected = {}
    for person_id in people:
        for item in sb.dataset.transcripts.get(person_id, []):
            if item.resource_type == "course" and not isinstance(item.completed_at, str):
                expected[item.id] = (
                    person_id,
                    item.resource_id,
                    item.progress_status,
                    item.completed_at,
                    item.expires_at,
                )
    return expected


def stored_enrollments(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(lms_enrollments).where(lms_enrollments.c.deleted_at.is_(None))
        ).all()
    return {
        row.id: (row.user_id, row.course_id, row.status, row.completed_at, row.expires_at)
        for row in rows
    }


def transcript_requests(sb: RunningSandbox) -> int:
    routes = sb.stats()["routes"]
    return sum(entry["total"] for route, entry in routes.items() if "transcripts" in route)


def test_full_reads_partner_users_only_and_counts_malformed_items(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    people = make_partner_users(engine, sandbox, 8)
    sandbox.reset_counters()
    outcome = run(engine, sandbox, "sync_enrollments", "full")
    assert outcome.status == "success"
    assert stored_enrollments(engine) == expected_enrollments(sandbox, people)
    assert transcript_requests(sandbox) == len(people)
    malformed = sum(
        isinstance(item.completed_at, str)
        for pid in people
        for item in sandbox.dataset.transcripts.get(pid, [])
    )
    assert outcome.report.total("failed") == malformed


def test_incremental_reads_only_users_whose_enrollments_may_have_changed(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    people = make_partner_users(engine, sandbox, 8)
    run(engine, sandbox, "sync_enrollments", "full")

    sandbox.reset_counters()
    run(engine, sandbox, "sync_enrollments")
    assert transcript_requests(sandbox) == 0

    ds = sandbox.dataset
    course_id = next(cid for cid in sorted(ds.courses) if people[0] not in ds.enrollments[cid])
    ds.add_completion(people[0], course_id)
    run(engine, sandbox, "sync_users")
    sandbox.reset_counters()
    outcome = run(engine, sandbox, "sync_enrollments")
    assert outcome.status == "success"
    assert transcript_requests(sandbox) == 1
    assert stored_enrollments(engine) == expected_enrollments(sandbox, people)


def test_incremental_enrollments_alone_pick_up_a_completion(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    """Without `sync_users` first: the task lists the people changed since its own watermark."""
    run(engine, sandbox, "sync_users", "full")
    people = make_partner_users(engine, sandbox, 8)
    run(engine, sandbox, "sync_enrollments", "full")
    ds = sandbox.dataset
    course_id = next(cid for cid in sorted(ds.courses) if people[0] not in ds.enrollments[cid])
    ds.add_completion(people[0], course_id)
    ds.add_completion(sorted(set(ds.people) - set(people))[0], course_id)  # not a partner user
    time.sleep(1.1)  # the run starts a second later: activity in its first second is read again
    sandbox.reset_counters()

    outcome = run(engine, sandbox, "sync_enrollments")

    assert outcome.status == "success"
    assert transcript_requests(sandbox) == 1
    assert sandbox.stats()["routes"]["GET /v2/people"]["total"] == 1  # one page of changes
    assert stored_enrollments(engine) == expected_enrollments(sandbox, people)
    sandbox.reset_counters()
    run(engine, sandbox, "sync_enrollments")  # the watermark moved: nothing to read again
    assert transcript_requests(sandbox) == 0


def test_items_gone_from_a_transcript_are_soft_deleted(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    people = make_partner_users(engine, sandbox, 4)
    run(engine, sandbox, "sync_enrollments", "full")
    ds = sandbox.dataset
    person = next(
        pid
        for pid in people
        if any(
            i.resource_type == "course" and not isinstance(i.completed_at, str)
            for i in ds.transcripts.get(pid, [])
        )
    )
    with ds.change():
        removed = next(
            i
            for i in ds.transcripts[person]
            if i.resource_type == "course" and not isinstance(i.completed_at, str)
        )
        ds.transcripts[person].remove(removed)
        ds.enrollments[removed.resource_id].pop(person, None)
    outcome = run(engine, sandbox, "sync_enrollments", "full")
    assert outcome.report.total("deleted") == 1
    assert removed.id not in stored_enrollments(engine)
    assert stored_enrollments(engine) == expected_enrollments(sandbox, people)
