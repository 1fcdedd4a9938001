"""Database fixtures: every test that takes `engine` runs on SQLite and on the real MariaDB.

MariaDB is never skipped: if it cannot be reached the tests fail, naming the URL.
Each pytest process gets its own MariaDB database, migrated once and emptied
before every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import CursorResult, Engine, create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate, seed_tasks
from partnersync.db.schema import metadata
from partnersync.tasks.registry import TASKS

settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")  # CI explores the same examples every run; locally they vary

MARIADB_URL = os.environ.get(
    "PARTNERSYNC_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
BACKENDS = ("sqlite", "mariadb")


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the one row a single-row INSERT added."""
    key = result.inserted_primary_key
    assert key is not None, "the INSERT reported no primary key"
    return int(key[0])


def empty_database(engine: Engine) -> None:
    """Delete every row, then seed the task registry as `migrate` would."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))
        seed_tasks(connection, TASKS)


@pytest.fixture(scope="session")
def mariadb_engine() -> Iterator[Engine]:
    server = make_url(MARIADB_URL)
    name = f"partnersync_test_{os.getpid()}"
    admin = create_engine(server)
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    except OperationalError as exc:
        pytest.fail(
            f"MariaDB is not reachable at {server.render_as_string(hide_password=True)} "
            f"(set PARTNERSYNC_TEST_MARIADB_URL): {exc.orig}",
            pytrace=False,
        )
    engine = make_engine(server.set(database=name).render_as_string(hide_password=False))
    migrate(engine, TASKS)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "partnersync.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine, TASKS)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated, empty database; the test runs once per backend."""
    backend: Engine = request.getfixturevalue(f"{request.param}_engine")
    empty_database(backend)
    return backend
