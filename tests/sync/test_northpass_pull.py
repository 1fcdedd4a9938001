"""People, courses and NPCU against the sandbox over loopback, on SQLite and MariaDB."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Row, select

from partnersync.db.schema import lms_courses, lms_users, sync_logs, sync_state
from partnersync.sandbox.knobs import MutationAction, PageMutation
from partnersync.sandbox.server import RunningSandbox

from .conftest import run


def people_in_db(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(lms_users)).all()
    return {row.id: (row.email, row.first_name, row.last_name, row.status) for row in rows}


def people_in_sandbox(sb: RunningSandbox) -> dict[str, tuple[Any, ...]]:
    expected = {}
    for person in sb.dataset.people.values():
        email = person.email.strip().lower() if person.email else None
        status = "deactivated" if person.deactivated_at or person.disabled else "active"
        expected[person.id] = (email or None, person.first_name, person.last_name, status)
    return expected


def watermark(engine: Engine, stream: str) -> Any:
    with engine.connect() as connection:
        return connection.scalar(
            select(sync_state.c.watermark).where(sync_state.c.stream == stream)
        )


def last_log(engine: Engine) -> Row[Any]:
    with engine.connect() as connection:
        row = connection.execute(select(sync_logs).order_by(sync_logs.c.id.desc())).first()
    assert row is not None, "no sync_logs row"
    return row


def test_full_then_incremental_people_converge_with_the_sandbox(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    assert run(engine, sandbox, "sync_users", "full").status == "success"
    assert people_in_db(engine) == people_in_sandbox(sandbox)
    first_mark = watermark(engine, "northpass.people")
    assert first_mark is not None

    ds = sandbox.dataset
    some = sorted(ds.people)[:3]
    ds.update_person(some[0], first_name="Zoë", last_name="Ångström")
    ds.update_person(some[1], deactivated_at=ds.now())
    ds.add_person("  New.Person@Example.COM ", "New", "Person")
    outcome = run(engine, sandbox, "sync_users")
    assert outcome.status == "success"
    assert people_in_db(engine) == people_in_sandbox(sandbox)
    assert outcome.report.total("created") == 1
    assert watermark(engine, "northpass.people") >= first_mark


def test_next_links_relative_to_the_api_root_are_followed(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    sandbox.set_knobs(northpass_next_link_style="relative")
    outcome = run(engine, sandbox, "sync_users", "full", NORTHPASS_PAGE_SIZE=7)
    assert outcome.status == "success", outcome.error
    assert people_in_db(engine) == people_in_sandbox(sandbox)
    pages = sandbox.stats()["routes"]["GET /v2/people"]["total"]
    assert pages == -(-len(sandbox.dataset.people) // 7)  # every page once, none twice


def test_full_sync_soft_deletes_the_missing_and_undeletes_the_returning(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    ds = sandbox.dataset
    gone_id = sorted(ds.people)[0]
    gone = ds.people[gone_id]
    ds.delete_person(gone_id)
    outcome = run(engine, sandbox, "sync_users", "full")
    assert outcome.report.total("deleted") == 1
    with engine.connect() as connection:
        row = connection.execute(select(lms_users).where(lms_users.c.id == gone_id)).one()
    assert row.status == "deleted" and row.deleted_at is not None and row.email is not None

    ds.add_person(gone.email, gone.first_name, gone.last_name, id=gone_id)
    run(engine, sandbox, "sync_users", "incremental")
    with engine.connect() as connection:
        row = connection.execute(select(lms_users).where(lms_users.c.id == gone_id)).one()
    assert (row.status, row.deleted_at) == ("active", None)


def test_a_sweep_above_the_share_is_refused_and_deletes_nothing(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    ds = sandbox.dataset
    for person_id in sorted(ds.people)[: len(ds.people) // 3]:
        ds.delete_person(person_id)
    mark = watermark(engine, "northpass.people")
    outcome = run(engine, sandbox, "sync_users", "full")
    assert outcome.status == "failed"
    assert "refusing to soft-delete" in (outcome.error or "")
    assert all(status != "deleted" for *_, status in people_in_db(engine).values())
    assert watermark(engine, "northpass.people") == mark


def test_a_failed_run_leaves_watermark_and_data_as_they_were(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    before, mark = people_in_db(engine), watermark(engine, "northpass.people")
    sandbox.dataset.update_person(sorted(sandbox.dataset.people)[0], first_name="Changed")
    sandbox.set_knobs(fault_5xx_share=1.0)
    outcome = run(engine, sandbox, "sync_users", "incremental", PARTNERSYNC_HTTP_MAX_ATTEMPTS=2)
    assert outcome.status == "failed"
    assert "GET " in (outcome.error or "") and sandbox.northpass_key not in (outcome.error or "")
    assert people_in_db(engine) == before
    assert watermark(engine, "northpass.people") == mark
    assert last_log(engine).status == "failed"


@pytest.mark.parametrize("action", ["touch", "insert", "delete"])
def test_changes_between_page_requests_are_caught_up_by_the_next_run(
    engine: Engine, sandbox: RunningSandbox, action: MutationAction
) -> None:
    """Offset paging shifts rows when data changes mid-read; the next incremental fixes it."""
    sandbox.set_knobs(
        page_mutations=(PageMutation("people", after_page=1, action=action, count=2),)
    )
    run(engine, sandbox, "sync_users", "full", NORTHPASS_PAGE_SIZE=10)
    sandbox.set_knobs(page_mutations=())
    run(engine, sandbox, "sync_users", "incremental", NORTHPASS_PAGE_SIZE=10)
    run(engine, sandbox, "sync_users", "full", NORTHPASS_PAGE_SIZE=10)
    live = {key: value for key, value in people_in_db(engine).items() if value[3] != "deleted"}
    assert live == people_in_sandbox(sandbox)


def test_updates_in_the_watermark_second_are_not_missed(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    ds = sandbox.dataset
    mark = watermark(engine, "northpass.people")
    ids = sorted(ds.people)[:4]
    with ds.change():  # edited in place: the sandbox would stamp `now` on an update
        for person_id in ids:
            ds.people[person_id].first_name = "Same-second"
            ds.people[person_id].updated_at = mark
    run(engine, sandbox, "sync_users", "incremental", PARTNERSYNC_WATERMARK_OVERLAP_SECONDS=0)
    assert {people_in_db(engine)[i][1] for i in ids} == {"Same-second"}


def test_courses_and_npcu_match_the_sandbox_and_bad_values_are_reported(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    assert run(engine, sandbox, "sync_courses", "full").status == "success"
    outcome = run(engine, sandbox, "sync_npcu", "full")
    assert outcome.status == "success"
    ds = sandbox.dataset
    with engine.connect() as connection:
        stored = {row.id: row for row in connection.execute(select(lms_courses))}
    assert set(stored) == set(ds.courses)
    invalid = 0
    for course_id, course in ds.courses.items():
        assert stored[course_id].name == course.name
        raw: Any = ds.course_properties[course_id].get("npcu")
        if course_id in ds.forbidden_property_ids:
            continue
        if raw in (None, ""):
            assert stored[course_id].npcu_value == 0
        elif str(raw).strip().isdigit() and int(raw) in (0, 1, 2):
            assert stored[course_id].npcu_value == int(raw)
        else:
            invalid += 1
            assert stored[course_id].npcu_value == 0
    forbidden = len(set(ds.courses) & ds.forbidden_property_ids)
    assert outcome.report.total("failed") == invalid + forbidden
    assert invalid and forbidden


def test_watermark_never_passes_the_run_start(engine: Engine, sandbox: RunningSandbox) -> None:
    ds = sandbox.dataset
    with ds.change():  # a clock running ahead of ours
        ds.people[sorted(ds.people)[0]].updated_at = ds.now() + timedelta(days=3)
    outcome = run(engine, sandbox, "sync_users", "full")
    assert watermark(engine, "northpass.people") == outcome.started_at


def test_a_value_too_long_for_its_column_skips_that_record_only(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "sync_users", "full")
    ds = sandbox.dataset
    long_id = sorted(ds.people)[0]
    ds.update_person(long_id, first_name="Ä" * 300)
    ds.add_person("fresh@example.com", "Fresh", "Person")
    outcome = run(engine, sandbox, "sync_users", "full")
    assert outcome.status == "success"
    assert outcome.report.total("failed") == 1
    assert "first_name: 300 characters" in outcome.report.streams["northpass.people"].examples[0]
    stored = people_in_db(engine)
    assert stored[long_id][1] != "Ä" * 300 and stored[long_id][3] != "deleted"
    assert "fresh@example.com" in {value[0] for value in stored.values()}
