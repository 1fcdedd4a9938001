"""The one certification rule, on hand-made rows covering every case it must get right."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from partnersync.db.schema import (
    certification_category_rules,
    contacts,
    lms_courses,
    lms_enrollments,
    lms_group_members,
    lms_groups,
    lms_users,
    partners,
)
from partnersync.db.types import utcnow
from partnersync.sync.certifications import (
    CategoryRule,
    Held,
    Totals,
    assign_categories,
    category_of,
    category_rules,
    certification_totals,
    counted_by_user,
    not_counted_reason,
    partner_members,
)
from tests.conftest import inserted_id

NOW = utcnow()


def seed(engine: Engine) -> dict[str, int]:
    with engine.begin() as c:
        ids: dict[str, int] = {}
        for name, active, deleted in (
            ("P1", True, None),
            ("P2", True, None),
            ("P3", False, None),
            ("P4", True, NOW),
            ("P5", True, None),
        ):
            ids[name] = inserted_id(
                c.execute(
                    insert(partners).values(
                        impartner_id=len(ids) + 1,
                        account_name=name,
                        is_active=active,
                        deleted_at=deleted,
                    )
                )
            )
        c.execute(
            insert(lms_groups),
            [
                {"id": "G1a", "name": "P1", "partner_id": ids["P1"]},
                {"id": "G1b", "name": "ptr_P1", "partner_id": ids["P1"]},
                {"id": "G2", "name": "P2", "partner_id": ids["P2"]},
                {"id": "G3", "name": "P3", "partner_id": ids["P3"]},
                {"id": "G4", "name": "P4", "partner_id": ids["P4"]},
            ],
        )
        c.execute(
            insert(lms_users),
            [
                {"id": user, "email": f"{user}@x.com", "deleted_at": NOW if user == "U6" else None}
                for user in ("U1", "U2", "U3", "U4", "U5", "U6", "U7")
            ],
        )
        member: list[dict[str, Any]] = [
            {"group_id": g, "user_id": u, "status": "confirmed"}
            for g, u in (
                ("G1a", "U1"),
                ("G1b", "U1"),  # one user in two groups of one partner
                ("G1a", "U2"),  # also a contact of P1
                ("G1a", "U3"),
                ("G2", "U3"),  # one user in two partners
                ("G3", "U4"),  # inactive partner
                ("G1a", "U6"),  # deleted user
                ("G4", "U7"),  # deleted partner
            )
        ]
        member.append({"group_id": "G1a", "user_id": "U5", "status": "pending"})
        c.execute(insert(lms_group_members), member)
        c.execute(
            insert(contacts).values(
                impartner_id=1, email="U2@x.com", partner_id=ids["P1"], lms_user_id="U2"
            )
        )
        c.execute(
            insert(lms_courses),
            [
                {"id": "C0", "name": "Intro", "npcu_value": 0, "certification_category": None},
                {"id": "C1", "name": "Expert", "npcu_value": 2, "certification_category": None},
                {"id": "C2", "name": "Advanced", "npcu_value": 1, "certification_category": None},
                {
                    "id": "C3",
                    "name": "K2 Specialist",
                    "npcu_value": 1,
                    "certification_category": "k2",
                },
            ],
        )
        past, future = NOW - timedelta(days=1), NOW + timedelta(days=30)
        rows = [
            ("e1", "U1", "C1", "completed", None, None),
            ("e1b", "U1", "C1", "completed", None, None),  # the same course twice
            ("e2", "U2", "C2", "completed", past, None),  # expired
            ("e3", "U2", "C3", "completed", future, None),  # expires later
            ("e4", "U2", "C1", "completed", None, NOW),  # deleted enrollment
            ("e5", "U3", "C1", "completed", None, None),
            ("e6", "U3", "C0", "completed", None, None),  # worth no NPCU
            ("e7", "U1", "C2", "in_progress", None, None),
            ("e8", "U4", "C1", "completed", None, None),
            ("e9", "U5", "C1", "completed", None, None),
            ("e10", "U6", "C1", "completed", None, None),
            ("e11", "U7", "C1", "completed", None, None),
        ]
        c.execute(
            insert(lms_enrollments),
            [
                {
                    "id": i,
                    "user_id": u,
                    "course_id": course,
                    "status": status,
                    "completed_at": NOW - timedelta(days=3),
                    "expires_at": expires,
                    "deleted_at": deleted,
                }
                for i, u, course, status, expires, deleted in rows
            ],
        )
    return ids


def test_distinct_live_unexpired_pairs_per_active_partner(engine: Engine) -> None:
    ids = seed(engine)
    with engine.connect() as connection:
        totals = certification_totals(connection, NOW)
    assert totals == {
        ids["P1"]: Totals(3, 5, {"k2": 1}),  # (U1,C1) (U2,C3) (U3,C1)
        ids["P2"]: Totals(1, 2, {}),  # (U3,C1): a user of two partners counts for both
        ids["P5"]: Totals(),  # active without users: zeros
    }


def test_expiry_is_judged_at_the_given_instant(engine: Engine) -> None:
    ids = seed(engine)
    with engine.connect() as connection:
        later = certification_totals(connection, NOW + timedelta(days=31))
    assert later[ids["P1"]] == Totals(2, 4, {})


def test_category_rules_by_priority_then_order() -> None:
    rules = [
        CategoryRule("automation cloud", "nac", 5),
        CategoryRule("nintex", "nintex_ce"),
        CategoryRule("cloud", "cloud"),
    ]
    assert category_of("Nintex Automation Cloud: Expert", rules) == "nac"
    assert category_of("NINTEX RPA", rules) == "nintex_ce"
    assert category_of("Other cloud", rules) == "cloud"
    assert category_of("K2 basics", rules) is None


def test_assign_categories_from_table_and_setting(engine: Engine) -> None:
    seed(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(certification_category_rules).values(
                pattern="expert", category="expert", priority=1
            )
        )
        rules = category_rules(connection, {"k2": ["K2"], "adv": ["advanced", "expert"]})
        assert [rule.category for rule in rules] == ["expert", "k2", "adv", "adv"]
        assert assign_categories(connection, rules) == 2  # C1 and C2; C3 already k2
        assert assign_categories(connection, rules) == 0
        stored = {
            row.id: row.certification_category
            for row in connection.execute(
                select(lms_courses.c.id, lms_courses.c.certification_category)
            )
        }
    assert stored == {"C0": None, "C1": "expert", "C2": "adv", "C3": "k2"}


def test_no_rules_leave_categories_alone(engine: Engine) -> None:
    seed(engine)
    with engine.begin() as connection:
        assert assign_categories(connection, category_rules(connection, {})) == 0
        assert (
            connection.scalar(
                select(lms_courses.c.certification_category).where(lms_courses.c.id == "C3")
            )
            == "k2"
        )


def test_a_certification_expiring_at_this_very_instant_no_longer_counts(engine: Engine) -> None:
    ids = seed(engine)
    expiry = NOW + timedelta(days=30)  # e3's (U2, C3)
    with engine.connect() as connection:
        at_expiry = certification_totals(connection, expiry)
        just_before = certification_totals(connection, expiry - timedelta(microseconds=1))
    assert at_expiry[ids["P1"]] == Totals(2, 4, {})
    assert just_before[ids["P1"]] == Totals(3, 5, {"k2": 1})


def test_table_rules_come_by_priority_then_by_insertion(engine: Engine) -> None:
    with engine.begin() as connection:
        for pattern, category, priority in (
            ("low", "first-low", 0),
            ("high", "high", 3),
            ("low", "second-low", 0),
            ("mid", "mid", 2),
        ):
            connection.execute(
                insert(certification_category_rules).values(
                    pattern=pattern, category=category, priority=priority
                )
            )
        rules = category_rules(connection, {"setting": ["x"]})
    assert [(r.category, r.priority) for r in rules] == [
        ("high", 3),
        ("mid", 2),
        ("first-low", 0),
        ("second-low", 0),
        ("setting", 0),
    ]


def test_each_user_holds_one_certification_per_course_with_its_latest_expiry(
    engine: Engine,
) -> None:
    """Per user and course: one certification; it never expires when any completion never
    does, else it lasts as long as the latest. Two courses of equal worth stay two. The query
    also holds under MariaDB's ONLY_FULL_GROUP_BY, which some servers are configured with."""
    seed(engine)
    soon, later = NOW + timedelta(days=10), NOW + timedelta(days=40)
    with engine.begin() as c:
        c.execute(insert(lms_courses).values(id="C4", name="Advanced II", npcu_value=1))
        c.execute(
            insert(lms_enrollments),
            [
                {
                    "id": i,
                    "user_id": "U3",
                    "course_id": course,
                    "status": "completed",
                    "completed_at": NOW - timedelta(days=2),
                    "expires_at": expires,
                }
                for i, course, expires in (
                    ("f1", "C2", soon),
                    ("f2", "C2", later),  # the latest expiry wins
                    ("f3", "C4", later),
                    ("f4", "C4", None),  # ...unless one completion never expires
                )
            ],
        )
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            connection.exec_driver_sql(
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ONLY_FULL_GROUP_BY')"
            )
        chosen = counted_by_user(connection, NOW, {"U3"})
        everyone = counted_by_user(connection, NOW)
    assert list(chosen) == ["U3"]
    assert sorted(chosen["U3"], key=lambda held: held.course_id) == [
        Held("C1", 2, None, None),
        Held("C2", 1, None, later),
        Held("C4", 1, None, None),
    ]
    assert sorted(everyone) == ["U1", "U2", "U3", "U4", "U5", "U6", "U7"]
    assert everyone["U2"] == [Held("C3", 1, "k2", NOW + timedelta(days=30))]


def test_each_enrollment_that_does_not_count_names_its_first_reason(engine: Engine) -> None:
    seed(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            select(lms_enrollments.c.id, not_counted_reason(NOW)).join(
                lms_courses, lms_courses.c.id == lms_enrollments.c.course_id
            )
        ).tuples()
        reasons: dict[str, str | None] = {enrollment: reason for enrollment, reason in rows}
    assert reasons["e1"] is None
    assert reasons["e7"] == "not completed"
    assert reasons["e4"] == "enrollment removed in Northpass"
    assert reasons["e2"] == "expired"
    assert reasons["e6"] == "course worth no NPCU"


def test_the_members_of_one_partner_are_its_own_and_no_one_elses(engine: Engine) -> None:
    ids = seed(engine)
    with engine.connect() as connection:
        everyone = partner_members(connection)
        one = partner_members(connection, ids["P2"])
    assert set(everyone) >= {ids["P1"], ids["P2"]}
    assert dict(one) == {ids["P2"]: everyone[ids["P2"]]}
