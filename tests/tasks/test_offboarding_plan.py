"""Who offboarding removes, from stored state alone, and the deletion guard's arithmetic."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Table, insert, update

from partnersync.config import Settings
from partnersync.db.schema import contacts, lms_group_members, lms_groups, partners
from partnersync.db.types import utcnow
from partnersync.tasks.access import Departure
from partnersync.tasks.offboarding import Plan, Removal, RemovalRefused, check, plan

from .conftest import add_partner, add_people

NOW = utcnow()


def member(c: Connection, group: str, email: str, source: str, status: str = "confirmed") -> None:
    c.execute(
        insert(lms_group_members).values(
            group_id=group, user_id=f"u-{email}", status=status, source=source
        )
    )


def left(
    c: Connection, table: Table, hours: float, *, deleted: bool = False, **where: object
) -> None:
    """Store contacts or a partner as inactive (or deleted) since `hours` ago."""
    since = NOW - timedelta(hours=hours)
    c.execute(
        update(table)
        .where(*(table.c[name] == value for name, value in where.items()))
        .values(is_active=False, inactive_since=since, deleted_at=since if deleted else None)
    )


def test_the_plan_removes_who_left_and_keeps_who_still_belongs(engine: Engine) -> None:
    people = ["alice@acme.io", "bob@acme.io", "carol@acme.io", "dave@beta.io", "erin@beta.io"]
    people.append("gina@acme.io")
    with engine.begin() as c:
        add_people(c, *people, "frank@else.io")
        add_partner(
            c, 1, "Acme", ["alice@acme.io", "bob@acme.io", "bob@acme.io", "gina@acme.io"], "g1"
        )
        add_partner(c, 2, "Beta", ["dave@beta.io", "erin@beta.io"], "g2")
        add_partner(c, 3, "Gamma", ["dave@beta.io"], "g3")
        add_partner(c, 4, "Delta", ["carol@acme.io"])
        c.execute(insert(lms_groups).values(id="ap", name="All Partners"))
        c.execute(update(contacts).values(lms_user_id="u-" + contacts.c.email))
        left(c, contacts, 30, email="alice@acme.io")  # left Acme, grace over
        left(c, contacts, 30, impartner_id=102)  # bob's second contact: his first stays
        left(c, contacts, 2, email="carol@acme.io")  # left Delta two hours ago
        left(c, contacts, 30, deleted=True, email="gina@acme.io")  # deleted in Impartner
        left(c, partners, 30, deleted=True, id=2)  # Beta was deleted; dave is Gamma's too
        for group, email, source in [
            ("g1", "alice@acme.io", "contact"),
            ("g1", "bob@acme.io", "manual"),
            ("g1", "gina@acme.io", "suggestion"),
            ("g2", "dave@beta.io", "manual"),
            ("g3", "dave@beta.io", "manual"),
            ("ap", "alice@acme.io", "contact"),
            ("ap", "carol@acme.io", "contact"),
            ("ap", "dave@beta.io", "contact"),
            ("ap", "erin@beta.io", "suggestion"),
            ("ap", "frank@else.io", "manual"),
        ]:
            member(c, group, email, source)
        member(c, "g2", "erin@beta.io", "contact", status="pending")

    def removals(**env: Any) -> tuple[set[tuple[str, str, str]], Plan]:
        with engine.connect() as c:
            found = plan(c, Settings(**env), NOW)
        return {(r.group_id, r.user_id, r.departure.cause) for r in found.removals}, found

    found, made = removals()
    assert found == {
        ("g1", "u-alice@acme.io", "contact_inactive"),
        ("ap", "u-alice@acme.io", "contact_inactive"),
        ("g1", "u-gina@acme.io", "contact_deleted"),
        ("g2", "u-erin@beta.io", "partner_deleted"),  # pending: the add may have landed
        ("ap", "u-erin@beta.io", "partner_deleted"),
    }
    assert made.manual_kept == {("g2", "u-dave@beta.io")}
    assert [d.user_id for d in made.waiting] == ["u-carol@acme.io"]
    assert made.members == Counter({"ap": 5, "g1": 3, "g2": 1, "g3": 1})

    with_manual, _ = removals(PARTNERSYNC_OFFBOARD_MANUAL_MEMBERSHIPS=True)
    assert with_manual == found | {("g2", "u-dave@beta.io", "partner_deleted")}
    later, _ = removals(PARTNERSYNC_OFFBOARD_GRACE_HOURS=1)
    assert ("ap", "u-carol@acme.io", "contact_inactive") in later
    assert not any(user == "u-bob@acme.io" for _, user, _ in later)


def removal(group: str, user: str) -> Removal:
    return Removal(group, user, "contact", Departure(1, user, "contact_inactive", NOW, "left"))


def test_the_guard_counts_each_group_and_every_partner_membership() -> None:
    one_each = Plan(
        removals=[removal(f"g{n}", f"u{n}") for n in range(3)],
        members=Counter({f"g{n}": 2 for n in range(10)}),
    )
    check(one_each, 0.2)  # one member of a group is never a mass removal, even half of it
    with pytest.raises(RemovalRefused, match="refusing to remove 3 of 20 members of all partner"):
        check(one_each, 0.1)

    two = Plan(
        removals=[removal("g1", "u1"), removal("g1", "u2")],
        members=Counter({"g1": 5, "g2": 95}),
        group_names={"g1": "ptr_Acme"},
    )
    with pytest.raises(
        RemovalRefused, match=r"2 of 5 members of group ptr_Acme \(g1\) \(40% > 20%"
    ):
        check(two, 0.2)
    check(two, 0.4)
    check(two, None)  # lifted: --allow-mass-delete
