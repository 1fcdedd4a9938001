"""Reading and writing stream watermarks in `sync_state` (never in `sync_logs`)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, select

from partnersync.db.bulk import upsert
from partnersync.db.schema import sync_state
from partnersync.db.types import utcnow
from partnersync.sync import watermark


def load_watermark(connection: Connection, stream: str) -> datetime | None:
    return connection.scalar(select(sync_state.c.watermark).where(sync_state.c.stream == stream))


def save_watermark(connection: Connection, stream: str, watermark: datetime | None) -> None:
    if watermark is None:
        return
    upsert(
        connection,
        sync_state,
        [{"stream": stream, "watermark": watermark, "updated_at": utcnow()}],
    )


def list_watermarks(connection: Connection) -> list[Row[Any]]:
    """Every stream's watermark and when it was set, by stream name."""
    return list(connection.execute(select(sync_state).order_by(sync_state.c.stream)))


def reset_watermark(connection: Connection, stream: str | None = None) -> int:
    """Forget one stream's watermark (or all): the next incremental run reads everything."""
    statement = delete(sync_state)
    if stream is not None:
        statement = statement.where(sync_state.c.stream == stream)
    return connection.execute(statement).rowcount


@dataclass(frozen=True)
class Watermarks:
    """One run's view of the watermarks: where each stream reads from, and moving them on."""

    engine: Engine
    write: Callable[[], AbstractContextManager[Connection]]
    """The run's fenced write transaction (`SyncContext.write`)."""
    full: bool
    overlap: timedelta
    run_started: datetime

    def read_from(self, stream: str) -> datetime | None:
        """Where this run reads `stream` from: None for a full run or a first run."""
        if self.full:
            return None
        with self.engine.connect() as connection:
            mark = load_watermark(connection, stream)
        return watermark.read_from(mark, self.overlap)

    def incremental_window(self, stream: str) -> datetime | None:
        """Where the next incremental run of `stream` would read from (None: no watermark)."""
        with self.engine.connect() as connection:
            mark = load_watermark(connection, stream)
        return watermark.read_from(mark, self.overlap)

    def advance(self, stream: str, max_seen: datetime | None) -> None:
        """Move `stream`'s watermark on; call only once the whole stream is stored."""
        with self.write() as connection:
            previous = load_watermark(connection, stream)
            save_watermark(
                connection, stream, watermark.advance(previous, max_seen, self.run_started)
            )
