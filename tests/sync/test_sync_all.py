"""Every pull task together: after `sync all --full` and after churn + incremental runs,
the database holds what the sandbox holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from partnersync.db.schema import (
    contacts,
    lms_courses,
    lms_enrollments,
    lms_group_members,
    lms_groups,
    lms_users,
    partners,
)
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.partner_users import partner_user_ids

from .conftest import pull_everything


def live(engine: Engine, table: Any, *columns: Any) -> set[Any]:
    query = select(*columns).where(table.c.deleted_at.is_(None))
    with engine.connect() as connection:
        return {tuple(row) if len(row) > 1 else row[0] for row in connection.execute(query)}


def assert_mirrors(engine: Engine, sb: RunningSandbox) -> None:
    ds = sb.dataset
    assert live(engine, lms_users, lms_users.c.id) == set(ds.people)
    assert live(engine, lms_courses, lms_courses.c.id) == set(ds.courses)
    named = {gid for gid, group in ds.groups.items() if group.name}
    assert live(engine, lms_groups, lms_groups.c.id) == named
    assert live(engine, partners, partners.c.impartner_id) == set(ds.accounts)
    assert live(engine, contacts, contacts.c.impartner_id) == set(ds.users)

    with engine.connect() as connection:
        linked = set(
            connection.scalars(select(lms_groups.c.id).where(lms_groups.c.partner_id.is_not(None)))
        )
        partner_people = set(connection.scalars(partner_user_ids()))
    members = live(
        engine, lms_group_members, lms_group_members.c.group_id, lms_group_members.c.user_id
    )
    expected_members = {(gid, pid) for gid in linked for pid in ds.memberships.get(gid, {})}
    assert {pair for pair in members if pair[0] in linked} == expected_members

    expected_enrollments = {
        item.id
        for pid in partner_people
        for item in ds.transcripts.get(pid, [])
        if item.resource_type == "course" and not isinstance(item.completed_at, str)
    }
    stored = live(engine, lms_enrollments, lms_enrollments.c.id)
    assert expected_enrollments <= stored


def test_full_then_churn_and_incremental_converge(engine: Engine, sandbox: RunningSandbox) -> None:
    pull_everything(engine, sandbox, "full")
    assert_mirrors(engine, sandbox)

    ds = sandbox.dataset
    people = sorted(ds.people)
    ds.update_person(people[0], last_name="Ørsted")
    ds.add_person("late.joiner@example.org", "Late", "Joiner")
    learner = next(pid for pid in sorted(ds.transcripts) if pid in ds.people)
    ds.add_completion(learner, sorted(ds.courses)[0])
    ds.touch_account(sorted(ds.accounts)[0])
    ds.add_user("new.contact@example.org", "New", "Contact", Account=sorted(ds.accounts)[0])
    ds.delete_user(sorted(ds.users)[1])
    group = sorted(ds.groups)[0]
    ds.add_membership(group, people[2])

    pull_everything(engine, sandbox, "incremental")
    with engine.connect() as connection:
        renamed = connection.scalar(
            select(lms_users.c.last_name).where(lms_users.c.id == people[0])
        )
    assert renamed == "Ørsted"

    ds.delete_person(people[1])
    pull_everything(engine, sandbox, "full")
    assert_mirrors(engine, sandbox)
