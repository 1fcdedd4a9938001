"""Each partner's numbers, one snapshot per UTC day, for the trend in the partner view.

The push records them (the day's last run wins). They are kept for as long as the operator
wants: `cleanup` prunes them only when PARTNERSYNC_KEEP_SNAPSHOTS_DAYS is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, delete, select

from partnersync.db.bulk import upsert
from partnersync.db.schema import partner_snapshots
from partnersync.sync.partner_view import PartnerSummary


@dataclass(frozen=True)
class Snapshot:
    day: date
    certification_count: int
    total_npcu: int
    certified_users: int
    partner_users: int
    expiring_90d: int


def record_snapshots(
    connection: Connection, summaries: Iterable[PartnerSummary], now: datetime
) -> int:
    """Store today's numbers for each partner given; returns how many rows were written."""
    rows = [
        {
            "partner_id": s.id,
            "day": now.date(),
            "certification_count": s.certification_count,
            "total_npcu": s.total_npcu,
            "certified_users": s.certified_users,
            "partner_users": s.partner_users,
            "expiring_90d": s.expiring_90d,
            "recorded_at": now,
        }
        for s in summaries
    ]
    return upsert(connection, partner_snapshots, rows).processed if rows else 0


def history(connection: Connection, partner_id: int, days: int, today: date) -> list[Snapshot]:
    """The partner's snapshots of the last `days` days, oldest first."""
    snapshot = partner_snapshots.c
    rows = connection.execute(
        select(
            snapshot.day,
            snapshot.certification_count,
            snapshot.total_npcu,
            snapshot.certified_users,
            snapshot.partner_users,
            snapshot.expiring_90d,
        )
        .where(snapshot.partner_id == partner_id, snapshot.day > today - timedelta(days=days))
        .order_by(snapshot.day)
    )
    return [Snapshot(*row) for row in rows]


def prune_snapshots(connection: Connection, keep_days: int, today: date) -> int:
    """Delete snapshots older than `keep_days` days; returns how many."""
    result = connection.execute(
        delete(partner_snapshots).where(
            partner_snapshots.c.day <= today - timedelta(days=keep_days)
        )
    )
    return result.rowcount
