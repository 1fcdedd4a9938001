"""`group_analysis`: LMS users who look like a partner's people but are not in its group.

For every live partner-linked group, the corporate email domains are those that count for its
partner on the evidence of its active contacts, plus any configured for the group
(`analysis_domains`). Every live, active LMS user on one of those domains who is not a member of
the group (confirmed or pending) is suggested, with that evidence. One set-based query does it
for all groups, joining on the indexed `email_domain` columns (no `LIKE '%@…'` scans).

A suggestion is one row per (group, person). A run updates the open rows it makes again (their
run, domain, reason and evidence) and adds the new ones; open rows it no longer makes (the
person joined the group, the domain stopped counting) are deleted, since nobody decided
anything on them. Accepted and dismissed rows are decisions: kept as they are, never reopened
and never suggested again. So after a run every open suggestion belongs to it.

Contacts come first (`provisioning`): a partner's active contacts missing from its groups are
made pending memberships at once, or suggested with reason `contact`
(PARTNERSYNC_ACCESS_AUTO_ACCEPT decides). A domain never suggests someone linked to one of the
partner's contacts: an active one is the contacts' business, and one who left must not come
back through a guess. Suggestions whose reason is in PARTNERSYNC_ACCESS_AUTO_ACCEPT are accepted
by the run itself. The run acts on stored data only while its upstream is whole.

Suggestions are read and acted on here too (`list_suggestions`, `accept`, `dismiss`), so the
CLI and the API share one implementation. Accepting adds a pending membership that
`group_members_sync` writes to Northpass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from partnersync.config import Settings
from partnersync.db.bulk import chunked
from partnersync.db.schema import (
    contacts,
    group_analysis_runs,
    group_analysis_suggestions,
    lms_group_members,
    lms_groups,
    lms_users,
    partners,
)
from partnersync.sync.context import SyncContext
from partnersync.sync.people import email_domain
from partnersync.tasks.analysis_domains import DomainEvidence, group_domains, live_group
from partnersync.tasks.members import NewMember, add_pending
from partnersync.tasks.provisioning import CONTACT, provision
from partnersync.tasks.registry import TASKS_BY_NAME
from partnersync.tasks.upstream import PartialData, failed_upstream

STREAM = "analysis.suggestions"
PROVISIONING = "analysis.provisioning"
MAX_GROUP_NOTES = 50
BATCH = 1000

Key = tuple[str, str]
"""(group id, user id): what a suggestion is about, one row each."""


def candidates(
    settings: Settings,
) -> Select[tuple[str, str, str, str, int | None, int | None, str | None, int]]:
    """(group id, user id, domain, reason, uses, total, partner name, impartner id): users on a
    group's domains who are not in the group and on whom nobody decided yet."""
    domains = group_domains(settings).subquery("domains")
    member = lms_group_members.c
    suggestion = group_analysis_suggestions.c
    return (
        select(
            domains.c.group_id,
            lms_users.c.id.label("user_id"),
            domains.c.domain,
            domains.c.reason,
            domains.c.uses,
            domains.c.total,
            domains.c.account_name,
            domains.c.impartner_id,
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
                suggestion.status != "open",
            ),
            ~exists().where(
                contacts.c.lms_user_id == lms_users.c.id,
                contacts.c.partner_id == domains.c.partner_id,
            ),
        )
        .order_by(domains.c.group_id, lms_users.c.id)
    )


@dataclass(frozen=True)
class Found:
    """A suggestion a run makes, as it is stored."""

    email_domain: str | None
    reason: str
    evidence: str


def find(connection: Connection, settings: Settings) -> dict[Key, Found]:
    """This run's suggestions; a domain both counted and configured is recorded as configured."""
    found: dict[Key, Found] = {}
    for row in connection.execute(candidates(settings)):
        evidence = DomainEvidence(
            domain=row.domain,
            reason=row.reason,
            uses=row.uses,
            total=row.total,
            partner=row.account_name or f"Impartner account {row.impartner_id}",
        )
        key = (row.group_id, row.user_id)
        if key not in found or evidence.configured:
            found[key] = Found(row.domain, row.reason, evidence.text())
    return found


@dataclass
class Stored:
    """What a run did to the open suggestions."""

    created: int = 0
    updated: int = 0  # made again with another domain, reason or evidence
    unchanged: int = 0  # made again as they were (only their run changes)
    deleted: int = 0  # no longer made


def store(connection: Connection, run_id: int, found: Mapping[Key, Found]) -> Stored:
    """Make `found` the open suggestions, updating rows in place; decided rows are not touched
    (every write checks the row is still open, so an accept meanwhile wins)."""
    s = group_analysis_suggestions.c
    still_open = s.status == "open"
    stored = {
        (row.group_id, row.user_id): row
        for row in connection.execute(
            select(s.id, s.group_id, s.user_id, s.email_domain, s.reason, s.evidence).where(
                still_open
            )
        )
    }
    new = [
        {"run_id": run_id, "group_id": group_id, "user_id": user_id, "status": "open"}
        | asdict(suggestion)
        for (group_id, user_id), suggestion in found.items()
        if (group_id, user_id) not in stored
    ]
    again = [stored[key] for key in found if key in stored]
    changed = [
        {"row_id": row.id} | {f"new_{name}": value for name, value in asdict(found[key]).items()}
        for key, row in stored.items()
        if key in found and Found(row.email_domain, row.reason, row.evidence) != found[key]
    ]
    gone = [row.id for key, row in stored.items() if key not in found]

    for batch in chunked(new, BATCH):
        connection.execute(insert(group_analysis_suggestions), batch)
    for ids in chunked([row.id for row in again], BATCH):
        connection.execute(
            update(group_analysis_suggestions)
            .where(s.id.in_(ids), still_open)
            .values(run_id=run_id)
        )
    if changed:
        connection.execute(
            update(group_analysis_suggestions)
            .where(s.id == bindparam("row_id"), still_open)
            .values(
                email_domain=bindparam("new_email_domain"),
                reason=bindparam("new_reason"),
                evidence=bindparam("new_evidence"),
            ),
            changed,
        )
    for ids in chunked(gone, BATCH):
        connection.execute(delete(group_analysis_suggestions).where(s.id.in_(ids), still_open))
    return Stored(
        created=len(new),
        updated=len(changed),
        unchanged=len(again) - len(changed),
        deleted=len(gone),
    )


async def group_analysis(context: SyncContext) -> None:
    report = context.report.stream(STREAM)
    settings = context.settings
    with context.engine.connect() as connection:
        gap = failed_upstream(connection, TASKS_BY_NAME["group_analysis"].upstream)
    if gap:
        raise PartialData(f"refusing to analyse partial data: {gap}")
    with context.write() as connection:
        provisioned, undecided = provision(connection, settings, context.started_at)
        found = find(connection, settings)
        for key, person in undecided.items():
            found[key] = Found(email_domain(person.email), CONTACT, person.evidence())
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
        stored = store(connection, run_id, found)
        automatic = set(settings.access_auto_accept) - {CONTACT}
        accepted = accept(
            connection,
            [
                s.id
                for s in list_suggestions(connection, run_id=run_id, status="open")
                if s.reason in automatic
            ],
            context.started_at,
            by="partnersync",
        )
    context.report.stream(PROVISIONING).created += provisioned + len(accepted.done)
    context.report.stream(PROVISIONING).notes.append(
        f"{provisioned} contact membership(s) and {len(accepted.done)} accepted suggestion(s) "
        "made pending for group_members_sync"
    )
    per_group = Counter(group_id for group_id, _ in found)
    report.processed += analysed or 0
    report.created += stored.created
    report.updated += stored.updated
    report.unchanged += stored.unchanged
    report.deleted += stored.deleted
    report.notes.append(
        f"run {run_id}: {len(found)} open suggestion(s) in {len(per_group)} of {analysed} "
        f"group(s); {stored.created} new, {stored.deleted} no longer made and removed"
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
    evidence: str | None  # None on rows from before evidence was recorded
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
    """Suggestions a run (default: the latest) made last, optionally of one group or status:
    for the latest run, every open suggestion and those decided since it ran."""
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
            s.evidence,
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
            select(s.id, s.group_id, s.user_id, s.status, s.reason, s.evidence).where(
                s.id.in_(list(ids))
            )
        )
    }
    decision.unknown = [i for i in ids if i not in rows]
    decision.not_open = [i for i in ids if i in rows and rows[i].status != "open"]
    return [rows[i] for i in ids if i in rows and rows[i].status == "open"]


def accept(
    connection: Connection, suggestion_ids: Sequence[int], now: datetime, *, by: str = "operator"
) -> Decision:
    """Accept open suggestions: each adds a pending membership for `group_members_sync`,
    decided `by` an operator, or by partnersync (PARTNERSYNC_ACCESS_AUTO_ACCEPT).

    A user who is a live member meanwhile needs nothing more (counted in `already`); a
    membership removed earlier is revived as pending.
    """
    decision = Decision()
    chosen = _open_suggestions(connection, list(dict.fromkeys(suggestion_ids)), decision)
    how = "accepted" if by == "operator" else "accepted automatically"
    already = add_pending(
        connection,
        [
            NewMember(
                s.group_id,
                s.user_id,
                "contact" if s.reason == CONTACT else "suggestion",
                by,
                f"suggestion {s.id} {how}: {s.evidence or s.reason}",
            )
            for s in chosen
        ],
        now,
    )
    for s in chosen:
        (decision.already if (s.group_id, s.user_id) in already else decision.done).append(s.id)
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
