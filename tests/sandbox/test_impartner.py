import base64
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from partnersync.sandbox.server import RunningSandbox

from .conftest import NOW, Clock

ACCOUNTS = "/api/objects/v1/Account"


def results(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]["results"]


def test_auth_with_prm_key_or_basic_and_tenant(sb: RunningSandbox) -> None:
    url = f"{sb.base_url}{ACCOUNTS}"
    good = {"Authorization": f"prm-key {sb.impartner_key}"}
    assert httpx.get(url, headers=good).status_code == 200  # tenant header is optional
    basic = base64.b64encode(f"api:{sb.impartner_key}".encode()).decode()
    assert httpx.get(url, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    for headers in ({}, {"Authorization": "prm-key wrong"}, {**good, "X-PRM-TenantId": "999"}):
        denied = httpx.get(url, headers=headers)
        assert denied.status_code == 401
        assert denied.json()["success"] is False
    sb.set_knobs(impartner_require_tenant=True, impartner_auth_failure_status=302)
    redirect = httpx.get(url, headers=good)
    assert redirect.status_code == 302 and "login" in redirect.headers["location"]
    assert httpx.get(url, headers={**good, "X-PRM-TenantId": "1"}).status_code == 200


def test_envelope_count_and_paging(imp: httpx.Client, sb: RunningSandbox) -> None:
    body = imp.get("/api/objects/v1/User", params={"take": 7, "orderby": "Id"}).json()
    assert body["success"] is True
    assert body["data"]["entity"] == "User"
    assert body["data"]["count"] == len(sb.dataset.users)
    assert [r["id"] for r in body["data"]["results"]] == sorted(sb.dataset.users)[:7]
    assert body["data"]["results"][0] == {"id": min(sb.dataset.users)}  # no fields: ids only
    page = imp.get("/api/objects/v1/User", params={"skip": 35, "take": 10, "orderby": "Id"})
    assert [r["id"] for r in results(page)] == sorted(sb.dataset.users)[35:45]
    beyond = imp.get("/api/objects/v1/User", params={"skip": 1000, "take": 10}).json()
    assert beyond["data"]["results"] == [] and beyond["data"]["count"] == len(sb.dataset.users)
    default = imp.get("/api/objects/v1/User").json()["data"]["results"]
    assert len(default) == 10


def test_take_limits_clamp_or_reject(imp: httpx.Client, sb: RunningSandbox) -> None:
    sb.set_knobs(impartner_max_take=5)
    assert len(results(imp.get(ACCOUNTS, params={"take": 50}))) == 5
    sb.set_knobs(impartner_take_over_max="reject")
    refused = imp.get(ACCOUNTS, params={"take": 50})
    assert refused.status_code == 400 and refused.json()["success"] is False
    assert imp.get(ACCOUNTS, params={"skip": -1}).status_code == 400
    assert imp.get(ACCOUNTS, params={"take": "many"}).status_code == 400


def test_keys_are_camel_cased_and_lookups_end_in_id(imp: httpx.Client, sb: RunningSandbox) -> None:
    fields = (
        "Id,Name,CrmId,IsActive,Partner_Tier__cf,Account_Status__cf,LMS_Account_ID__cf,"
        "Total_NPCU__cf,Certification_Count__cf,Region,ParentAccount,PrimaryUser,"
        "MemberCount,RecordVersion,Created,Updated"
    )
    record = results(imp.get(ACCOUNTS, params={"fields": fields, "take": 1, "orderby": "Id"}))[0]
    assert list(record) == [
        "id",
        "name",
        "crmId",
        "isActive",
        "partner_Tier__cf",
        "account_Status__cf",
        "lmS_Account_ID__cf",
        "total_NPCU__cf",
        "certification_Count__cf",
        "regionId",
        "parentAccountId",
        "primaryUserId",
        "memberCount",
        "recordVersion",
        "created",
        "updated",
    ]
    account = sb.dataset.accounts[record["id"]]
    assert record["regionId"] == account.Region
    assert datetime.fromisoformat(record["updated"]) == account.Updated
    assert record["updated"][-6:] in ("-06:00", "-07:00")


def test_fields_are_case_insensitive_and_dotted_paths_nest(
    imp: httpx.Client, sb: RunningSandbox
) -> None:
    user = next(u for u in sb.dataset.users.values() if u.Account)
    assert user.Account is not None
    record = imp.get(
        f"/api/objects/v1/user/{user.Id}",
        params={"fields": " email , ACCOUNTID,account.name, Account.Region.Name"},
    )
    data = record.json()["data"]
    account = sb.dataset.accounts[user.Account]
    assert account.Region is not None
    assert data == {
        "email": user.Email,
        "accountId": user.Account,
        "account": {
            "name": account.Name,
            "region": {"name": sb.dataset.regions[account.Region].Name},
        },
    }
    full = imp.get(f"/api/objects/v1/User/{user.Id}").json()["data"]
    assert full["accountName"] == account.Name and full["contact_Status__cf"]
    bad = imp.get(ACCOUNTS, params={"fields": "Id,Shoe_Size__cf"})
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_filter_and_orderby_over_http(imp: httpx.Client, sb: RunningSandbox) -> None:
    ds = sb.dataset
    params: dict[str, Any] = {
        "fields": "Id,Partner_Tier__cf,Name",
        "take": 100,
        "filter": "(Partner_Tier__cf = 'premier' or Partner_Tier__cf like 'Pend%') "
        "AND IsActive = true and Name != null",
        "orderby": "Partner_Tier__cf desc, Id asc",
    }
    rows = results(imp.get(ACCOUNTS, params=params))
    expected = sorted(
        (
            a
            for a in ds.accounts.values()
            if a.Partner_Tier__cf in ("Premier", "Pending") and a.IsActive and a.Name
        ),
        key=lambda a: a.Id,
    )
    expected.sort(key=lambda a: a.Partner_Tier__cf or "", reverse=True)
    assert [r["id"] for r in rows] == [a.Id for a in expected]
    by_lookup = results(
        imp.get(
            "/api/objects/v1/User",
            params={"fields": "Id", "take": 100, "filter": f"Account.Id = {expected[0].Id}"},
        )
    )
    assert {r["id"] for r in by_lookup} == {
        u.Id for u in ds.users.values() if u.Account == expected[0].Id
    }
    for bad in ("Nope = 1", "Name = 'x", "Id in (1,2)"):
        refused = imp.get(ACCOUNTS, params={"filter": bad})
        assert refused.status_code == 400 and refused.json()["success"] is False
    assert imp.get(ACCOUNTS, params={"orderby": "Nope"}).status_code == 400
    sb.set_knobs(impartner_error_status=200)
    assert imp.get(ACCOUNTS, params={"filter": "Nope = 1"}).json()["success"] is False


def test_zoneless_literals_use_the_tenant_zone_unless_told_otherwise(
    imp: httpx.Client, sb: RunningSandbox
) -> None:
    account = sb.dataset.accounts[min(sb.dataset.accounts)]
    sb.dataset.update_account(account.Id)  # Updated = NOW (12:00 UTC, 05:00 in Denver)
    literal = "Updated >= '2026-03-10T10:00:00'"
    params = {"filter": literal, "fields": "Id"}
    assert results(imp.get(ACCOUNTS, params=params)) == []  # 10:00 Denver = 16:00 UTC
    sb.set_knobs(impartner_zoneless_literals="utc")
    assert [r["id"] for r in results(imp.get(ACCOUNTS, params=params))] == [account.Id]
    zoned = {"filter": "Updated >= '2026-03-10T12:00:00Z'", "fields": "Id"}
    assert [r["id"] for r in results(imp.get(ACCOUNTS, params=zoned))] == [account.Id]


def test_unstable_order_without_orderby(imp: httpx.Client, sb: RunningSandbox) -> None:
    params: dict[str, Any] = {"take": 40, "fields": "Id"}
    stable = [r["id"] for r in results(imp.get("/api/objects/v1/User", params=params))]
    assert stable == sorted(sb.dataset.users)
    sb.set_knobs(impartner_unstable_order=True)
    orders = {
        tuple(r["id"] for r in results(imp.get("/api/objects/v1/User", params=params)))
        for _ in range(3)
    }
    assert len(orders) > 1
    ordered = results(imp.get("/api/objects/v1/User", params={**params, "orderby": "Id"}))
    assert [r["id"] for r in ordered] == sorted(sb.dataset.users)


def test_aliases_object_casing_and_unknown_objects(imp: httpx.Client) -> None:
    for path in ("/api/objects/v1/account", "/prm/api/objects/v1/ACCOUNT"):
        assert imp.get(path).json()["data"]["entity"] == "Account"
    regions = results(imp.get("/api/objects/v1/Region", params={"fields": "Id,Name"}))
    assert {"id", "name"} == set(regions[0])
    unknown = imp.get("/api/objects/v1/Spaceship")
    assert unknown.status_code == 404 and unknown.json()["success"] is False
    assert imp.get(f"{ACCOUNTS}/1").status_code == 404
    describe = imp.get(f"{ACCOUNTS}/_describe").json()["data"]
    read_only = {f["name"] for f in describe["fields"] if f["isReadOnly"]}
    assert {"Account_Status__cf", "MemberCount", "Updated"} <= read_only


def test_post_search_with_criteria(imp: httpx.Client, sb: RunningSandbox) -> None:
    body = {
        "filter": "IsActive = false",
        "fields": ["Id", "IsActive"],
        "orderBy": [{"field": "Id", "direction": "Desc"}],
        "skip": 0,
        "take": 50,
    }
    rows = results(imp.post(ACCOUNTS, json=body))
    assert [r["id"] for r in rows] == sorted(
        (a.Id for a in sb.dataset.accounts.values() if not a.IsActive), reverse=True
    )


def test_single_patch_updates_and_bumps(
    imp: httpx.Client, sb: RunningSandbox, clock: Clock
) -> None:
    account_id = min(sb.dataset.accounts)
    version = sb.dataset.accounts[account_id].RecordVersion
    clock.now = NOW + timedelta(minutes=5)
    response = imp.patch(
        f"{ACCOUNTS}/{account_id}",
        params={"returnFields": "Id,Total_NPCU__cf,Updated,RecordVersion"},
        json={"total_npcu__cf": 12, "Certification_Count__cf": 4},
    )
    data = response.json()["data"]
    assert data["total_NPCU__cf"] == 12.0 and isinstance(data["total_NPCU__cf"], float)
    assert data["recordVersion"] == version + 1
    assert datetime.fromisoformat(data["updated"]) == clock.now
    assert sb.dataset.accounts[account_id].Certification_Count__cf == 4
    refused = imp.patch(f"{ACCOUNTS}/{account_id}", json={"MemberCount": 3})
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "FIELD_READ_ONLY"
    changed = results(
        imp.get(ACCOUNTS, params={"filter": "Updated >= '2026-03-10T12:05:00Z'", "fields": "Id"})
    )
    assert [r["id"] for r in changed] == [account_id]


def test_bulk_patch_reports_per_item_while_http_stays_200(
    imp: httpx.Client, sb: RunningSandbox
) -> None:
    first, second = sorted(sb.dataset.accounts)[:2]
    body = [
        {
            "Id": first,
            "Certification_Count__cf": 5,
            "Total_NPCU__cf": 7.5,
            "Nintex_K2_Certifications__cf": 2,
        },
        {"Id": second, "Account_Status__cf": "Active"},
        {"Id": second, "Not_A_Field__cf": 1},
        {"Id": second, "Certification_Count__cf": "abc"},
        {"Certification_Count__cf": 1},
        {"Id": 1, "Certification_Count__cf": 1},
    ]
    response = imp.patch(ACCOUNTS, json=body)
    assert response.status_code == 200
    payload = response.json()
    assert payload["success"] is False
    codes = [r["errors"][0]["code"] if r["errors"] else None for r in payload["results"]]
    assert codes == [
        None,
        "FIELD_READ_ONLY",
        "UNKNOWN_FIELD",
        "INVALID_VALUE",
        "MISSING_ID",
        "NOT_FOUND",
    ]
    assert payload["results"][0]["success"] is True
    assert sb.dataset.accounts[first].Total_NPCU__cf == 7.5
    assert sb.dataset.accounts[second].RecordVersion == 1
    all_good = imp.patch(ACCOUNTS, json=[{"Id": second, "Total_NPCU__cf": 1}]).json()
    assert all_good["success"] is True


def test_create_users_and_accounts(imp: httpx.Client, sb: RunningSandbox) -> None:
    user = {
        "UserName": "new.user@example.org",
        "Email": "new.user@example.org",
        "FirstName": "New",
        "LastName": "User",
        "Account": min(sb.dataset.accounts),
    }
    created = imp.put(
        "/api/objects/v1/User", params={"returnFields": "Id,Email,AccountName"}, json=user
    )
    data = created.json()["data"]
    assert data["email"] == "new.user@example.org" and data["id"] in sb.dataset.users
    duplicate = imp.put("/api/objects/v1/User", json={**user, "UserName": "NEW.user@example.org"})
    assert duplicate.json()["errors"][0]["code"] == "NOT_UNIQUE"
    many = imp.put(ACCOUNTS, json=[{"Name": "Omega Partners"}, {"Website": "x"}]).json()
    assert [r["success"] for r in many["results"]] == [True, False]
    assert many["results"][0]["data"]["id"] > max(sb.dataset.deleted["Account"])


def test_deleted_ids_within_a_utc_window(
    imp: httpx.Client, sb: RunningSandbox, clock: Clock
) -> None:
    user_id = max(sb.dataset.users)
    clock.now = NOW + timedelta(hours=3)
    assert imp.delete(f"/api/objects/v1/User/{user_id}").json()["success"] is True
    assert imp.get(f"/api/objects/v1/User/{user_id}").status_code == 404
    window = {"fromUtc": "2026-03-10T14:00:00Z", "toUtc": "2026-03-10T16:00:00"}
    assert imp.get("/api/objects/v1/User/_deleted", params=window).json()["data"] == [user_id]
    history = {"fromUtc": "2000-01-01T00:00:00Z", "toUtc": "2026-03-10T13:00:00Z"}
    assert imp.get("/api/objects/v1/User/_deleted", params=history).json()["data"] == sorted(
        i for i in sb.dataset.deleted["User"] if i != user_id
    )
    assert imp.get("/api/objects/v1/User/_deleted").status_code == 400
    bulk = imp.request("DELETE", ACCOUNTS, json=[min(sb.dataset.accounts), 1]).json()
    assert [r["success"] for r in bulk["results"]] == [True, False]


@pytest.mark.parametrize("path", ["/api/objects/v1/Account", "/prm/api/objects/v1/account"])
def test_dataset_changes_show_in_counts(imp: httpx.Client, sb: RunningSandbox, path: str) -> None:
    before = imp.get(path).json()["data"]["count"]
    sb.dataset.add_account("Fresh Partner GmbH", Partner_Tier__cf="Pending")
    assert imp.get(path).json()["data"]["count"] == before + 1
