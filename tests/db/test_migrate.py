from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from partnersync.db.engine import make_engine
from partnersync.db.migrate import alembic_config, migrate
from partnersync.db.schema import group_analysis_runs as runs
from partnersync.db.schema import group_analysis_suggestions as suggestions
from partnersync.db.schema import lms_group_members as members
from partnersync.db.schema import metadata, scheduled_tasks
from partnersync.db.types import utcnow
from partnersync.tasks.registry import TASKS
from tests.conftest import BACKENDS, inserted_id

CONTRACT_COLUMNS = {
    "lms_users": {
        "id",
        "email",
        "first_name",
        "last_name",
        "status",
        "updated_at_lms",
        "last_active_at",
        "deleted_at",
    },
    "lms_groups": {"id", "name", "partner_id", "partner_link", "deleted_at"},
    "lms_group_members": {"group_id", "user_id", "status"},
    "lms_courses": {"id", "name", "status", "npcu_value", "certification_category", "deleted_at"},
    "lms_enrollments": {"id", "user_id", "course_id", "status", "completed_at", "expires_at"},
    "partners": {
        "id",
        "impartner_id",
        "account_name",
        "partner_tier",
        "account_status",
        "salesforce_id",
        "is_active",
        "deleted_at",
        "certification_count",
        "total_npcu",
    },
    "contacts": {
        "id",
        "impartner_id",
        "email",
        "first_name",
        "last_name",
        "partner_id",
        "lms_user_id",
        "is_active",
        "deleted_at",
    },
    "sync_logs": {
        "id",
        "sync_type",
        "status",
        "mode",
        "records_processed",
        "records_created",
        "records_updated",
        "records_deleted",
        "started_at",
        "completed_at",
        "error_message",
    },
    "scheduled_tasks": {
        "task_type",
        "enabled",
        "interval_minutes",
        "status",
        "last_status",
        "last_run_at",
        "next_run_at",
    },
    "sync_state": {"stream", "watermark"},
}


def test_contract_tables_and_columns_exist(engine: Engine) -> None:
    inspector = inspect(engine)
    for table, columns in CONTRACT_COLUMNS.items():
        present = {column["name"] for column in inspector.get_columns(table)}
        assert columns <= present, f"{table} lacks {columns - present}"


def test_migrations_match_the_schema_module(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_seeds_the_ten_contract_tasks_with_their_intervals(engine: Engine) -> None:
    with engine.connect() as connection:
        rows = {
            task_type: minutes
            for task_type, minutes in connection.execute(
                select(scheduled_tasks.c.task_type, scheduled_tasks.c.interval_minutes)
            ).all()
        }
    assert rows == {
        "sync_users": 120,
        "sync_groups": 120,
        "sync_courses": 240,
        "sync_npcu": 360,
        "sync_enrollments": 240,
        "impartner_sync": 360,
        "sync_to_impartner": 360,
        "group_analysis": 360,
        "group_members_sync": 360,
        "cleanup": 1440,
    }
    assert len(TASKS) == 10


def test_second_migrate_keeps_operator_changes(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type == "sync_users")
            .values(enabled=False, interval_minutes=15)
        )
    assert migrate(engine, TASKS) == 0
    with engine.connect() as connection:
        row = connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == "sync_users")
        ).one()
        total = len(connection.execute(select(scheduled_tasks.c.id)).all())
    assert (row.enabled, row.interval_minutes, total) == (False, 15, 10)


@contextmanager
def scratch_mariadb(server: Engine, suffix: str) -> Iterator[Engine]:
    """A new, empty database (no schema) on the test MariaDB server, dropped afterwards."""
    name = f"{server.url.database}_{suffix}"
    admin = create_engine(server.url.set(database=""))
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    engine = make_engine(server.url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def unmigrated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database without a schema, once per backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_mariadb(request.getfixturevalue("mariadb_engine"), "unmigrated") as engine:
        yield engine


def test_an_existing_mariadb_database_gets_byte_for_byte_ids_and_keeps_its_rows(
    mariadb_engine: Engine,
) -> None:
    """0001 → 0002 on a database with data: ids change collation, nothing is lost."""
    with scratch_mariadb(mariadb_engine, "upgrade") as engine:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            connection.execute(text("INSERT INTO lms_users (id, status) VALUES ('Abc', 'active')"))
        migrate(engine, TASKS)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO lms_users (id, status) VALUES ('abc', 'active')"))
            ids = sorted(connection.scalars(text("SELECT id FROM lms_users")))
            collation = connection.scalar(
                text(
                    "SELECT collation_name FROM information_schema.columns WHERE "
                    "table_schema = DATABASE() AND table_name = 'lms_users' AND column_name = 'id'"
                )
            )
        assert (ids, collation) == (["Abc", "abc"], "utf8mb4_nopad_bin")


def test_upgrade_merges_twin_suggestions_keeping_the_decision(unmigrated_engine: Engine) -> None:
    """0003 → 0004: one row per (group, person) survives: the accepted one, else the dismissed
    one, else the newest; afterwards the database refuses twins."""
    rows = [  # (group, user, status) in the order the runs inserted them
        ("g1", "u1", "open"),
        ("g1", "u1", "accepted"),
        ("g1", "u1", "open"),
        ("g1", "u2", "open"),
        ("g1", "u2", "open"),
        ("g1", "u3", "dismissed"),
        ("g1", "u3", "open"),
        ("g2", "u1", "open"),
    ]
    with unmigrated_engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0003")
        run_id = inserted_id(connection.execute(insert(runs).values(run_at=utcnow())))
        ids = [
            inserted_id(
                connection.execute(
                    insert(suggestions).values(
                        run_id=run_id, group_id=g, user_id=u, status=status, reason="domain"
                    )
                )
            )
            for g, u, status in rows
        ]
    migrate(unmigrated_engine, TASKS)
    s = suggestions.c
    with unmigrated_engine.connect() as connection:
        kept = connection.execute(select(s.id, s.status).order_by(s.id)).all()
    assert kept == [(ids[1], "accepted"), (ids[4], "open"), (ids[5], "dismissed"), (ids[7], "open")]
    with pytest.raises(IntegrityError), unmigrated_engine.begin() as connection:
        connection.execute(
            insert(suggestions).values(run_id=run_id, group_id="g2", user_id="u1", reason="domain")
        )


def test_upgrade_counts_existing_memberships_as_manual_unless_partnersync_wrote_them(
    unmigrated_engine: Engine,
) -> None:
    """0005 → 0006: pending rows and confirmed rows of an accepted suggestion written after
    the acceptance are partnersync's; a member seen in Northpass (added and confirmed at the
    same instant) is manual, accepted suggestion or not."""
    seen, accepted_at = utcnow(), utcnow() - timedelta(hours=1)
    rows = [  # (user, status, added_at, confirmed_at, accepted suggestion)
        ("pending", "pending", accepted_at, None, True),
        ("written", "confirmed", accepted_at, seen, True),
        ("already", "confirmed", seen, seen, True),
        ("manual", "confirmed", seen, seen, False),
    ]
    with unmigrated_engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0005")
        run_id = inserted_id(connection.execute(insert(runs).values(run_at=utcnow())))
        for user, status, added, confirmed, suggested in rows:
            connection.execute(
                text(
                    "INSERT INTO lms_group_members (group_id, user_id, status, added_at, "
                    "confirmed_at) VALUES ('g', :user, :status, :added, :confirmed)"
                ),
                {"user": user, "status": status, "added": added, "confirmed": confirmed},
            )
            if suggested:
                connection.execute(
                    insert(suggestions).values(
                        run_id=run_id,
                        group_id="g",
                        user_id=user,
                        reason="domain",
                        status="accepted",
                    )
                )
    migrate(unmigrated_engine, TASKS)
    m = members.c
    with unmigrated_engine.connect() as connection:
        found = {
            row.user_id: f"{row.source}:{row.added_by or '-'}"
            for row in connection.execute(select(m.user_id, m.source, m.added_by))
        }
    assert found == {
        "pending": "suggestion:operator",
        "written": "suggestion:operator",
        "already": "manual:-",
        "manual": "manual:-",
    }
