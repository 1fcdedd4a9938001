"""`group_analysis`: LMS users who look like a partner's people but are not in its group.

For every live partner-linked group, the corporate email domains are those that count for its
partner on the evidence of its active contacts, plus any configured for the group
(`analysis_domains`). Every live, active LMS user on one of those domains who is not a member of
the group (confirmed or pending) becomes a suggestion of this run, unless the same suggestion was
dismissed before. One set-based query
does it for all groups, joining on the indexed `email_domain` columns (no `LIKE '%@…'` scans).

Suggestions are read and acted on here too (`latest_suggestions`, `accept`, `dismiss`), so the
CLI and the API share one implementation. Accepting adds a pending membership that
`group_members_sync` writes to Northpass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    exists,
    func,
    insert,
    select,
    update,
)

from partnersync.config import Settings
from partnersync.db.bulk import chunked
from partnersync.db.schema import (
    group_analysis_runs,
    group_analysis_suggestions,
    lms_group_members,
    lms_groups,
    lms_users,
    partners,
)
from partnersync.sync.context import SyncContext
from partnersync.tasks.analysis_domains import CONFIGURED_DOMAIN, group_domains, live_group

STREAM = "analysis.suggestions"
MAX_GROUP_NOTES = 50

Key = tuple[str, str]
"""(group id, user id): what a suggestion is about."""


def candidates(settings: Settings) -> Select[tuple[str, str, str, str]]:
    """(group id, user id, domain, reason): users on a group's domains who are not in the
    group."""
    domains = group_domains(settings).subquery("domains")
    member = lms_group_members.c
    suggestion = group_analysis_suggestions.c
    return (
        select(
            domains.c.group_id,
            lms_users.c.id.label("user_id"),
            domains.c.domain,
            domains.c.reason,
        )
        .join(lms_users, lms_users.c.email_domain == domains.c.domain)
        .where(
            lms_users.c.deleted_at.is_(None),
            lms_users.c.status == "active",
            ~exists().where(
                member.group_id == domains.c.group_id,
                member.user_id == lms_users.c.id,
                member.deleted_at.is_(None),
            ),
            ~exists().where(
                suggestion.group_id == domains.c.group_id,
                suggestion.user_id == lms_users.c.id,
                suggestion.status == "dismissed",
            ),
        )
        .order_by(domains.c.group_id, lms_users.c.id)
    )


def find(connection: Connection, settings: Settings) -> dict[Key, tuple[str, str]]:
    """This run's suggestions, (domain, reason) by (group, user); a domain both counted and
    configured is recorded as configured."""
    found: dict[Key, tuple[str, str]] = {}
    for group_id, user_id, domain, reason in connection.execute(candidates(settings)):
        if (group_id, user_id) not in found or reason == CONFIGURED_DOMAIN:
            found[group_id, user_id] = (domain, reason)
    return found


async def group_analysis(context: SyncContext) -> None:
    report = context.report.stream(STREAM)
    with context.write() as connection:
        found = find(connection, context.settings)
        analysed = connection.scalar(
            select(func.count(func.distinct(lms_groups.c.id)))
            .join(partners, partners.c.id == lms_groups.c.partner_id)
            .where(live_group())
        )
        run_id = connection.execute(
            insert(group_analysis_runs).values(
                sync_log_id=context.log_id,
                run_at=context.started_at,
                groups_analysed=analysed or 0,
                suggestions=len(found),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        rows = [
            {
                "run_id": run_id,
                "group_id": group_id,
                "user_id": user_id,
                "email_domain": domain,
                "reason": reason,
                "status": "open",
            }
            for (group_id, user_id), (domain, reason) in found.items()
        ]
        for batch in chunked(rows, 1000):
            connection.execute(insert(group_analysis_suggestions), batch)
    per_group = Counter(group_id for group_id, _ in found)
    report.processed += analysed or 0
    report.created += len(found)
    report.notes.append(
        f"run {run_id}: {len(found)} suggestion(s) in {len(per_group)} of {analysed} group(s)"
    )
    for group_id, count in per_group.most_common(MAX_GROUP_NOTES):
        report.notes.append(f"group {group_id}: {count}")
    if len(per_group) > MAX_GROUP_NOTES:
        report.notes.append(f"and {len(per_group) - MAX_GROUP_NOTES} more group(s)")


# --- reading and acting on suggestions ---------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    id: int
    run_id: int
    group_id: str
    group_name: str | None
    user_id: str
    email: str | None
    email_domain: str | None
    reason: str
    status: str


def latest_run_id(connection: Connection) -> int | None:
    latest: int | None = connection.scalar(select(func.max(group_analysis_runs.c.id)))
    return latest


def list_suggestions(
    connection: Connection,
    *,
    run_id: int | None = None,
    group_id: str | None = None,
    status: str | None = None,
) -> list[Suggestion]:
    """Suggestions of one run (default: the latest), optionally of one group or status."""
    run_id = run_id if run_id is not None else latest_run_id(connection)
    if run_id is None:
        return []
    s = group_analysis_suggestions.c
    query = (
        select(
            s.id,
            s.run_id,
            s.group_id,
            lms_groups.c.name,
            s.user_id,
            lms_users.c.email,
            s.email_domain,
            s.reason,
            s.status,
        )
        .outerjoin(lms_groups, lms_groups.c.id == s.group_id)
        .outerjoin(lms_users, lms_users.c.id == s.user_id)
        .where(s.run_id == run_id)
        .order_by(s.group_id, s.id)
    )
    if group_id is not None:
        query = query.where(s.group_id == group_id)
    if status is not None:
        query = query.where(s.status == status)
    return [Suggestion(*row) for row in connection.execute(query)]


def group_counts(connection: Connection, run_id: int | None = None) -> dict[str, dict[str, int]]:
    """Per group of a run (default: the latest): suggestion counts by status."""
    run_id = run_id if run_id is not None else latest_run_id(connection)
    s = group_analysis_suggestions.c
    counts: dict[str, dict[str, int]] = {}
    rows = connection.execute(
        select(s.group_id, s.status, func.count())
        .where(s.run_id == run_id)
        .group_by(s.group_id, s.status)
    )
    for group_id, status, count in rows:
        counts.setdefault(group_id, {})[status] = count
    return counts


@dataclass
class Decision:
    """What `accept` or `dismiss` did, suggestion ids by outcome."""

    done: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    not_open: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)


def _open_suggestions(connection: Connection, ids: Sequence[int], decision: Decision) -> list[Any]:
    s = group_analysis_suggestions.c
    rows = {
        row.id: row
        for row in connection.execute(
            select(s.id, s.group_id, s.user_id, s.status).where(s.id.in_(list(ids)))
        )
    }
    decision.unknown = [i for i in ids if i not in rows]
    decision.not_open = [i for i in ids if i in rows and rows[i].status != "open"]
    return [rows[i] for i in ids if i in rows and rows[i].status == "open"]


def accept(connection: Connection, suggestion_ids: Sequence[int], now: datetime) -> Decision:
    """Accept open suggestions: each adds a pending membership for `group_members_sync`.

    A user who is a live member meanwhile needs nothing more (counted in `already`); a
    membership removed earlier is revived as pending.
    """
    decision = Decision()
    chosen = _open_suggestions(connection, list(dict.fromkeys(suggestion_ids)), decision)
    member = lms_group_members.c
    for suggestion in chosen:
        stored = connection.execute(
            select(member.deleted_at).where(
                member.group_id == suggestion.group_id, member.user_id == suggestion.user_id
            )
        ).first()
        pending: dict[str, Any] = {
            "status": "pending",
            "added_at": now,
            "confirmed_at": None,
            "pending_error": None,
            "deleted_at": None,
        }
        if stored is None:
            connection.execute(
                insert(lms_group_members).values(
                    group_id=suggestion.group_id, user_id=suggestion.user_id, **pending
                )
            )
            decision.done.append(suggestion.id)
        elif stored.deleted_at is not None:
            connection.execute(
                update(lms_group_members)
                .where(member.group_id == suggestion.group_id, member.user_id == suggestion.user_id)
                .values(**pending)
            )
            decision.done.append(suggestion.id)
        else:
            decision.already.append(suggestion.id)
    _set_status(connection, [s.id for s in chosen], "accepted")
    return decision


def dismiss(connection: Connection, suggestion_ids: Sequence[int]) -> Decision:
    """Dismiss open suggestions; later runs do not suggest the same user for the same group."""
    decision = Decision()
    chosen = _open_suggestions(connection, list(dict.fromkeys(suggestion_ids)), decision)
    decision.done = [s.id for s in chosen]
    _set_status(connection, decision.done, "dismissed")
    return decision


def open_ids(connection: Connection, group_id: str, run_id: int | None = None) -> list[int]:
    """The open suggestions of one group in a run (default: the latest)."""
    chosen = list_suggestions(connection, run_id=run_id, group_id=group_id, status="open")
    return [suggestion.id for suggestion in chosen]


def _set_status(connection: Connection, ids: list[int], status: str) -> None:
    for batch in chunked(ids, 1000):
        connection.execute(
            update(group_analysis_suggestions)
            .where(group_analysis_suggestions.c.id.in_(batch))
            .values(status=status)
        )
