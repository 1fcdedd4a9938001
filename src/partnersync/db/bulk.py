"""Batched upserts and soft-delete sweeps, with exact counts on MariaDB and SQLite alike.

MariaDB's affected-row count cannot tell an insert from an unchanged row once it
passes through the driver, so every batch first reads the stored rows for its keys
and classifies each incoming row as created, updated or unchanged by comparing
values. Only created and changed rows are written, which also makes a re-sync where
little changed much cheaper than the first load.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Connection, Table, and_, select, tuple_, update
from sqlalchemy.dialects import mysql, sqlite

from partnersync.db.engine import is_mariadb

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

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.undeleted + other.undeleted,
        )


class SweepRefused(RuntimeError):
    """A soft-delete sweep would remove more than the allowed share of active rows."""

    def __init__(self, table: str, missing: int, active: int, max_share: float) -> None:
        super().__init__(
            f"refusing to soft-delete {missing} of {active} active {table} rows "
            f"({missing / active:.0%} > {max_share:.0%} allowed); "
            "the fetch may be incomplete, or raise PARTNERSYNC_SWEEP_MAX_SHARE"
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


def too_long(table: Table, row: Mapping[str, Any]) -> str | None:
    """Why `row` cannot be stored as it is (a text longer than its column), or None.

    Strict MariaDB refuses such a row and with it the whole batch; callers skip and count
    the one record instead.
    """
    for name, value in row.items():
        length = getattr(table.c[name].type, "length", None)
        if length and isinstance(value, str) and len(value) > length:
            return f"{name}: {len(value)} characters, the column holds {length}"
    return None


def key_columns(table: Table, key: Sequence[str] | None) -> list[Column[Any]]:
    names = list(key) if key else [column.name for column in table.primary_key.columns]
    return [table.c[name] for name in names]


def _upsert_statement(
    connection: Connection, table: Table, keys: list[str], columns: list[str]
) -> Any:
    values = [name for name in columns if name not in keys]
    if is_mariadb(connection.dialect.name):
        stmt = mysql.insert(table)
        if not values:
            return stmt.prefix_with("IGNORE")
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
        counts += _upsert_batch(connection, table, batch, columns, key_names, soft_deletable)
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
    if any(list(record) != names for record in incoming.values()):
        raise ValueError(f"rows for {table.name} must all have the same columns")

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


def soft_delete_missing(
    connection: Connection,
    table: Table,
    seen: Collection[Key],
    *,
    now: datetime,
    key: Sequence[str] | None = None,
    scope: ColumnElement[bool] | None = None,
    max_share: float | None = None,
    extra: Mapping[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> int:
    """Soft-delete active rows (within `scope`) whose key is not in `seen`.

    Call it only after a complete fetch. `extra` sets more columns on the deleted rows
    (`status='deleted'`, `is_active=False`). With `max_share`, a sweep that would remove
    a larger share of the active rows raises `SweepRefused` and changes nothing.
    """
    columns = key_columns(table, key)
    seen_set = set(seen)
    active = active_keys(connection, table, key=key, scope=scope)
    missing = sorted(active - seen_set, key=repr)
    check_sweep(table.name, len(missing), len(active), max_share)
    values = {"deleted_at": now, **(extra or {})}
    for batch in chunked(missing, batch_size):
        if len(columns) == 1:
            condition: ColumnElement[bool] = columns[0].in_([row_key[0] for row_key in batch])
        else:
            condition = tuple_(*columns).in_(batch)
        connection.execute(update(table).where(condition).values(values))
    return len(missing)
