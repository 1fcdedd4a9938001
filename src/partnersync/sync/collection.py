"""The shape every pull stream shares: read pages, upsert them, sweep after a full read.

A stream reads its collection (everything, or what changed since its watermark), upserts
page by page, and only when the whole read succeeded: soft-deletes what a *complete* full
read did not see, then advances its watermark. A sweep is refused outright above the
deletion guard (`SyncContext.max_delete_share`); below it, a stream read by offset pages
asks the vendor about each candidate (`Stream.confirm`) and deletes only those it answers
404 for, since deletions before the cursor during the read shift live rows out of sight.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Table

from partnersync.db.bulk import (
    Key,
    check_sweep,
    key_columns,
    soft_delete_keys,
    sweep_candidates,
    unstorable,
    upsert,
)
from partnersync.sync.context import SyncContext
from partnersync.sync.watermark import latest
from partnersync.types import Page

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
    read_margin: timedelta = timedelta(0)
    """How much earlier than its window an incremental read starts (Impartner's filter margin),
    so a full run counts as late only what no incremental read could have seen."""
    confirm: Callable[[SyncContext, list[str]], Awaitable[set[str]]] | None = None
    """Of the sweep's candidate ids, those the vendor confirms gone; None trusts the read
    (a keyset-paged source, where rows cannot shift past the cursor)."""


def confirmed_gone_in_northpass(
    collection: str,
) -> Callable[[SyncContext, list[str]], Awaitable[set[str]]]:
    """`Stream.confirm` for a Northpass collection: `GET /v2/{collection}/{id}` → 404."""

    async def confirm(context: SyncContext, ids: list[str]) -> set[str]:
        return await context.northpass.gone(collection, ids)

    return confirm


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
    since = context.watermarks.read_from(stream.name)
    window = context.watermarks.incremental_window(stream.name) if context.full else None
    if window is not None:
        window -= stream.read_margin
    late = LateRows()
    key_names = [column.name for column in key_columns(stream.table, stream.key)]
    seen: set[Key] = set()
    first_seen: dict[Key, int] = {}
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
                key = tuple(row[name] for name in key_names)
                stamp = stream.updated_at(record)
                max_seen = latest(max_seen, stamp)
                fingerprint = hash(tuple(row.values()))
                if key in first_seen:  # a page that shifted repeats a row; a different one is bad
                    if first_seen[key] != fingerprint:
                        report.fail(str(key[0]), "id seen twice in one read; the first is kept")
                    continue
                first_seen[key] = fingerprint
                seen.add(key)
                if window is not None and stamp is not None and stamp < window:
                    late.dated_before.add(key)
                problem = unstorable(stream.table, row)
                if problem:
                    report.fail(str(key[0]), problem)
                else:
                    rows.append(row)
            if writing is not None:
                await writing
            writing = context.in_thread(_write, context, stream, rows, late)
    finally:
        if writing is not None:
            await writing

    if window is not None and late.written:
        since_text = f"{window:%Y-%m-%d %H:%M:%S}"
        report.notes.append(
            f"{late.written} changed row(s) dated before the incremental window ({since_text} UTC) "
            "that no incremental run could see: the vendor made them visible late; if this "
            "recurs, raise PARTNERSYNC_WATERMARK_OVERLAP_SECONDS"
        )
    confirmed = complete()
    if context.full:
        if unidentified:
            report.notes.append(f"no deletion sweep: {unidentified} record(s) without an id")
        elif not confirmed:
            report.notes.append("no deletion sweep: the source returned fewer rows than it counted")
        else:
            await sweep(context, stream, seen)
    context.watermarks.advance(stream.name, max_seen)
    return PullResult(seen, confirmed and not unidentified)


async def sweep(context: SyncContext, stream: Stream[Any], seen: set[Key]) -> None:
    """Soft-delete the rows a complete read did not see, once guarded and confirmed."""
    report = context.report.stream(stream.name)
    with context.engine.connect() as connection:
        missing, active = sweep_candidates(connection, stream.table, seen, key=stream.key)
    check_sweep(stream.table.name, len(missing), active, context.max_delete_share)
    if missing and stream.confirm is not None:
        gone = await stream.confirm(context, [str(key[0]) for key in missing])
        kept = [key for key in missing if str(key[0]) not in gone]
        if kept:
            report.notes.append(
                f"{len(kept)} row(s) missing from the read still exist at the vendor; kept"
            )
        missing = [key for key in missing if str(key[0]) in gone]
    with context.write() as connection:
        report.deleted += soft_delete_keys(
            connection,
            stream.table,
            missing,
            now=context.started_at,
            key=stream.key,
            extra=stream.deleted_values,
        )


@dataclass
class LateRows:
    """A full run's rows dated before the incremental window, and how many of them it had to
    create or update: those no incremental read could have seen (the vendor showed them late)."""

    dated_before: set[Key] = field(default_factory=set)
    written: int = 0


def _write(
    context: SyncContext, stream: Stream[Any], rows: list[dict[str, Any]], late: LateRows
) -> None:
    report = context.report.stream(stream.name)
    if rows:
        with context.write() as connection:
            counts = upsert(connection, stream.table, rows, key=stream.key)
        report.wrote(counts)
        late.written += sum(1 for key in counts.changed if key in late.dated_before)
    context.progress(stream.name, report.processed, None)


def _raw_key(stream: Stream[Any], raw_id: str | None) -> Any:
    """The key of a skipped record, or None when its id is missing or not a valid key."""
    if raw_id is None:
        return None
    try:
        return stream.raw_key(raw_id)
    except ValueError:
        return None
