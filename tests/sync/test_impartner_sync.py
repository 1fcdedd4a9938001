"""`impartner_sync` against the sandbox over loopback, on SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert, select, update

from partnersync.clients import ImpartnerClient
from partnersync.config import Settings, load_settings
from partnersync.db.schema import contacts, lms_users, partners, sync_logs, sync_state
from partnersync.db.types import utcnow
from partnersync.sandbox.data import Account, User
from partnersync.sandbox.knobs import MutationAction, PageMutation
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.context import SyncContext, impartner_settings
from partnersync.sync.impartner import (
    ACCOUNTS,
    USERS,
    AccountScope,
    ContactScope,
    impartner_sync,
)

from .conftest import run, settings_for

INACTIVE_STATUSES = {"inactive", "terminated", "suspended", "deactivated"}


# --- what the database should hold ---------------------------------------------------------


def expected_partner(sb: RunningSandbox, account: Account) -> dict[str, Any]:
    region = sb.dataset.regions.get(account.Region) if account.Region is not None else None
    in_scope = (
        bool(account.Name)
        and (account.Partner_Tier__cf or "").lower() != "pending"
        and account.Account_Status__cf.lower() != "inactive"
    )
    return {
        "account_name": account.Name,
        "partner_tier": account.Partner_Tier__cf,
        "account_status": account.Account_Status__cf,
        "partner_type": account.Partner_Type__cf,
        "salesforce_id": account.CrmId,
        "website": account.Website,
        "region": region.Name if region else None,
        "country": account.MailingCountry,
        "parent_impartner_id": account.ParentAccount,
        "primary_user_impartner_id": account.PrimaryUser,
        "is_active": in_scope,
        "updated_at_source": account.Updated.replace(microsecond=0),
        "deleted_at": None,
    }


def expected_contact(user: User) -> dict[str, Any]:
    email = user.Email.strip().lower()
    return {
        "email": email,
        "email_domain": email.rsplit("@", 1)[1],
        "first_name": user.FirstName,
        "last_name": user.LastName,
        "title": user.Title,
        "impartner_account_id": user.Account,
        "contact_status": user.Contact_Status__cf,
        "is_active": user.IsActive and user.Contact_Status__cf.lower() not in INACTIVE_STATUSES,
        "deleted_at": None,
    }


def rows_by_impartner_id(engine: Engine, table: Any, columns: list[str]) -> dict[int, dict]:
    with engine.connect() as connection:
        rows = connection.execute(select(table)).mappings().all()
    return {row["impartner_id"]: {name: row[name] for name in columns} for row in rows}


def assert_mirrors_sandbox(engine: Engine, sb: RunningSandbox) -> None:
    """Live rows equal the sandbox's records; gone ones are soft-deleted, not removed."""
    want_partners = {i: expected_partner(sb, a) for i, a in sb.dataset.accounts.items()}
    stored = rows_by_impartner_id(engine, partners, list(next(iter(want_partners.values()))))
    assert {i: row for i, row in stored.items() if row["deleted_at"] is None} == want_partners
    want_contacts = {i: expected_contact(u) for i, u in sb.dataset.users.items()}
    stored = rows_by_impartner_id(engine, contacts, list(next(iter(want_contacts.values()))))
    assert {i: row for i, row in stored.items() if row["deleted_at"] is None} == want_contacts


def partner(engine: Engine, impartner_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(partners).where(partners.c.impartner_id == impartner_id)
        ).one()


def contact(engine: Engine, impartner_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(contacts).where(contacts.c.impartner_id == impartner_id)
        ).one()


def deleted_ids(engine: Engine, table: Any) -> set[int]:
    with engine.connect() as connection:
        return set(
            connection.scalars(select(table.c.impartner_id).where(table.c.deleted_at.is_not(None)))
        )


def watermark(engine: Engine, stream: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(sync_state.c.watermark).where(sync_state.c.stream == stream)
        )


def notes(outcome: Any, stream: str) -> str:
    return " | ".join(outcome.report.stream(stream).notes)


# --- full and incremental runs -------------------------------------------------------------


def test_full_run_mirrors_accounts_and_users_and_links_contacts(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    linked_user, other_user, unlinked_user = sorted(ds.users.values(), key=lambda u: u.Id)[:3]
    with engine.begin() as connection:
        connection.execute(
            insert(lms_users),
            [
                {"id": "lms-1", "email": linked_user.Email.lower(), "deleted_at": None},
                {"id": "lms-0", "email": other_user.Email.lower(), "deleted_at": None},
                {"id": "lms-2", "email": unlinked_user.Email.lower(), "deleted_at": utcnow()},
            ],
        )

    outcome = run(engine, sandbox, "impartner_sync", "full")

    assert outcome.status == "success", outcome.error
    assert_mirrors_sandbox(engine, sandbox)
    assert outcome.report.stream(ACCOUNTS).created == len(ds.accounts)
    assert outcome.report.stream(USERS).created == len(ds.users)
    assert "1 account(s) without a name" in notes(outcome, ACCOUNTS)  # tiny has one
    # the scope rule is exercised: tiny holds a Pending tier and an Inactive status
    assert {partner(engine, i).is_active for i in ds.accounts} == {True, False}

    with engine.connect() as connection:
        partner_ids = dict(
            connection.execute(select(partners.c.impartner_id, partners.c.id)).tuples().all()
        )
    for user in ds.users.values():
        row = contact(engine, user.Id)
        assert row.partner_id == (partner_ids[user.Account] if user.Account else None)
    assert any(user.Account is None for user in ds.users.values())
    assert contact(engine, linked_user.Id).lms_user_id == "lms-1"
    assert contact(engine, other_user.Id).lms_user_id == "lms-0"
    assert contact(engine, unlinked_user.Id).lms_user_id is None  # that LMS user is deleted
    assert watermark(engine, ACCOUNTS) is not None and watermark(engine, USERS) is not None


def test_pushed_certification_columns_are_never_overwritten(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    run(engine, sandbox, "impartner_sync", "full")
    some = min(sandbox.dataset.accounts)
    with engine.begin() as connection:
        connection.execute(
            update(partners)
            .where(partners.c.impartner_id == some)
            .values(certification_count=5, total_npcu=12, category_counts={"K2": 5})
        )
    sandbox.dataset.update_account(some, Name="Renamed Ltd")
    assert run(engine, sandbox, "impartner_sync", "full").status == "success"
    row = partner(engine, some)
    assert (row.account_name, row.certification_count, row.total_npcu) == ("Renamed Ltd", 5, 12)
    assert row.category_counts == {"K2": 5}


def test_incremental_run_picks_up_changes_scope_moves_and_listed_deletions(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    run(engine, sandbox, "impartner_sync", "full")
    first_mark = watermark(engine, ACCOUNTS)
    assert first_mark is not None

    active = [a.Id for a in ds.accounts.values() if partner(engine, a.Id).is_active]
    to_pending, to_delete = active[0], active[1]
    ds.update_account(to_pending, Partner_Tier__cf="Pending")
    new_account = ds.add_account("Brand New GmbH", Partner_Tier__cf="Certified", Region=1)
    ds.delete_account(to_delete)
    users = sorted(ds.users)
    ds.update_user(users[0], Email="  Moved.Person@Example.COM ", Account=new_account.Id)
    ds.update_user(users[1], Contact_Status__cf="Terminated")
    ds.delete_user(users[2])
    ds.add_user("fresh.face@example.org", "Fresh", "Face", Account=new_account.Id)

    outcome = run(engine, sandbox, "impartner_sync")

    assert outcome.status == "success", outcome.error
    assert_mirrors_sandbox(engine, sandbox)
    assert partner(engine, to_pending).is_active is False
    assert partner(engine, to_pending).deleted_at is None  # out of scope is not deleted
    gone = partner(engine, to_delete)
    assert gone.deleted_at is not None and gone.is_active is False and gone.account_name
    gone_user = contact(engine, users[2])
    assert gone_user.deleted_at is not None and gone_user.is_active is False
    assert outcome.report.stream(ACCOUNTS).deleted == 1
    assert outcome.report.stream(USERS).deleted == 1
    assert outcome.report.stream(ACCOUNTS).created == 1
    assert outcome.report.stream(USERS).created == 1
    # an incremental run reads what changed (plus the overlap), not everything
    assert outcome.report.stream(ACCOUNTS).processed < len(ds.accounts)
    assert outcome.report.stream(USERS).processed < len(ds.users)
    moved = contact(engine, users[0])
    assert moved.email == "moved.person@example.com"
    assert moved.partner_id == partner(engine, new_account.Id).id
    assert contact(engine, users[1]).is_active is False
    mark = watermark(engine, ACCOUNTS)
    assert mark is not None and first_mark <= mark <= outcome.started_at


def test_full_run_sweeps_the_missing_and_a_returning_record_is_undeleted(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    run(engine, sandbox, "impartner_sync", "full")
    vanished_id = min(ds.accounts)
    with ds.change():  # gone without a `_deleted` entry: only a full read can tell
        vanished = ds.accounts.pop(vanished_id)

    outcome = run(engine, sandbox, "impartner_sync", "full")
    assert outcome.status == "success", outcome.error
    assert outcome.report.stream(ACCOUNTS).deleted == 1
    assert deleted_ids(engine, partners) == {vanished_id}
    assert partner(engine, vanished_id).is_active is False

    with ds.change():
        ds.accounts[vanished_id] = vanished
    ds.touch_account(vanished_id)
    outcome = run(engine, sandbox, "impartner_sync")
    assert outcome.status == "success", outcome.error
    assert deleted_ids(engine, partners) == set()
    assert_mirrors_sandbox(engine, sandbox)


def test_exclusions_from_settings_make_rows_inactive_not_missing(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    users = sorted(ds.users)
    ds.update_user(users[0], Email="demo.account@example.org")
    ds.update_user(users[1], Email="j.rosales@example.org")  # "sales" is not a whole word
    ds.update_user(users[2], Email="someone@blocked.example")
    outcome = run(
        engine,
        sandbox,
        "impartner_sync",
        "full",
        IMPARTNER_EXCLUDED_TIERS="registered,Pending",
        IMPARTNER_CONTACT_EXCLUDED_DOMAINS="blocked.example",
        IMPARTNER_CONTACT_EXCLUDED_LOCAL_TOKENS="demo, sales",
    )
    assert outcome.status == "success", outcome.error
    assert contact(engine, users[0]).is_active is False
    assert contact(engine, users[1]).is_active is expected_contact(ds.users[users[1]])["is_active"]
    assert contact(engine, users[2]).is_active is False
    for account in ds.accounts.values():
        if account.Partner_Tier__cf in ("Registered", "Pending"):
            assert partner(engine, account.Id).is_active is False
    assert deleted_ids(engine, partners) == deleted_ids(engine, contacts) == set()


def test_scope_rules_are_case_insensitive_and_match_whole_words() -> None:
    settings = Settings(
        IMPARTNER_CONTACT_EXCLUDED_DOMAINS="Nintex.com",
        IMPARTNER_CONTACT_EXCLUDED_LOCAL_TOKENS="test,Sales",
    )
    contacts_scope = ContactScope.from_settings(settings)
    assert contacts_scope.excludes_email("someone@nintex.com")
    assert not contacts_scope.excludes_email("someone@mail.nintex.com")
    assert contacts_scope.excludes_email("qa+test@example.org")
    assert contacts_scope.excludes_email("inside_sales@example.org")
    assert not contacts_scope.excludes_email("contest@example.org")
    assert not contacts_scope.excludes_email("rosales@example.org")
    assert not contacts_scope.excludes_email(None)
    accounts_scope = AccountScope.from_settings(settings)
    assert accounts_scope.excluded_tiers == {"pending"}
    assert accounts_scope.excluded_statuses == {"inactive"}


# --- guards ------------------------------------------------------------------------------


def test_a_sweep_above_the_share_fails_the_run_and_deletes_nothing(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    run(engine, sandbox, "impartner_sync", "full")
    mark = watermark(engine, ACCOUNTS)
    for account_id in sorted(ds.accounts)[:2]:  # 2 of 8 = 25 % > 20 %
        ds.delete_account(account_id)

    outcome = run(engine, sandbox, "impartner_sync", "full")

    assert outcome.status == "failed"
    assert "refusing to soft-delete 2 of 8 active partners rows" in (outcome.error or "")
    assert deleted_ids(engine, partners) == set()
    assert watermark(engine, ACCOUNTS) == mark
    with engine.connect() as connection:
        log = connection.execute(select(sync_logs).where(sync_logs.c.id == outcome.log_id)).one()
    assert log.status == "failed" and "refusing" in log.error_message


@pytest.mark.parametrize(
    ("mutations", "sweeps"),
    [
        pytest.param(("delete",), False, id="fewer-than-counted"),
        pytest.param(("delete", "insert"), True, id="count-adds-up"),
    ],
)
def test_rows_changed_while_paging_never_cost_a_live_record(
    engine: Engine, sandbox: RunningSandbox, mutations: tuple[MutationAction, ...], sweeps: bool
) -> None:
    """Two accounts go (one already read, one still ahead) between the first pages.

    A read that got fewer rows than its first page counted does not sweep at all; one whose
    count adds up (an insert made up for the loss) sweeps only what is really gone.
    """
    ds = sandbox.dataset
    run(engine, sandbox, "impartner_sync", "full")
    sandbox.set_knobs(
        page_mutations=[PageMutation("Account", 1, action, count=2) for action in mutations]
    )
    first, ahead = sorted(ds.accounts)[:2]

    outcome = run(engine, sandbox, "impartner_sync", "full", IMPARTNER_PAGE_SIZE=1)

    assert outcome.status == "success", outcome.error
    assert first not in ds.accounts and ahead not in ds.accounts
    assert deleted_ids(engine, partners) == ({ahead} if sweeps else set())
    assert ("no deletion sweep" in notes(outcome, ACCOUNTS)) is not sweeps

    sandbox.set_knobs(page_mutations=())
    settled = run(engine, sandbox, "impartner_sync", "full", PARTNERSYNC_SWEEP_MAX_SHARE=0.3)
    assert settled.status == "success", settled.error
    assert_mirrors_sandbox(engine, sandbox)
    assert deleted_ids(engine, partners) == {first, ahead}


class CountsOneMore(httpx.AsyncBaseTransport):
    """Forwards to the sandbox but claims one more Account than the listing holds."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or not request.url.path.endswith("/Account"):
            return response
        body = json.loads(await response.aread())
        body["data"]["count"] += 1
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_read_short_of_its_count_never_sweeps(engine: Engine, sandbox: RunningSandbox) -> None:
    ds = sandbox.dataset
    run(engine, sandbox, "impartner_sync", "full")
    ds.delete_account(min(ds.accounts))
    settings = settings_for(sandbox)
    context = SyncContext(
        engine=engine,
        settings=settings,
        mode="full",
        started_at=utcnow(),
        make_impartner=lambda s: ImpartnerClient(impartner_settings(s), mock=CountsOneMore()),
    )

    async def scenario() -> None:
        try:
            await impartner_sync(context)
        finally:
            await context.aclose()

    asyncio.run(scenario())

    assert deleted_ids(engine, partners) == set()
    assert "fewer rows than it counted" in notes(context, ACCOUNTS)
    assert context.report.stream(USERS).notes  # users were read and linked all the same


def test_malformed_records_are_counted_skipped_and_spared_by_the_sweep(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    run(engine, sandbox, "impartner_sync", "full")
    bad_account = min(ds.accounts)
    bad_user, nameless_user = sorted(ds.users)[:2]
    ds.update_account(bad_account, Region="north", Name="Changed but unreadable")
    ds.update_user(bad_user, IsActive="perhaps")

    outcome = run(engine, sandbox, "impartner_sync", "full")

    assert outcome.status == "success", outcome.error
    assert outcome.report.stream(ACCOUNTS).failed == 1
    assert outcome.report.stream(USERS).failed == 1
    assert deleted_ids(engine, partners) == deleted_ids(engine, contacts) == set()
    assert partner(engine, bad_account).account_name != "Changed but unreadable"
    with engine.connect() as connection:
        failed = connection.scalar(
            select(sync_logs.c.records_failed).where(sync_logs.c.id == outcome.log_id)
        )
    assert failed == 2

    # a record without an id could be anyone: no user is swept while one is on the list
    ds.update_user(nameless_user, Id=None)
    ds.delete_user(sorted(i for i in ds.users if i not in (bad_user, nameless_user))[0])
    outcome = run(engine, sandbox, "impartner_sync", "full")
    assert outcome.status == "success", outcome.error
    assert deleted_ids(engine, contacts) == set()
    assert "without an id" in notes(outcome, USERS)


def test_a_failed_stream_leaves_its_watermark_and_earlier_data_alone(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    run(engine, sandbox, "impartner_sync", "full")
    account_mark, user_mark = watermark(engine, ACCOUNTS), watermark(engine, USERS)
    some_account, some_user = min(ds.accounts), min(ds.users)
    ds.update_account(some_account, Website="https://changed.example/")
    ds.update_user(some_user, FirstName="Changed")
    sandbox.set_knobs(fault_5xx_share=1.0, fault_path_prefix="/api/objects/v1/User")

    outcome = run(engine, sandbox, "impartner_sync", PARTNERSYNC_HTTP_MAX_ATTEMPTS=2)

    assert outcome.status == "failed"
    assert "User" in (outcome.error or "") and sandbox.impartner_key not in (outcome.error or "")
    # the account stream completed before the failure: its data and watermark moved
    assert partner(engine, some_account).website == "https://changed.example/"
    account_now = watermark(engine, ACCOUNTS)
    assert account_now is not None
    assert account_mark is not None and account_now >= account_mark
    # the user stream did not: nothing of it changed
    assert contact(engine, some_user).first_name != "Changed"
    assert watermark(engine, USERS) == user_mark

    sandbox.set_knobs(fault_5xx_share=0.0)
    assert run(engine, sandbox, "impartner_sync").status == "success"
    assert contact(engine, some_user).first_name == "Changed"


def test_scope_lists_are_read_from_comma_separated_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("IMPARTNER_EXCLUDED_TIERS", "Pending, Registered,")
    monkeypatch.setenv("IMPARTNER_CONTACT_EXCLUDED_LOCAL_TOKENS", "")
    settings = load_settings()
    assert settings.impartner_excluded_tiers == ("Pending", "Registered")
    assert settings.impartner_excluded_statuses == ("Inactive",)
    assert settings.impartner_contact_excluded_local_tokens == ()


@pytest.mark.parametrize(("margin_hours", "seen"), [(0, False), (14, True)])
def test_a_server_reading_the_utc_literal_in_its_own_zone_misses_nothing_with_the_margin(
    engine: Engine, sandbox: RunningSandbox, margin_hours: int, seen: bool
) -> None:
    """If Impartner dropped the `Z` and read the watermark in the tenant's zone (Denver, west
    of UTC), a read without the margin would start hours late and skip this change."""
    first, account_id = sorted(sandbox.dataset.accounts)[:2]
    sandbox.dataset.touch_account(first)  # the watermark becomes "now"
    run(engine, sandbox, "impartner_sync", "full")
    sandbox.set_knobs(impartner_literal_offsets="ignore")
    sandbox.dataset.update_account(account_id, Website="https://changed.example")
    outcome = run(engine, sandbox, "impartner_sync", IMPARTNER_FILTER_MARGIN_HOURS=margin_hours)
    assert outcome.status == "success"
    with engine.connect() as connection:
        website = connection.scalar(
            select(partners.c.website).where(partners.c.impartner_id == account_id)
        )
    assert (website == "https://changed.example") is seen
