"""`impartner_sync`: Impartner accounts → `partners`, users → `contacts`, then the contact links.

Every account and user is fetched whatever its tier or status, so one that leaves the configured
scope (say, a tier changed to Pending) is seen by an incremental run too; scope only decides
`is_active`. `deleted_at` means deleted in Impartner: missing from a complete full read, or
listed by `_deleted` since the stream's last read. `inactive_since` records when a run first
stored a row inactive or deleted (offboarding's grace period counts from it); it is stamped
as the run's last step, so only a run that got that far sets it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Table, false, not_, or_, update

from partnersync.clients import ImpartnerAccount, ImpartnerUser, Listing, Page
from partnersync.config import Settings
from partnersync.db.bulk import active_keys, check_sweep, soft_delete_keys
from partnersync.db.schema import contacts, partners
from partnersync.sync.collection import Stream, pull
from partnersync.sync.context import SyncContext
from partnersync.sync.links import link_contacts_to_lms_users, link_contacts_to_partners
from partnersync.sync.people import email_domain

M = TypeVar("M", ImpartnerAccount, ImpartnerUser)

ACCOUNTS = "impartner.accounts"
USERS = "impartner.users"
KEY = ("impartner_id",)
DELETED_VALUES: Mapping[str, Any] = {"is_active": False}
INACTIVE_CONTACT_STATUSES = frozenset({"inactive", "terminated", "suspended", "deactivated"})
LOCAL_PART_SEPARATORS = re.compile(r"[.\-_+]")


# --- scope -----------------------------------------------------------------------------------


def folded(names: Iterable[str]) -> frozenset[str]:
    return frozenset(name.strip().lower() for name in names if name.strip())


def is_one_of(value: str | None, names: frozenset[str]) -> bool:
    """Case-insensitive membership; a missing value is in no list."""
    return value is not None and value.strip().lower() in names


@dataclass(frozen=True)
class AccountScope:
    """Which accounts are active partners: named, with neither tier nor status excluded."""

    excluded_tiers: frozenset[str]
    excluded_statuses: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountScope:
        return cls(
            folded(settings.impartner_excluded_tiers),
            folded(settings.impartner_excluded_statuses),
        )

    def includes(self, account: ImpartnerAccount) -> bool:
        return (
            bool(account.name and account.name.strip())
            and not is_one_of(account.partner_tier, self.excluded_tiers)
            and not is_one_of(account.account_status, self.excluded_statuses)
        )


@dataclass(frozen=True)
class ContactScope:
    """Which users are active contacts: active, with a live status, and not excluded.

    Exclusions match an exact email domain or a whole word of the local part, never a
    substring: `test` excludes `test.user@…` but not `contest@…` (the old substring rule
    deactivated people named Rosales for containing "sales").
    """

    excluded_domains: frozenset[str]
    excluded_local_tokens: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> ContactScope:
        return cls(
            folded(settings.impartner_contact_excluded_domains),
            folded(settings.impartner_contact_excluded_local_tokens),
        )

    def includes(self, user: ImpartnerUser) -> bool:
        return (
            user.is_active is True
            and not is_one_of(user.contact_status, INACTIVE_CONTACT_STATUSES)
            and not self.excludes_email(user.email)
        )

    def excludes_email(self, email: str | None) -> bool:
        if not email or "@" not in email:
            return False
        local, domain = email.rsplit("@", 1)
        if domain in self.excluded_domains:
            return True
        return any(
            word in self.excluded_local_tokens for word in LOCAL_PART_SEPARATORS.split(local)
        )


# --- rows ------------------------------------------------------------------------------------


@dataclass
class AccountRows:
    """Account → `partners` row. Never touches the pushed certification columns."""

    regions: Mapping[int, str]
    scope: AccountScope
    nameless: int = 0

    def __call__(self, account: ImpartnerAccount) -> dict[str, Any]:
        if not account.name:
            self.nameless += 1
        region = self.regions.get(account.region_id) if account.region_id is not None else None
        return {
            "impartner_id": account.id,
            "account_name": account.name or None,
            "partner_tier": account.partner_tier,
            "account_status": account.account_status,
            "partner_type": account.partner_type,
            "salesforce_id": account.crm_id,
            "website": account.website,
            "region": region,
            "country": account.mailing_country,
            "parent_impartner_id": account.parent_account_id,
            "primary_user_impartner_id": account.primary_user_id,
            "is_active": self.scope.includes(account),
            "updated_at_source": account.updated,
        }


@dataclass
class ContactRows:
    """User → `contacts` row; `partner_id` and `lms_user_id` are left to the link step."""

    scope: ContactScope

    def __call__(self, user: ImpartnerUser) -> dict[str, Any]:
        return {
            "impartner_id": user.id,
            "email": user.email,
            "email_domain": email_domain(user.email),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "title": user.title,
            "impartner_account_id": user.account_id,
            "contact_status": user.contact_status,
            "is_active": self.scope.includes(user),
            "updated_at_source": user.updated,
        }


# --- reading ---------------------------------------------------------------------------------


def filter_margin(context: SyncContext) -> timedelta:
    return timedelta(hours=context.settings.impartner_filter_margin_hours)


@dataclass
class ImpartnerRead(Generic[M]):
    """One listing read for `pull`, remembered so `pull` can ask afterwards whether it was
    complete (every row its `count` promised), the condition for a deletion sweep.

    An incremental read starts `margin` earlier than asked: whether Impartner honours the
    `Z` of a filter literal or reads it in the tenant's zone is unknown, and in a zone west
    of UTC the second reading would skip hours of changes. Re-reading them costs little.
    """

    open: Callable[[datetime | None], Listing[M]]
    margin: timedelta
    listing: Listing[M] | None = field(default=None, init=False)

    def pages(self, since: datetime | None) -> AsyncIterator[Page[M]]:
        self.listing = self.open(None if since is None else since - self.margin)
        return aiter(self.listing)

    def complete(self) -> bool:
        return self.listing is not None and self.listing.complete


async def region_names(context: SyncContext) -> dict[int, str]:
    """Region id → name: a tiny lookup, read each run rather than stored."""
    names: dict[int, str] = {}
    async for page in context.impartner.regions():
        for region in page.records:
            if region.name:
                names[region.id] = region.name
    return names


# --- deletions -------------------------------------------------------------------------------


async def apply_listed_deletions(
    context: SyncContext, stream: Stream[Any], object_name: str
) -> None:
    """Incremental runs: soft-delete what `_deleted` lists since the stream's last read.

    Runs before the stream's read, so the watermark that `pull` advances afterwards never
    passes a deletion window that was not applied. Guarded like every deletion: above
    `max_delete_share` of the table's active rows nothing is deleted and the run fails.
    """
    since = context.watermarks.read_from(stream.name)
    if since is None:
        return
    ids = await context.impartner.deleted_ids(
        object_name, from_utc=since, to_utc=context.started_at
    )
    with context.write() as connection:
        active = active_keys(connection, stream.table, key=KEY)
        listed = sorted(active & {(deleted_id,) for deleted_id in ids})
        check_sweep(stream.table.name, len(listed), len(active), context.max_delete_share)
        deleted = soft_delete_keys(
            connection,
            stream.table,
            listed,
            now=context.started_at,
            key=KEY,
            extra=stream.deleted_values,
        )
    context.report.stream(stream.name).deleted += deleted


# --- the task --------------------------------------------------------------------------------


async def sync_accounts(context: SyncContext, regions: Mapping[int, str]) -> None:
    """Accounts → `partners`: listed deletions first, then the read, sweep and watermark."""
    rows = AccountRows(regions, AccountScope.from_settings(context.settings))
    stream = Stream(
        name=ACCOUNTS,
        table=partners,
        to_row=rows,
        updated_at=lambda account: account.updated,
        deleted_values=DELETED_VALUES,
        key=KEY,
        raw_key=int,
        read_margin=filter_margin(context),
    )
    read = ImpartnerRead(
        lambda since: context.impartner.accounts(updated_since=since), filter_margin(context)
    )
    await apply_listed_deletions(context, stream, "Account")
    await pull(context, stream, read.pages, complete=read.complete)
    if rows.nameless:
        context.report.stream(ACCOUNTS).notes.append(
            f"{rows.nameless} account(s) without a name stored as inactive partners"
        )


async def sync_contacts(context: SyncContext) -> None:
    """Users → `contacts`, the same way as accounts."""
    stream = Stream(
        name=USERS,
        table=contacts,
        to_row=ContactRows(ContactScope.from_settings(context.settings)),
        updated_at=lambda user: user.updated,
        deleted_values=DELETED_VALUES,
        key=KEY,
        raw_key=int,
        read_margin=filter_margin(context),
    )
    read = ImpartnerRead(
        lambda since: context.impartner.users(updated_since=since), filter_margin(context)
    )
    await apply_listed_deletions(context, stream, "User")
    await pull(context, stream, read.pages, complete=read.complete)


def link_contacts(context: SyncContext) -> None:
    """Contact → partner by Impartner account id, contact → LMS user by email."""
    with context.write() as connection:
        to_partners = link_contacts_to_partners(connection)
        to_lms_users = link_contacts_to_lms_users(connection)
    notes = context.report.stream(USERS).notes
    notes.append(f"{to_partners} contact → partner link(s) changed")
    notes.append(f"{to_lms_users} contact → LMS user link(s) changed")


def mark_inactive_since(connection: Connection, table: Table, now: datetime) -> tuple[int, int]:
    """Stamp `inactive_since` on rows now inactive or deleted that have none, clear it on rows
    active again; returns how many of each."""
    inactive = or_(table.c.is_active == false(), table.c.deleted_at.is_not(None))
    stamped = connection.execute(
        update(table).where(inactive, table.c.inactive_since.is_(None)).values(inactive_since=now)
    ).rowcount
    cleared = connection.execute(
        update(table)
        .where(not_(inactive), table.c.inactive_since.is_not(None))
        .values(inactive_since=None)
    ).rowcount
    return stamped, cleared


def stamp_inactivity(context: SyncContext) -> None:
    with context.write() as connection:
        changes = {
            stream: mark_inactive_since(connection, table, context.started_at)
            for stream, table in ((ACCOUNTS, partners), (USERS, contacts))
        }
    for stream, (stamped, cleared) in changes.items():
        context.report.stream(stream).notes.append(
            f"{stamped} became inactive or deleted, {cleared} active again"
        )


async def impartner_sync(context: SyncContext) -> None:
    """Accounts before users, so the contact → partner link finds this run's partners."""
    regions = await region_names(context)
    await sync_accounts(context, regions)
    await sync_contacts(context)
    link_contacts(context)
    stamp_inactivity(context)
