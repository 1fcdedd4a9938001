"""`sync_to_impartner`: each active partner's certification count and NPCU total → Impartner.

Counts come from the one rule in `sync.certifications` and are stored on `partners` first.
The push is a bulk `PATCH /Account` (≤ 50 per request) of only the configured fields, each item
located by `Id`; `Name` and every other CRM-owned field are never sent. Each item's result is
read: a success records the values sent in `partner_push_state`, a failure records its reason
and keeps the last pushed values, so an incremental run (which sends only partners whose values
differ from their last successful push) retries it.

An account is located by the partner's `impartner_id`; when Impartner refuses that item and the
partner has a Salesforce id, the account carrying that CRM id (15- or 18-character form) is
looked up and, if it is exactly one other account, the item is sent there.

A run with refused items still succeeds (they count in `records_failed` and go again next run);
a run in which every item sent was refused fails, since that points at configuration (a field
name the tenant lacks, say) rather than at single accounts.

Counts built from half the enrollments would overwrite good numbers in the CRM, so the push
refuses (and fails, naming why) while the latest finished `sync_enrollments` run failed or a
partner user's enrollments were never read; however the push was started.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from partnersync.clients import PATCH_BATCH, ItemOutcome
from partnersync.clients.errors import ApiError
from partnersync.config import Settings
from partnersync.db.bulk import chunked, upsert
from partnersync.db.schema import lms_users, partner_push_state, partners
from partnersync.sync.certifications import (
    Totals,
    assign_categories,
    category_rules,
    certification_totals,
)
from partnersync.sync.context import SyncContext
from partnersync.sync.partner_history import record_snapshots
from partnersync.sync.partner_users import partner_user_ids
from partnersync.sync.partner_view import summaries
from partnersync.sync.report import StreamReport
from partnersync.tasks.upstream import PartialData, failed_upstream

STREAM = "impartner.account_push"
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
LOOKUP_BATCH = 20
"""Salesforce ids per account lookup request."""


@dataclass(frozen=True)
class Target:
    """What one partner's account should hold, and where to find the account."""

    partner_id: int
    account_id: int
    salesforce_id: str | None
    values: dict[str, int]

    def item(self, account_id: int | None = None) -> dict[str, Any]:
        return {"Id": account_id or self.account_id, **self.values}


def pushed_values(totals: Totals, settings: Settings) -> dict[str, int]:
    """The Account fields a partner's totals are written to (never `Id` or `Name`)."""
    values = {
        settings.push_count_field: totals.certifications,
        settings.push_npcu_field: totals.npcu,
    }
    for category, field_name in settings.push_category_fields.items():
        values[field_name] = totals.categories.get(category, 0)
    return values


def store_totals(
    connection: Connection, totals: Mapping[int, Totals], categories: Sequence[str], now: datetime
) -> int:
    """Write the totals onto `partners`; return how many partners' numbers changed."""
    stored = {
        row.id: (row.certification_count, row.total_npcu, row.category_counts)
        for row in connection.execute(
            select(
                partners.c.id,
                partners.c.certification_count,
                partners.c.total_npcu,
                partners.c.category_counts,
            ).where(partners.c.id.in_(list(totals)))
        )
    }
    rows = []
    changed = 0
    for partner_id, total in totals.items():
        counts = {category: total.categories.get(category, 0) for category in categories}
        counts.update(total.categories)
        row = (total.certifications, total.npcu, counts)
        changed += stored.get(partner_id) != row
        rows.append({"pid": partner_id, "count": row[0], "npcu": row[1], "categories": row[2]})
    for batch in chunked(rows, 1000):
        connection.execute(
            update(partners)
            .where(partners.c.id == bindparam("pid"))
            .values(
                certification_count=bindparam("count"),
                total_npcu=bindparam("npcu"),
                category_counts=bindparam("categories", type_=partners.c.category_counts.type),
                counts_computed_at=now,
            ),
            batch,
        )
    return changed


def targets_for(
    connection: Connection, totals: Mapping[int, Totals], settings: Settings
) -> list[Target]:
    accounts = connection.execute(
        select(partners.c.id, partners.c.impartner_id, partners.c.salesforce_id)
        .where(partners.c.id.in_(list(totals)))
        .order_by(partners.c.id)
    )
    return [
        Target(row.id, row.impartner_id, row.salesforce_id, pushed_values(totals[row.id], settings))
        for row in accounts
    ]


def needs_push(target: Target, state: Any | None, held: Mapping[str, Any] | None) -> bool:
    """Never pushed, last attempt failed, values differ from the last successful push, or
    Impartner holds other values now (someone changed them there)."""
    return (
        state is None
        or state.last_error is not None
        or state.pushed_values != target.values
        or (held is not None and held != target.values)
    )


async def crm_values(
    context: SyncContext, targets: Sequence[Target], ids: Sequence[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Account id → what Impartner holds now for the pushed fields (one paged read of every
    account, or of the accounts `ids`)."""
    names = sorted({name for target in targets for name in target.values})
    held: dict[int, dict[str, Any]] = {}
    if not names or ids == []:
        return held
    async for page in context.impartner.account_values(names, ids):
        context.checkpoint()
        for account in page.records:
            held[account.id] = {name: as_number(account.value(name)) for name in names}
    return held


def as_number(value: Any) -> Any:
    """CRM number fields may come back as doubles (`3.0`); compare them as the ints sent."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def record_crm_values(
    connection: Connection,
    targets: Sequence[Target],
    held: Mapping[int, Mapping[str, Any]],
    now: datetime,
) -> None:
    rows = [
        {"partner_id": t.partner_id, "crm_values": dict(held[t.account_id]), "crm_read_at": now}
        for t in targets
        if t.account_id in held
    ]
    if rows:
        upsert(connection, partner_push_state, rows)


def partial_data(connection: Connection) -> str | None:
    """Why the stored enrollments cannot be trusted for a push now, or None."""
    failed = failed_upstream(connection, ["sync_enrollments"])
    if failed:
        return failed
    users = partner_user_ids().subquery()
    unread = connection.scalar(
        select(func.count())
        .select_from(lms_users)
        .where(
            lms_users.c.id.in_(select(users.c.user_id)), lms_users.c.enrollments_synced_at.is_(None)
        )
    )
    if unread:
        return f"{unread} partner user(s) whose enrollments were never read"
    return None


async def sync_to_impartner(context: SyncContext) -> None:
    report = context.report.stream(STREAM)
    with context.engine.connect() as connection:
        gap = partial_data(connection)
    if gap and context.dry_run:
        report.notes.append(f"a real push would refuse now: {gap}")
    elif gap:
        raise PartialData(f"refusing to push counts from partial data: {gap}; run sync_enrollments")
    await push_counts(context, report)


async def push_counts(
    context: SyncContext, report: StreamReport, partner_ids: Collection[int] | None = None
) -> None:
    """Recount, record the day's snapshot, read back what Impartner holds and send what
    differs; every active partner, or only `partner_ids` (a partner refresh, webhook events):
    then one read-back and one PATCH batch for them all."""
    settings = context.settings
    now = context.started_at
    with context.write() as connection:
        rules = category_rules(connection, settings.certification_categories)
        recategorised = assign_categories(connection, rules)
        totals = certification_totals(connection, now)
        if partner_ids is not None:
            totals = {p: totals[p] for p in sorted(partner_ids) if p in totals}
        categories = sorted({rule.category for rule in rules} | set(settings.push_category_fields))
        recounted = store_totals(connection, totals, categories, now)
        targets = targets_for(connection, totals, settings)
        if partner_ids is None:
            listed = summaries(connection, settings, now)
        else:
            listed = [s for p in totals for s in summaries(connection, settings, now, p)]
        record_snapshots(connection, [s for s in listed if s.id in totals], now)
    try:
        ids = [t.account_id for t in targets] if partner_ids is not None else None
        held = await crm_values(context, targets, ids)
    except ApiError as exc:  # a field the tenant lacks, say: the push itself will tell
        held = {}
        report.notes.append(f"could not read back what Impartner holds ({exc}); drift unknown")
    with context.write() as connection:
        record_crm_values(connection, targets, held, now)
        states = {row.partner_id: row for row in connection.execute(select(partner_push_state))}
    drifted = sum(1 for t in targets if t.account_id in held and held[t.account_id] != t.values)
    report.notes.append(
        f"{len(targets)} active partner(s); counts changed for {recounted}; "
        f"{recategorised} course(s) recategorised; Impartner differs for {drifted}"
    )
    due = [
        t
        for t in targets
        if context.full or needs_push(t, states.get(t.partner_id), held.get(t.account_id))
    ]
    report.processed += len(targets)
    report.unchanged += len(targets) - len(due)
    if context.dry_run:
        context.planned.extend(target.item() for target in due)
        report.notes.append(f"dry run: {len(due)} account update(s) planned, none sent")
        return
    await Push(context, report).send(due)


@dataclass
class Push:
    context: SyncContext
    report: StreamReport
    succeeded: int = 0
    refused: int = 0
    unresolved: int = 0
    relocated: int = 0

    async def send(self, due: list[Target]) -> None:
        failures: list[tuple[Target, ItemOutcome]] = []
        done = 0
        self.context.progress(STREAM, done, len(due))
        for batch in chunked(due, PATCH_BATCH):
            self.context.checkpoint()
            self.context.confirm_lease()
            outcomes = await self.context.impartner.update_accounts([t.item() for t in batch])
            failures += self.record(batch, outcomes)
            done += len(batch)
            self.context.progress(STREAM, done, len(due))
        if failures:
            failures = await self.relocate(failures)
        for target, outcome in failures:
            self.report.fail(str(target.partner_id), "; ".join(outcome.errors) or "refused")
        self.refused = len(failures)
        self.report.updated += self.succeeded
        self.report.notes.append(
            f"sent {len(due)}, succeeded {self.succeeded}, failed {self.refused} "
            f"(unresolved {self.unresolved}), located by Salesforce id {self.relocated}"
        )
        if due and not self.succeeded:
            reason = failures[0][1].errors[0] if failures[0][1].errors else "refused"
            raise RuntimeError(
                f"Impartner refused all {len(due)} account update(s); first: {reason}"
            )

    def record(
        self, batch: Sequence[Target], outcomes: Sequence[ItemOutcome], *, relocated: bool = False
    ) -> list[tuple[Target, ItemOutcome]]:
        """Store each item's result; return the failures."""
        now = self.context.started_at
        ok = [t for t, outcome in zip(batch, outcomes, strict=True) if outcome.success]
        failed = [(t, o) for t, o in zip(batch, outcomes, strict=True) if not o.success]
        self.succeeded += len(ok)
        with self.context.write() as connection:
            if ok:
                upsert(
                    connection,
                    partner_push_state,
                    [
                        {
                            "partner_id": t.partner_id,
                            "pushed_values": t.values,
                            "pushed_at": now,
                            "last_attempt_at": now,
                            "last_error": None,
                            "crm_values": t.values,  # what Impartner holds now
                            "crm_read_at": now,
                        }
                        for t in ok
                    ],
                )
            if failed and not relocated:
                upsert(
                    connection,
                    partner_push_state,
                    [
                        {
                            "partner_id": t.partner_id,
                            "last_attempt_at": now,
                            "last_error": ("; ".join(o.errors) or "refused")[:2000],
                        }
                        for t, o in failed
                    ],
                )
        return failed

    async def relocate(
        self, failures: list[tuple[Target, ItemOutcome]]
    ) -> list[tuple[Target, ItemOutcome]]:
        """Send refused items again to the one other account with the partner's Salesforce id."""
        lookups = sorted(
            {
                t.salesforce_id[:15]
                for t, _ in failures
                if t.salesforce_id and SALESFORCE_ID.fullmatch(t.salesforce_id)
            }
        )
        accounts = await self.accounts_by_salesforce_id(lookups)
        retry: list[tuple[Target, int]] = []
        remaining = []
        for target, outcome in failures:
            key = (target.salesforce_id or "")[:15]
            if key in lookups and not accounts.get(key):
                self.unresolved += 1
            others = [account for account in accounts.get(key, []) if account != target.account_id]
            if len(others) == 1:
                retry.append((target, others[0]))
            else:
                remaining.append((target, outcome))
        for batch in chunked(retry, PATCH_BATCH):
            self.context.checkpoint()
            self.context.confirm_lease()
            outcomes = await self.context.impartner.update_accounts(
                [target.item(account) for target, account in batch]
            )
            targets = [target for target, _ in batch]
            before = self.succeeded
            remaining += self.record(targets, outcomes, relocated=True)
            self.relocated += self.succeeded - before
        return remaining

    async def accounts_by_salesforce_id(self, salesforce_ids: list[str]) -> dict[str, list[int]]:
        """Account ids by the first 15 characters of their CRM id (compared case-sensitively)."""
        found: dict[str, list[int]] = {}
        wanted = set(salesforce_ids)
        for batch in chunked(salesforce_ids, LOOKUP_BATCH):
            async for page in self.context.impartner.accounts_by_crm_prefix(batch):
                for account in page.records:
                    key = (account.crm_id or "")[:15]
                    if key in wanted:
                        found.setdefault(key, []).append(account.id)
        return found
