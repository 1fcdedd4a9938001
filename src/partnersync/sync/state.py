"""Reading and writing stream watermarks in `sync_state` (never in `sync_logs`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from partnersync.db.bulk import upsert
from partnersync.db.schema import sync_state
from partnersync.db.types import utcnow


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


def reset_watermark(connection: Connection, stream: str | None = None) -> int:
    """Forget one stream's watermark (or all): the next incremental run reads everything."""
    statement = delete(sync_state)
    if stream is not None:
        statement = statement.where(sync_state.c.stream == stream)
    return connection.execute(statement).rowcount
