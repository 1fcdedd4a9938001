"""Impartner client against the sandbox over real HTTP, with its fault modes switched on."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from partnersync.clients import ApiError, ImpartnerClient, ImpartnerRegion, Listing
from partnersync.sandbox.server import RunningSandbox

from .conftest import FAULTY, impartner_settings


async def collect(listing: Listing[Any]) -> list[Any]:
    records: list[Any] = []
    async for page in listing:
        records.extend(page.records)
        assert not page.skipped
    return records


def test_accounts_users_and_regions_are_exactly_complete_despite_429s_and_5xx(
    sandbox: RunningSandbox,
) -> None:
    sandbox.set_knobs(**FAULTY)
    ds = sandbox.dataset

    async def scenario() -> ImpartnerClient:
        async with ImpartnerClient(impartner_settings(sandbox, page_size=3)) as prm:
            listings: list[tuple[Listing[Any], dict[int, Any]]] = [
                (prm.accounts(), ds.accounts),
                (prm.users(), ds.users),
                (prm.regions(), ds.regions),
            ]
            for listing, table in listings:
                rows = await collect(listing)
                assert [r.id for r in rows] == sorted(table)  # orderby=Id, no duplicates
                assert listing.complete and listing.count == listing.fetched == len(table)
        return prm

    prm = asyncio.run(scenario())
    assert prm.stats.rate_limited > 0 and prm.stats.retries > 0 and prm.stats.failures == 0


def test_camel_case_fields_and_tenant_offsets_arrive_as_utc(sandbox: RunningSandbox) -> None:
    sandbox.set_knobs(impartner_timezone="Asia/Kolkata")
    ds = sandbox.dataset

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with ImpartnerClient(impartner_settings(sandbox)) as prm:
            return await collect(prm.accounts()), await collect(prm.users())

    accounts, users = asyncio.run(scenario())
    for account in accounts:
        source = ds.accounts[account.id]
        assert account.updated == source.Updated.replace(microsecond=0)
        assert account.updated is not None and account.updated.tzinfo == dt.UTC
        assert (account.partner_tier, account.crm_id, account.region_id) == (
            source.Partner_Tier__cf,
            source.CrmId,
            source.Region,
        )
    for user in users:
        source_user = ds.users[user.id]
        assert user.email == source_user.Email.strip().lower()
        assert user.account_id == source_user.Account


def test_filter_and_updated_since_are_combined(sandbox: RunningSandbox) -> None:
    ds = sandbox.dataset
    users = sorted(ds.users.values(), key=lambda u: u.Updated)
    since = users[len(users) // 2].Updated.replace(microsecond=0)
    expected = sorted(u.Id for u in users if u.Updated >= since and u.IsActive)

    async def scenario() -> list[Any]:
        async with ImpartnerClient(impartner_settings(sandbox, page_size=4)) as prm:
            return await collect(prm.users(filter="IsActive = true", updated_since=since))

    assert [u.id for u in asyncio.run(scenario())] == expected


def test_deleted_ids_in_a_window(sandbox: RunningSandbox) -> None:
    ds = sandbox.dataset
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    doomed = sorted(ds.accounts)[:2]
    for account_id in doomed:
        ds.delete_account(account_id)

    async def scenario() -> tuple[list[int], list[int]]:
        async with ImpartnerClient(impartner_settings(sandbox)) as prm:
            end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
            recent = await prm.deleted_ids("Account", start, end)
            older = await prm.deleted_ids("Account", start - dt.timedelta(days=1), start)
            return recent, older

    recent, older = asyncio.run(scenario())
    assert sorted(recent) == doomed and not set(older) & set(doomed)


def test_bulk_update_reads_per_item_results(sandbox: RunningSandbox) -> None:
    sandbox.set_knobs(**FAULTY)
    ds = sandbox.dataset
    account_ids = sorted(ds.accounts)
    # More items than one request may carry, so batching shows; repeats are harmless.
    updates: list[dict[str, Any]] = [
        {"Id": account_ids[i % len(account_ids)], "Total_NPCU__cf": i} for i in range(120)
    ]
    updates[5] = {"Id": account_ids[0], "Account_Status__cf": "Inactive"}  # read-only field
    updates[6] = {"Id": 999_999, "Total_NPCU__cf": 1}  # no such account

    async def scenario() -> list[Any]:
        async with ImpartnerClient(impartner_settings(sandbox)) as prm:
            return await prm.update_accounts(updates)

    outcomes = asyncio.run(scenario())
    assert [o.id for o in outcomes] == [u["Id"] for u in updates]
    failed = [i for i, o in enumerate(outcomes) if not o.success]
    assert failed == [5, 6] and all(outcomes[i].errors for i in failed)
    last = {u["Id"]: u["Total_NPCU__cf"] for u in updates if "Total_NPCU__cf" in u}
    for account_id in account_ids:
        assert ds.accounts[account_id].Total_NPCU__cf == last[account_id]
    patches = [r for r in sandbox.stats()["routes"] if r.startswith("PATCH")]
    assert patches


def test_updates_without_an_id_are_refused_before_sending(sandbox: RunningSandbox) -> None:
    async def scenario() -> None:
        async with ImpartnerClient(impartner_settings(sandbox)) as prm:
            with pytest.raises(ValueError, match="Id"):
                await prm.update_accounts([{"Id": 1}, {"Name": "x"}])
            assert prm.stats.requests == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("error_status", [200, 400])
def test_success_false_is_an_error_even_with_http_200(
    sandbox: RunningSandbox, error_status: int
) -> None:
    sandbox.set_knobs(impartner_error_status=error_status)

    async def scenario() -> ImpartnerClient:
        async with ImpartnerClient(impartner_settings(sandbox)) as prm:
            with pytest.raises(ApiError) as caught:
                await collect(prm.accounts(filter="NoSuchField = 1"))
        assert caught.value.status == error_status
        assert "GET /api/objects/v1/Account?fields=Id,Name" in str(caught.value)
        assert sandbox.impartner_key not in str(caught.value)
        return prm

    prm = asyncio.run(scenario())
    assert (prm.stats.requests, prm.stats.retries, prm.stats.failures) == (1, 0, 1)


@pytest.mark.parametrize("action", ["delete", "insert", "touch"])
def test_changes_while_paging_never_hide_a_row_and_deletions_prevent_a_sweep(
    sandbox: RunningSandbox, action: str
) -> None:
    """Keyset pages cannot shift: every row that exists throughout is read exactly once.

    (The sandbox deletes the lowest id, which was already read: nothing is missing.)
    """
    before = set(sandbox.dataset.users)
    sandbox.set_knobs(
        page_mutations=[{"listing": "User", "after_page": 1, "action": action, "count": 3}]
    )

    async def scenario() -> tuple[Listing[Any], list[int]]:
        async with ImpartnerClient(impartner_settings(sandbox, page_size=10)) as prm:
            moved = prm.users()
            ids = [user.id for page in [p async for p in moved] for user in page.records]
        return moved, ids

    moved, ids = asyncio.run(scenario())
    assert len(ids) == len(set(ids))
    survivors = before & set(sandbox.dataset.users)
    assert survivors <= set(ids)
    assert moved.complete


def test_fewer_rows_than_counted_is_not_complete() -> None:
    """Rows deleted ahead of the cursor leave the fetch short of its count: no sweep then."""
    pages = {None: (5, [{"id": 1}, {"id": 2}]), 2: (2, [{"id": 4}, {"id": 5}])}

    async def fetch(after: int | None) -> tuple[int, list[Any]]:
        return pages[after]

    async def read() -> Listing[Any]:
        listing: Listing[Any] = Listing(fetch, ImpartnerRegion)
        assert [r.id for p in [p async for p in listing] for r in p.records] == [1, 2, 4, 5]
        return listing

    listing = asyncio.run(read())
    assert (listing.count, listing.fetched, listing.complete) == (5, 4, False)
