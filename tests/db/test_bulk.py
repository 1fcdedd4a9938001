"""The bulk writer against a plain-Python model, on SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from partnersync.db.bulk import (
    Key,
    SweepRefused,
    WriteCounts,
    _row_fault,
    check_sweep,
    refusal,
    soft_delete_keys,
    sweep_candidates,
    upsert,
)
from partnersync.db.schema import lms_courses, lms_group_members, lms_users, partners
from tests.conftest import empty_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def soft_delete_missing(
    connection: Connection,
    table: Table,
    seen: Collection[Key],
    *,
    now: datetime,
    scope: ColumnElement[bool] | None = None,
    max_share: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """A sweep as the syncs compose it: candidates, the guard, then the soft-delete."""
    missing, active = sweep_candidates(connection, table, seen, scope=scope)
    check_sweep(table.name, len(missing), active, max_share)
    return soft_delete_keys(connection, table, missing, now=now, extra=extra)


NOW = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def course(
    id: str, name: str = "Course", npcu: int = 0, updated: datetime | None = T0
) -> dict[str, Any]:
    return {"id": id, "name": name, "status": "live", "npcu_value": npcu, "updated_at_lms": updated}


def stored_courses(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(lms_courses)).all()
    return {
        row.id: (
            row.name,
            row.status,
            row.npcu_value,
            row.updated_at_lms,
            row.deleted_at is not None,
        )
        for row in rows
    }


def test_counts_created_updated_unchanged_and_undeleted(engine: Engine) -> None:
    with engine.begin() as connection:
        first = upsert(connection, lms_courses, [course("a"), course("b"), course("c")])
        assert first == WriteCounts(created=3)
        soft_delete_missing(connection, lms_courses, {("a",), ("b",)}, now=NOW)
        second = upsert(connection, lms_courses, [course("a"), course("b", npcu=2), course("c")])
    assert second == WriteCounts(updated=2, unchanged=1, undeleted=1)
    assert stored_courses(engine)["b"] == ("Course", "live", 2, T0, False)


def test_timestamps_round_trip_exactly_so_unchanged_rows_stay_unchanged(engine: Engine) -> None:
    instant = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    naive = datetime(2026, 3, 4, 5, 6, 7, 890123)
    with engine.begin() as connection:
        upsert(connection, lms_courses, [course("a", updated=instant)])
        again = upsert(connection, lms_courses, [course("a", updated=naive)])
    assert again == WriteCounts(unchanged=1)
    assert stored_courses(engine)["a"][3] == instant


def test_unicode_and_composite_keys(engine: Engine) -> None:
    rows = [{"group_id": "g", "user_id": f"u{i}", "status": "confirmed"} for i in range(3)]
    with engine.begin() as connection:
        assert upsert(connection, lms_courses, [course("ü", name="Zürich — 東京")]).created == 1
        assert upsert(connection, lms_group_members, rows).created == 3
        rows[1]["status"] = "pending"
        assert upsert(connection, lms_group_members, rows) == WriteCounts(updated=1, unchanged=2)
        gone = soft_delete_missing(
            connection,
            lms_group_members,
            {("g", "u0")},
            now=NOW,
            scope=lms_group_members.c.group_id == "g",
        )
    assert gone == 2
    assert stored_courses(engine)["ü"][0] == "Zürich — 東京"


def test_sweep_refused_above_the_share_changes_nothing(engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, lms_courses, [course(str(i)) for i in range(10)])
    with pytest.raises(SweepRefused, match="3 of 10"), engine.begin() as connection:
        soft_delete_missing(
            connection, lms_courses, {(str(i),) for i in range(7)}, now=NOW, max_share=0.2
        )
    assert not any(row[4] for row in stored_courses(engine).values())
    with engine.begin() as connection:
        gone = soft_delete_missing(
            connection,
            lms_courses,
            {(str(i),) for i in range(8)},
            now=NOW,
            max_share=0.2,
        )
    assert gone == 2


def test_sweep_sets_extra_columns(engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, lms_courses, [course("a"), course("b")])
        soft_delete_missing(connection, lms_courses, {("a",)}, now=NOW, extra={"status": "deleted"})
    assert stored_courses(engine)["b"][1:] == ("deleted", 0, T0, True)


def test_rows_must_share_columns(engine: Engine) -> None:
    with pytest.raises(ValueError, match="same columns"), engine.begin() as connection:
        upsert(connection, lms_courses, [course("a"), {"id": "b", "name": "x"}])


# --- property test: random batches and sweeps against a dict model ---------------------

ids = st.sampled_from(["a", "b", "c", "d", "e", "f"])
rows = st.builds(
    course,
    ids,
    name=st.sampled_from(["Intro", "Advanced", "Ärger", "x" * 300]),
    npcu=st.integers(0, 2),
    updated=st.sampled_from([None, T0, T0 + timedelta(seconds=1, microseconds=5)]),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.lists(rows, min_size=1, max_size=8)),
        st.tuples(st.just("sweep"), st.sets(ids)),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations, batch_size=st.integers(1, 5))
def test_matches_a_plain_python_model(
    engine: Engine, ops: list[tuple[str, Any]], batch_size: int
) -> None:
    with engine.begin() as connection:
        connection.execute(delete(lms_courses))
    model: dict[str, tuple[Any, ...]] = {}
    for kind, payload in ops:
        with engine.begin() as connection:
            if kind == "upsert":
                expected = WriteCounts()
                batches = [payload[i : i + batch_size] for i in range(0, len(payload), batch_size)]
                for batch in batches:
                    latest = {row["id"]: row for row in batch}
                    for id, row in latest.items():
                        new = (row["name"], "live", row["npcu_value"], row["updated_at_lms"], False)
                        old = model.get(id)
                        if old is None:
                            expected.created += 1
                        elif old == new:
                            expected.unchanged += 1
                        else:
                            expected.updated += 1
                            expected.undeleted += old[4]
                        model[id] = new
                got = upsert(connection, lms_courses, payload, batch_size=batch_size)
                assert got == expected
            else:
                active = {id for id, row in model.items() if not row[4]}
                missing = active - payload
                for id in missing:
                    model[id] = (*model[id][:4], True)
                got_deleted = soft_delete_missing(
                    connection, lms_courses, {(id,) for id in payload}, now=NOW
                )
                assert got_deleted == len(missing)
        assert stored_courses(engine) == model


def test_opaque_ids_differing_in_case_or_a_trailing_space_are_different_rows(
    engine: Engine,
) -> None:
    ids = ["abc", "ABC", "abc ", "Äbc", "äbc"]
    with engine.begin() as connection:
        counts = upsert(connection, lms_users, [{"id": i, "status": "active"} for i in ids])
    assert counts.created == len(ids)
    with engine.begin() as connection:
        again = upsert(connection, lms_users, [{"id": i, "status": "active"} for i in ids])
        stored = sorted(connection.scalars(select(lms_users.c.id)))
    assert (again.unchanged, stored) == (len(ids), sorted(ids))


class DriverError(Exception):
    """What a DB-API driver raises: its args are the server's (code, message) or a text."""


def test_only_a_rows_own_fault_is_isolated() -> None:
    def db(error: type[Any], *args: Any, invalidated: bool = False) -> Any:
        return error("INSERT …", {}, DriverError(*args), connection_invalidated=invalidated)

    assert _row_fault(UnicodeEncodeError("utf-8", "x", 0, 1, "bad"))
    assert _row_fault(OverflowError())
    assert _row_fault(db(OperationalError, 1406, "Data too long for column 'name'"))
    assert _row_fault(db(IntegrityError, 1062, "Duplicate entry"))
    assert not _row_fault(db(OperationalError, 2013, "Lost connection"))
    assert not _row_fault(db(OperationalError, 1406, "too long", invalidated=True))
    assert _row_fault(db(IntegrityError, "UNIQUE constraint failed: lms_courses.id"))  # SQLite
    assert not _row_fault(db(OperationalError, "database is locked"))
    assert not _row_fault(db(OperationalError))  # no args at all
    assert _row_fault(StatementError("bind", "INSERT …", {}, ValueError("bad value")))
    assert not _row_fault(StatementError("bind", "INSERT …", {}, RuntimeError("driver")))
    assert not _row_fault(RuntimeError("anything else"))


def test_a_refusal_names_the_database_error_without_its_prefix() -> None:
    refused = IntegrityError("INSERT …", {}, DriverError(1062, "Duplicate entry 'x'"))
    reason = refusal(refused)
    assert reason.startswith("refused by the database: DriverError 1062")  # the driver class
    assert "database error" not in reason and "INSERT" not in reason


def test_a_refused_sweep_says_how_much_and_how_to_let_it_through() -> None:
    refused = SweepRefused("lms_users", 5, 10, 0.1)
    assert (refused.missing, refused.active) == (5, 10)
    assert "refusing to soft-delete 5 of 10 active lms_users rows (50% > 10% allowed)" in str(
        refused
    )
    assert str(refused).endswith(
        "may be incomplete; if the deletions are real, run once with --allow-mass-delete"
    )


KEY_ONLY = Table(
    "bulk_key_only",
    MetaData(),
    Column("left_id", String(8), primary_key=True),
    Column("right_id", String(8), primary_key=True),
)


@pytest.fixture
def key_only(engine: Engine) -> Iterator[Engine]:
    """A table of key columns alone and without `deleted_at`: no partnersync table is one
    today, but the writer has its own statement for it."""
    KEY_ONLY.create(engine)
    yield engine
    KEY_ONLY.drop(engine)


def key_only_rows(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(KEY_ONLY)).tuples().all())


def test_rows_of_key_columns_only_are_inserted_once(key_only: Engine) -> None:
    with key_only.begin() as connection:
        first = upsert(connection, KEY_ONLY, [{"left_id": "a", "right_id": r} for r in "12"])
        again = upsert(
            connection,
            KEY_ONLY,
            [{"left_id": "a", "right_id": "1"}, {"left_id": "b", "right_id": "1"}],
        )
    assert first == WriteCounts(created=2)
    assert again == WriteCounts(created=1, unchanged=1)
    assert key_only_rows(key_only) == [("a", "1"), ("a", "2"), ("b", "1")]


@pytest.fixture
def mariadb_key_only(mariadb_engine: Engine) -> Iterator[Engine]:
    """MariaDB only: SQLite neither enforces a length nor lets a second writer in meanwhile."""
    empty_database(mariadb_engine)
    KEY_ONLY.create(mariadb_engine)
    yield mariadb_engine
    KEY_ONLY.drop(mariadb_engine)


def test_an_overlong_key_of_a_key_only_row_is_refused_not_cut(mariadb_key_only: Engine) -> None:
    """`INSERT IGNORE` would turn the database's refusal into a warning and store the key cut
    short: a different row, silently."""
    with mariadb_key_only.begin() as connection:
        counts = upsert(
            connection,
            KEY_ONLY,
            [{"left_id": "a", "right_id": "1"}, {"left_id": "b" * 9, "right_id": "1"}],
        )
    assert (counts.created, [key for key, _ in counts.rejected]) == (1, [("b" * 9, "1")])
    assert "1406" in counts.rejected[0][1]  # the database's own refusal: data too long
    assert key_only_rows(mariadb_key_only) == [("a", "1")]


def test_a_key_only_row_another_writer_inserted_meanwhile_is_not_refused(
    mariadb_key_only: Engine,
) -> None:
    """Between the writer's read of what is stored and its INSERT, another transaction stores
    the same key: both wanted the row, and it is there once."""
    engine = mariadb_key_only
    done: list[bool] = []

    def before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if not done and statement.startswith("INSERT") and "bulk_key_only" in statement:
            done.append(True)
            with engine.begin() as other:
                other.execute(insert(KEY_ONLY).values(left_id="a", right_id="1"))

    event.listen(engine, "before_cursor_execute", before)
    try:
        with engine.begin() as connection:
            counts = upsert(connection, KEY_ONLY, [{"left_id": "a", "right_id": "1"}])
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert done and counts.rejected == []
    assert key_only_rows(engine) == [("a", "1")]


def test_soft_deleting_counts_every_batch_and_never_touches_a_row_twice(engine: Engine) -> None:
    later = NOW + timedelta(hours=1)
    with engine.begin() as connection:
        upsert(connection, lms_courses, [course(str(i)) for i in range(5)])
        keys = [(str(i),) for i in range(5)]
        assert soft_delete_keys(connection, lms_courses, keys[:1], now=NOW) == 1
        assert soft_delete_keys(connection, lms_courses, keys, now=later, batch_size=2) == 4
        stamps = dict(
            connection.execute(select(lms_courses.c.id, lms_courses.c.deleted_at)).tuples().all()
        )
    assert stamps["0"] == NOW  # deleted before: its time of deletion stands
    assert {stamps[str(i)] for i in range(1, 5)} == {later}


def test_a_scoped_sweep_sees_only_live_rows_in_its_scope(engine: Engine) -> None:
    rows = [{"group_id": g, "user_id": u, "status": "confirmed"} for g in "gh" for u in "abc"]
    with engine.begin() as connection:
        upsert(connection, lms_group_members, rows)
        soft_delete_keys(connection, lms_group_members, [("g", "a")], now=NOW)
        missing, active = sweep_candidates(
            connection, lms_group_members, {("g", "b")}, scope=lms_group_members.c.group_id == "g"
        )
    assert (sorted(missing), active) == ([("g", "c")], 2)


def test_unstorable_names_what_a_strict_database_would_refuse() -> None:
    from partnersync.db.bulk import unstorable

    fits = "x" * 500  # lms_courses.name holds 500 characters: exactly that fits
    assert unstorable(lms_courses, {"id": "c", "name": fits}) is None
    too_long = unstorable(lms_courses, {"id": "c", "name": fits + "x"})
    assert too_long == "name: 501 characters, the column holds 500"
    assert unstorable(lms_courses, {"id": "c", "name": "Zürich — 東京"}) is None
    assert "lone surrogate" in str(unstorable(lms_courses, {"id": "c", "name": "a\ud800b"}))
    assert unstorable(lms_courses, {"id": "c", "npcu_value": 2**31}) is not None
    assert unstorable(lms_courses, {"id": "c", "npcu_value": 2**31 - 1}) is None
    assert unstorable(lms_courses, {"id": "c", "npcu_value": -(2**31)}) is None
    assert unstorable(lms_courses, {"id": "c", "npcu_value": -(2**31) - 1}) is not None
    flagged = {"is_active": True, "impartner_id": 1, "account_name": "x" * 256}
    assert unstorable(partners, flagged) is not None  # a flag before it ends no check


def test_a_refused_sweep_names_its_table() -> None:
    with pytest.raises(SweepRefused, match="active lms_groups rows"):
        check_sweep("lms_groups", 3, 4, 0.2)
    check_sweep("lms_groups", 3, 4, None)  # the guard lifted


def test_soft_deleting_by_a_key_other_than_the_primary_key(engine: Engine) -> None:
    """Impartner's `_deleted` names accounts by `impartner_id`, which is not `partners.id`."""
    with engine.begin() as connection:
        connection.execute(
            insert(partners),
            [
                {"id": 1, "impartner_id": 501, "account_name": "Kept"},
                {"id": 2, "impartner_id": 1, "account_name": "Gone"},
            ],
        )
        assert soft_delete_keys(connection, partners, [(1,)], now=NOW, key=["impartner_id"]) == 1
        deleted = dict(
            connection.execute(select(partners.c.id, partners.c.deleted_at)).tuples().all()
        )
    assert deleted == {1: None, 2: NOW}


def test_undeleting_counts_every_row_of_a_batch(engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, lms_courses, [course(str(i)) for i in range(3)])
        soft_delete_keys(connection, lms_courses, [(str(i),) for i in range(3)], now=NOW)
        counts = upsert(connection, lms_courses, [course(str(i)) for i in range(3)])
    assert (counts.updated, counts.undeleted) == (3, 3)


def test_a_sweep_by_a_key_other_than_the_primary_key(engine: Engine) -> None:
    """Impartner lists accounts by `impartner_id`; the sweep compares what it saw by that key."""
    with engine.begin() as connection:
        connection.execute(
            insert(partners),
            [
                {"id": 1, "impartner_id": 501, "account_name": "Seen"},
                {"id": 2, "impartner_id": 502, "account_name": "Not seen"},
            ],
        )
        missing, active = sweep_candidates(connection, partners, {(501,)}, key=["impartner_id"])
    assert (missing, active) == ([(502,)], 2)
