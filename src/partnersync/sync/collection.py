"""The shape every pull stream shares: read pages, upsert them, sweep after a full read.

A stream reads its collection (everything, or what changed since its watermark), upserts
page by page, and only when the whole read succeeded: soft-deletes what a *complete* full
read did not see (guarded by `sweep_max_share`), then advances its watermark.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Table

from partnersync.clients.records import Page
from partnersync.db.bulk import Key, key_columns, soft_delete_missing, too_long, upsert
from partnersync.sync.context import SyncContext
from partnersync.sync.watermark import latest

R = TypeVar("R", bound=BaseModel)


@dataclass
class Stream(Generic[R]):
    """How one collection maps onto one table."""

    name: str
    table: Table
    to_row: Callable[[R], dict[str, Any]]
    updated_at: Callable[[R], datetime | None]
    deleted_values: Mapping[str, Any] = field(default_factory=dict)
    key: tuple[str, ...] | None = None
    raw_key: Callable[[str], Any] = str
    """A skipped record's raw id as a key value (`int` for integer keys), so the sweep spares it."""


@dataclass
class PullResult:
    seen: set[Key]
    complete: bool


async def pull(
    context: SyncContext,
    stream: Stream[R],
    pages: Callable[[datetime | None], AsyncIterator[Page[R]]],
    *,
    complete: Callable[[], bool] = lambda: True,
) -> PullResult:
    """Read `pages(read_from)` into `stream.table`; sweep (full runs) and advance the watermark.

    `complete()` tells, after the read, whether the source confirmed it got every record
    (Impartner's `count`); a read that cannot be confirmed never sweeps.
    """
    report = context.report.stream(stream.name)
    since = context.read_from(stream.name)
    key_names = [column.name for column in key_columns(stream.table, stream.key)]
    seen: set[Key] = set()
    unidentified = 0
    max_seen: datetime | None = None
    writing: Awaitable[None] | None = None  # one write in flight while the next page is read
    try:
        async for page in pages(since):
            context.checkpoint()
            report.skipped(page.skipped)
            for skip in page.skipped:
                skipped_key = _raw_key(stream, skip.id)
                if skipped_key is None:
                    unidentified += 1
                else:
                    seen.add((skipped_key,))
            rows = []
            for record in page.records:
                row = stream.to_row(record)
                seen.add(tuple(row[name] for name in key_names))
                max_seen = latest(max_seen, stream.updated_at(record))
                problem = too_long(stream.table, row)
                if problem:
                    report.fail(str(row[key_names[0]]), problem)
                else:
                    rows.append(row)
            if writing is not None:
                await writing
            writing = context.in_thread(_write, context, stream, rows)
    finally:
        if writing is not None:
            await writing

    confirmed = complete()
    if context.full:
        if unidentified:
            report.notes.append(f"no deletion sweep: {unidentified} record(s) without an id")
        elif not confirmed:
            report.notes.append("no deletion sweep: the source returned fewer rows than it counted")
        else:
            with context.write() as connection:
                report.deleted += soft_delete_missing(
                    connection,
                    stream.table,
                    seen,
                    now=context.started_at,
                    key=stream.key,
                    max_share=context.settings.sweep_max_share,
                    extra=stream.deleted_values,
                )
    context.stream_succeeded(stream.name, max_seen)
    return PullResult(seen, confirmed and not unidentified)


def _write(context: SyncContext, stream: Stream[Any], rows: list[dict[str, Any]]) -> None:
    report = context.report.stream(stream.name)
    if rows:
        with context.write() as connection:
            report.wrote(upsert(connection, stream.table, rows, key=stream.key))
    context.progress(stream.name, report.processed, None)


def _raw_key(stream: Stream[Any], raw_id: str | None) -> Any:
    """The key of a skipped record, or None when its id is missing or not a valid key."""
    if raw_id is None:
        return None
    try:
        return stream.raw_key(raw_id)
    except ValueError:
        return None
