"""Watermark arithmetic (docs/design.md §3), as pure functions.

An incremental read asks for `updated_at ≥ watermark − overlap`. After the whole stream
succeeded the watermark moves to `min(max updated_at seen, run start)`: never past the
moment the run started (rows changed during the run are read again next time) and never
backwards. A failed run does not call `advance` at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def read_from(watermark: datetime | None, overlap: timedelta) -> datetime | None:
    """Where an incremental read starts; None means read everything."""
    return None if watermark is None else watermark - overlap


def advance(
    previous: datetime | None, max_seen: datetime | None, run_started: datetime
) -> datetime | None:
    """The watermark after a successful stream."""
    if max_seen is None:
        return previous
    candidate = min(max_seen, run_started)
    if previous is not None and candidate < previous:
        return previous
    return candidate


def latest(current: datetime | None, value: datetime | None) -> datetime | None:
    """Running maximum of the `updated_at` values seen, ignoring missing ones."""
    if value is None:
        return current
    return value if current is None or value > current else current
