"""The audit trail of membership writes to Northpass: who, what, why, when, the vendor's answer.

Every add and removal `group_members_sync` makes is recorded, in the same fenced transaction as
the membership state it leaves, once the vendor has answered (a write whose answer never
arrives is made again by the next run, and recorded then). Rows are never pruned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from partnersync.db.schema import access_audit
from partnersync.sync.report import printable
from partnersync.types import AccessAction


@dataclass(frozen=True)
class Write:
    """One membership write, as recorded."""

    action: AccessAction
    group_id: str
    group_name: str | None
    user_id: str
    email: str | None
    partner_id: int | None
    source: str  # the membership's `source`
    decided_by: str  # partnersync (automatic) or operator (an accepted suggestion)
    cause: str  # contact, suggestion, contact_inactive, partner_deleted, …
    reason: str
    outcome: str  # done, failed
    answer: str


def record(
    connection: Connection, writes: list[Write], *, at: datetime, sync_log_id: int | None
) -> None:
    if writes:
        connection.execute(
            insert(access_audit),
            [
                {
                    **asdict(write),
                    "reason": printable(write.reason)[:2000],
                    "answer": printable(write.answer)[:2000],
                    "at": at,
                    "sync_log_id": sync_log_id,
                }
                for write in writes
            ],
        )


def entries(
    connection: Connection,
    *,
    run_id: int | None = None,
    group_id: str | None = None,
    user_id: str | None = None,
    partner_id: int | None = None,
    action: AccessAction | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The recorded writes matching every filter given, newest first, and how many match
    (`sync_log_id` as `run_id`, the name the API and the CLI use)."""
    a = access_audit.c
    conditions = [
        column == value
        for column, value in (
            (a.sync_log_id, run_id),
            (a.group_id, group_id),
            (a.user_id, user_id),
            (a.partner_id, partner_id),
            (a.action, action),
        )
        if value is not None
    ]
    total = connection.scalar(select(func.count()).select_from(access_audit).where(*conditions))
    columns = [column for column in access_audit.c if column is not a.sync_log_id]
    rows = connection.execute(
        select(*columns, a.sync_log_id.label("run_id"))
        .where(*conditions)
        .order_by(a.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [dict(row._mapping) for row in rows], int(total or 0)
