"""Batched upserts and soft-delete sweeps, with exact counts on MariaDB and SQLite alike.

MariaDB's affected-row count cannot tell an insert from an unchanged row once it
passes through the driver, so every batch first reads the stored rows for its keys
and classifies each incoming row as created, updated or unchanged by comparing
values. Only created and changed rows are written, which also makes a re-sync where
little changed much cheaper than the first load.

One bad row must never take its neighbours down: `unstorable` names what a column cannot
hold before anything is sent, and a batch the database refuses anyway is undone to its
savepoint and written again row by row, each in its own savepoint, so only the rows the
database refuses are left out (`WriteCounts.rejected`, with a one-line reason).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Integer,
    SmallInteger,
    Table,
    and_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from partnersync.db.engine import describe_database_error, is_mariadb, savepoint

Row = Mapping[str, Any]
Key = tuple[Any, ...]
T = TypeVar("T")

DEFAULT_BATCH = 1000


@dataclass
class WriteCounts:
    """What a write did: each distinct key is exactly one of created, updated or unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    undeleted: int = 0  # the subset of `updated` that was soft-deleted before
    rejected: list[tuple[Key, str]] = field(default_factory=list)
    """Rows the database refused, with why; not counted as processed."""
    changed: list[Key] = field(default_factory=list, compare=False)
    """Keys of the rows created or updated (what happened, not part of the counts)."""

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.undeleted + other.undeleted,
            self.rejected + other.rejected,
            self.changed + other.changed,
        )


class SweepRefused(RuntimeError):
    """A soft-delete would remove more than the allowed share of a table's active rows."""

    def __init__(self, table: str, missing: int, active: int, max_share: float) -> None:
        super().__init__(
            f"refusing to soft-delete {missing} of {active} active {table} rows "
            f"({missing / active:.0%} > {max_share:.0%} allowed) and deleting none: the read "
            "may be incomplete; if the deletions are real, run once with --allow-mass-delete"
        )
        self.missing = missing
        self.active = active


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


INTEGER_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))


def _integer_bits(column: Column[Any]) -> int | None:
    for kind, bits in INTEGER_BITS:
        if isinstance(column.type, kind):
            return bits
    return None


def unstorable(table: Table, row: Mapping[str, Any]) -> str | None:
    """Why `row` cannot be stored as it is, or None: a text longer than its column or not
    encodable as UTF-8 (a lone surrogate), an integer outside its column's range, a number
    that is not finite.

    Strict MariaDB refuses such a row and with it the whole batch; callers skip and count
    the one record instead.
    """
    for name, value in row.items():
        column = table.c[name]
        if isinstance(value, str):
            length = getattr(column.type, "length", None)
            if length and len(value) > length:
                return f"{name}: {len(value)} characters, the column holds {length}"
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return f"{name}: text that is not valid Unicode (a lone surrogate)"
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            bits = _integer_bits(column)
            if bits and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                return f"{name}: {value} is out of range for a {bits}-bit integer"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{name}: {value} is not a finite number"
    return None


def refusal(exc: BaseException) -> str:
    """A database refusal in one line, without the statement or its parameters."""
    return "refused by the database: " + describe_database_error(exc).removeprefix(
        "database error "
    )


ROW_FAULT_CODES = frozenset({1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1451, 1452, 3140})
"""MariaDB errors one row's values cause (null, duplicate, range, truncation, bad text or date,
foreign key, JSON). Anything else — a deadlock, a lost connection, a missing table or
privilege, a full disk, a savepoint that no longer exists — means the work is lost or every
row would fail, so it is raised, never blamed on the rows."""


def _row_fault(exc: BaseException) -> bool:
    """True when `exc` is one row's fault (isolate it), False when it must fail the run."""
    if isinstance(exc, UnicodeError | OverflowError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        args = getattr(exc.orig, "args", ())
        if args and isinstance(args[0], int):
            return args[0] in ROW_FAULT_CODES
        return isinstance(exc, IntegrityError | DataError)  # SQLite: constraints, values
    if isinstance(exc, StatementError):  # a value the driver could not bind
        return isinstance(exc.orig, UnicodeError | OverflowError | ValueError | TypeError)
    return False


def key_columns(table: Table, key: Sequence[str] | None) -> list[Column[Any]]:
    names = list(key) if key else [column.name for column in table.primary_key.columns]
    return [table.c[name] for name in names]


def _upsert_statement(
    connection: Connection, table: Table, keys: list[str], columns: list[str]
) -> Any:
    values = [name for name in columns if name not in keys]
    if is_mariadb(connection.dialect.name):
        stmt = mysql.insert(table)
        if not values:  # a no-op update, not INSERT IGNORE: that would cut an overlong key short
            return stmt.on_duplicate_key_update({keys[0]: table.c[keys[0]]})
        return stmt.on_duplicate_key_update({name: stmt.inserted[name] for name in values})
    lite = sqlite.insert(table)
    if not values:
        return lite.on_conflict_do_nothing(index_elements=keys)
    return lite.on_conflict_do_update(
        index_elements=keys, set_={name: lite.excluded[name] for name in values}
    )


def upsert(
    connection: Connection,
    table: Table,
    rows: Iterable[Row],
    *,
    key: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> WriteCounts:
    """Insert or update `rows` by `key` (default: the primary key) and count what changed.

    Rows of one call must share their column set. On a table with `deleted_at`, a row
    that is written is also undeleted. Within one batch the last row for a key wins.
    """
    columns = key_columns(table, key)
    key_names = [column.name for column in columns]
    soft_deletable = "deleted_at" in table.c
    counts = WriteCounts()
    for batch in chunked(rows, batch_size):
        names = set(batch[0])
        if any(set(row) != names for row in batch):
            raise ValueError(f"rows for {table.name} must all have the same columns")
        counts += _isolated(
            connection,
            batch,
            lambda part: _upsert_batch(connection, table, part, columns, key_names, soft_deletable),
            lambda row: tuple(row[name] for name in key_names),
        )
    return counts


def _isolated(
    connection: Connection,
    batch: list[Row],
    write: Callable[[list[Row]], WriteCounts],
    key_of: Callable[[Row], Key],
) -> WriteCounts:
    """`write(batch)` in a savepoint; if the database refuses it, row by row, each alone."""
    try:
        with savepoint(connection):
            return write(batch)
    except Exception as exc:
        if not _row_fault(exc):
            raise
        if len(batch) == 1:
            return WriteCounts(rejected=[(key_of(batch[0]), refusal(exc))])
    counts = WriteCounts()
    for row in batch:
        counts += _isolated(connection, [row], write, key_of)
    return counts


def _upsert_batch(
    connection: Connection,
    table: Table,
    batch: list[Row],
    columns: list[Column[Any]],
    key_names: list[str],
    soft_deletable: bool,
) -> WriteCounts:
    incoming: dict[Key, dict[str, Any]] = {}
    for row in batch:
        record = {name: _as_stored(value) for name, value in row.items()}
        if soft_deletable:
            record["deleted_at"] = None
        incoming[tuple(record[name] for name in key_names)] = record
    names = list(next(iter(incoming.values())))

    compared = [name for name in names if name not in key_names]
    stored = _stored_values(connection, table, columns, list(incoming), compared)
    deleted_at = compared.index("deleted_at") if soft_deletable else None

    counts = WriteCounts()
    to_write = []
    for row_key, record in incoming.items():
        before = stored.get(row_key)
        if before is None:
            counts.created += 1
        elif before == tuple(record[name] for name in compared):
            counts.unchanged += 1
            continue
        else:
            counts.updated += 1
            if deleted_at is not None and before[deleted_at] is not None:
                counts.undeleted += 1
        counts.changed.append(row_key)
        to_write.append(record)
    if to_write:
        connection.execute(_upsert_statement(connection, table, key_names, names), to_write)
    return counts


def _as_stored(value: Any) -> Any:
    """A value as it reads back: naive datetimes are UTC (see `UtcDateTime`)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _stored_values(
    connection: Connection,
    table: Table,
    columns: list[Column[Any]],
    keys: list[Key],
    compared: list[str],
) -> dict[Key, tuple[Any, ...]]:
    """The stored values of `compared`, in that order, for the rows of `keys` that exist."""
    wanted = [table.c[name] for name in compared]
    if len(columns) == 1:
        condition: ColumnElement[bool] = columns[0].in_([row_key[0] for row_key in keys])
    else:
        condition = tuple_(*columns).in_(keys)
    result = connection.execute(select(*columns, *wanted).where(condition))
    width = len(columns)
    return {tuple(row[:width]): tuple(row[width:]) for row in result}


def active_keys(
    connection: Connection,
    table: Table,
    *,
    key: Sequence[str] | None = None,
    scope: ColumnElement[bool] | None = None,
) -> set[Key]:
    """Keys of the rows not soft-deleted, optionally within `scope`."""
    columns = key_columns(table, key)
    condition: ColumnElement[bool] = table.c.deleted_at.is_(None)
    if scope is not None:
        condition = and_(condition, scope)
    return {tuple(row) for row in connection.execute(select(*columns).where(condition))}


def check_sweep(table: str, missing: int, active: int, max_share: float | None) -> None:
    """Refuse a sweep that would remove more than `max_share` of the active rows."""
    if max_share is not None and active and missing / active > max_share:
        raise SweepRefused(table, missing, active, max_share)


def sweep_candidates(
    connection: Connection,
    table: Table,
    seen: Collection[Key],
    *,
    key: Sequence[str] | None = None,
    scope: ColumnElement[bool] | None = None,
) -> tuple[list[Key], int]:
    """The active rows (within `scope`) whose key is not in `seen`, and how many are active."""
    active = active_keys(connection, table, key=key, scope=scope)
    return sorted(active - set(seen), key=repr), len(active)


def soft_delete_keys(
    connection: Connection,
    table: Table,
    keys: Iterable[Key],
    *,
    now: datetime,
    key: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> int:
    """Soft-delete the live rows with these keys; returns how many there were.

    `extra` sets more columns on the deleted rows (`status='deleted'`, `is_active=False`).
    """
    columns = key_columns(table, key)
    values = {"deleted_at": now, **(extra or {})}
    deleted = 0
    for batch in chunked(keys, batch_size):
        if len(columns) == 1:
            condition: ColumnElement[bool] = columns[0].in_([row_key[0] for row_key in batch])
        else:
            condition = tuple_(*columns).in_(batch)
        result = connection.execute(
            update(table).where(condition, table.c.deleted_at.is_(None)).values(values)
        )
        deleted += result.rowcount
    return deleted
