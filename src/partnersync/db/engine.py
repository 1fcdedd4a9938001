"""Creating engines: the per-backend connection options live here and nowhere else."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


def is_mariadb(engine_or_dialect_name: str) -> bool:
    return engine_or_dialect_name in ("mysql", "mariadb")


def make_engine(url: str | SecretStr, **kwargs: Any) -> Engine:
    """An engine with UTC sessions on MariaDB and WAL + foreign keys on SQLite.

    The URL may carry the database password; SQLAlchemy's `URL` masks it wherever it is shown.
    """
    parsed = make_url(url.get_secret_value() if isinstance(url, SecretStr) else url)
    if is_mariadb(parsed.get_backend_name()):
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_recycle", 3600)
        kwargs.setdefault("connect_args", {"init_command": "SET time_zone = '+00:00'"})
        return create_engine(parsed, **kwargs)

    engine = create_engine(parsed, **kwargs)
    in_memory = parsed.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


T = TypeVar("T")

MESSAGE_IS_SAFE = frozenset(
    {1044, 1045, 1049, 1142, 1143, 1146, 1205, 1213, 2002, 2003, 2006, 2013}
)
"""Server error codes whose message names a user, table or host but never a row's values."""


def describe_database_error(exc: BaseException) -> str:
    """A database error in one line, without the statement or its parameters.

    SQLAlchemy's own text carries the whole statement and its values (`[SQL: …]
    [parameters: …]`), which must not reach `sync_logs` or the API; this keeps the driver's
    exception class, the server's error code and, where it holds no data, its message.
    """
    original = getattr(exc, "orig", None) or exc
    args = getattr(original, "args", ())
    name = type(original).__name__
    if args and isinstance(args[0], int):  # MariaDB: (code, message)
        code, message = args[0], args[1] if len(args) > 1 else ""
        if code in MESSAGE_IS_SAFE and isinstance(message, str):
            return f"database error {name} {code}: {message.splitlines()[0][:200]}"
        return f"database error {name} {code}"
    if is_mariadb(getattr(getattr(exc, "dialect", None), "name", "")) or not args:
        return f"database error {name}"
    return f"database error {name}: {str(args[0]).splitlines()[0][:200]}"  # SQLite's own text


@contextmanager
def savepoint(connection: Connection) -> Iterator[None]:
    """A savepoint inside the connection's transaction: undone alone if its block raises.

    pysqlite opens its transaction only at the first INSERT/UPDATE/DELETE; a SAVEPOINT
    before that would open (and its release commit) a transaction of its own, so on
    SQLite the transaction is opened first.
    """
    if not is_mariadb(connection.dialect.name):
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")
    with connection.begin_nested():
        yield


RETRYABLE_LOCK_ERRORS = (1213, 1205)
"""MariaDB's deadlock and lock-wait timeout: the transaction was rolled back, run it again."""


def in_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 5) -> T:
    """Run `work` in one transaction, again from the start if MariaDB picked it as a deadlock
    victim. Short bookkeeping transactions of replicas (leases, run rows) can cross that way."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as connection:
                return work(connection)
        except OperationalError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code not in RETRYABLE_LOCK_ERRORS or attempt == attempts:
                raise
            time.sleep(0.02 * attempt)
    raise AssertionError("unreachable")


def database_now(connection: Connection) -> datetime:
    """The database server's current UTC time: the one clock every replica shares.

    Lease expiry is computed and compared with it, so a process whose own clock is off,
    or that was frozen for a while, cannot misjudge whose lease is live.
    """
    if is_mariadb(connection.dialect.name):
        value: datetime = connection.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        return value.replace(tzinfo=UTC)
    raw = connection.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)
