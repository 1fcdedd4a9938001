"""Impartner PRM Objects API v1 client: paths, parameters and record shapes only.

Reads pages by key (`orderby=Id`, `Id > last`, `take`), always with explicit `fields`, and
checks what they got against `data.count`. Responses use camelCase keys; `success:false` is an
error even with HTTP 200.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from partnersync.clients.errors import ApiError
from partnersync.clients.ratelimit import Limiter
from partnersync.clients.records import (
    ImpartnerAccount,
    ImpartnerFieldValues,
    ImpartnerRegion,
    ImpartnerUser,
    parse_page,
)
from partnersync.clients.retry import MalformedResponse
from partnersync.clients.session import ApiClient
from partnersync.clients.settings import ImpartnerSettings
from partnersync.clients.transport import ApiKeyAuth, ApiRequest, RequestStats
from partnersync.types import Page

M = TypeVar("M", bound=BaseModel)

BASE_PATH = "/api/objects/v1"
PATCH_BATCH = 50

ACCOUNT_FIELDS = (
    "Id",
    "Name",
    "Partner_Tier__cf",
    "Partner_Type__cf",
    "Account_Status__cf",
    "CrmId",
    "Website",
    "MailingCity",
    "MailingCountry",
    "RegionId",
    "ParentAccountId",
    "PrimaryUserId",
    "MemberCount",
    "IsActive",
    "Created",
    "Updated",
)
USER_FIELDS = (
    "Id",
    "Email",
    "FirstName",
    "LastName",
    "Title",
    "Phone",
    "AccountId",
    "AccountName",
    "AccountName",
    "Contact_Status__cf",
    "CrmId",
    "IsActive",
    "Created",
    "Updated",
)
REGION_FIELDS = ("Id", "Name")

_DELETED_IDS = TypeAdapter(list[int])


def format_time(value: dt.datetime) -> str:
    """Filter and `_deleted` literal: UTC with an explicit `Z`, so no zone is left to guess."""
    if value.tzinfo is None:
        raise ValueError("Impartner times must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_detail(body: Any) -> str:
    """Envelope `message` and `errors[].message`, short."""
    if isinstance(body, dict):
        parts = [str(body["message"])] if body.get("message") else []
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                parts.append(str(error.get("message") or error.get("code") or error))
        if parts:
            return "; ".join(parts)[:300]
    return str(body)[:300] if body else "no body"


def _envelope(request: ApiRequest, body: Any) -> Any:
    """The `data` of a successful envelope; `success:false` is final, a broken body retried."""
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        raise MalformedResponse("body is not an Impartner envelope")
    if not body["success"]:
        raise ApiError(request.describe(), 200, error_detail(body))
    return body.get("data")


def list_data(request: ApiRequest, body: Any) -> tuple[int, list[Any]]:
    data = _envelope(request, body)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("count"), int)
        or not isinstance(data.get("results"), list)
    ):
        raise MalformedResponse("list body has no integer `count` and `results` array")
    return data["count"], data["results"]


class Listing(Generic[M]):
    """An object's records, page by page (`async for page in listing`), plus completeness.

    Pages are read by key, not by offset: ordered by `Id`, each page asks for `Id > last id
    seen`, so rows added or deleted meanwhile cannot shift a row past the cursor unseen.
    Paging ends on an empty page or on a page that holds all that `data.count` says remains.
    `count` is the total the first page promised; `complete` is False when fewer rows arrived
    (rows deleted meanwhile, or a short answer): a full sync must not sweep after that.
    """

    def __init__(
        self, fetch_page: Callable[[int | None], Awaitable[tuple[int, list[Any]]]], model: type[M]
    ) -> None:
        self._fetch_page = fetch_page
        self._model = model
        self.count: int | None = None
        self.fetched = 0
        self._exhausted = False

    @property
    def complete(self) -> bool:
        return self._exhausted and self.count is not None and self.fetched >= self.count

    async def __aiter__(self) -> AsyncIterator[Page[M]]:
        after: int | None = None
        while True:
            remaining, results = await self._fetch_page(after)
            if self.count is None:
                self.count = remaining
            if not results:
                self._exhausted = True
                return
            self.fetched += len(results)
            yield parse_page(results, self._model)
            ids = [
                row["id"] for row in results if isinstance(row, dict) and type(row.get("id")) is int
            ]
            if not ids:
                raise MalformedResponse("an Impartner page without integer ids cannot be continued")
            after = max(ids)
            if len(results) >= remaining:
                self._exhausted = True
                return


@dataclass(frozen=True)
class ItemOutcome:
    """Per-item result of a bulk update."""

    id: Any
    success: bool
    errors: list[str] = field(default_factory=list)


class ImpartnerClient(ApiClient):
    """Async Impartner client; open it inside the event loop that uses it (`async with`)."""

    settings: ImpartnerSettings

    def __init__(
        self,
        settings: ImpartnerSettings,
        *,
        limiter: Limiter | None = None,
        stats: RequestStats | None = None,
        mock: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            settings,
            ApiKeyAuth("Authorization", settings.api_key, settings.base_url, prefix="prm-key "),
            {"X-PRM-TenantId": settings.tenant_id} if settings.tenant_id is not None else {},
            error_detail,
            limiter=limiter,
            stats=stats,
            mock=mock,
        )
        self.settings = settings

    # --- reading -----------------------------------------------------------------------------

    def records(
        self,
        object_name: str,
        model: type[M],
        fields: Sequence[str],
        *,
        filter: str | None = None,
        updated_since: dt.datetime | None = None,
    ) -> Listing[M]:
        """All records of `object_name` matching `filter` (and `Updated >= updated_since`)."""
        clauses = [f"({filter})"] if filter else []
        if updated_since is not None:
            clauses.append(f"Updated >= '{format_time(updated_since)}'")
        return Listing(
            functools.partial(self._fetch_page, object_name, ",".join(fields), clauses), model
        )

    async def _fetch_page(
        self, object_name: str, fields: str, clauses: list[str], after_id: int | None
    ) -> tuple[int, list[Any]]:
        where = [*clauses, f"Id > {after_id}"] if after_id is not None else clauses
        params = [("fields", fields), ("orderby", "Id")]
        if where:
            params.append(("filter", " and ".join(where)))
        request = ApiRequest(
            "GET",
            f"{BASE_PATH}/{object_name}",
            (*params, ("skip", "0"), ("take", str(self.settings.page_size))),
        )
        count, results = await self._session.json(request, check=list_data)
        return count, results

    def accounts(
        self, *, filter: str | None = None, updated_since: dt.datetime | None = None
    ) -> Listing[ImpartnerAccount]:
        return self.records(
            "Account", ImpartnerAccount, ACCOUNT_FIELDS, filter=filter, updated_since=updated_since
        )

    def users(
        self, *, filter: str | None = None, updated_since: dt.datetime | None = None
    ) -> Listing[ImpartnerUser]:
        return self.records(
            "User", ImpartnerUser, USER_FIELDS, filter=filter, updated_since=updated_since
        )

    def accounts_by_crm_prefix(self, prefixes: Sequence[str]) -> Listing[ImpartnerAccount]:
        """Accounts whose CRM id starts with one of `prefixes` (`CrmId like 'x%' or …`)
        with only `Id` and `CrmId`: Salesforce ids come in a 15- and an 18-character form."""
        clause = " or ".join(f"CrmId like '{_quoted(prefix)}%'" for prefix in prefixes)
        return self.records("Account", ImpartnerAccount, ("Id", "CrmId"), filter=clause)

    def account_values(
        self, fields: Sequence[str], ids: Sequence[int] | None = None
    ) -> Listing[ImpartnerFieldValues]:
        """`Id` and `fields` of every account (or of the accounts `ids`): what Impartner holds
        now for the pushed fields."""
        where = " or ".join(f"Id = {int(i)}" for i in ids) if ids else None
        return self.records("Account", ImpartnerFieldValues, ("Id", *fields), filter=where)

    def regions(self) -> Listing[ImpartnerRegion]:
        return self.records("Region", ImpartnerRegion, REGION_FIELDS)

    async def deleted_ids(
        self, object_name: str, from_utc: dt.datetime, to_utc: dt.datetime
    ) -> list[int]:
        """Ids of `object_name` records deleted in [from_utc, to_utc]."""
        request = ApiRequest(
            "GET",
            f"{BASE_PATH}/{object_name}/_deleted",
            (("fromUtc", format_time(from_utc)), ("toUtc", format_time(to_utc))),
        )
        ids: list[int] = await self._session.json(request, check=_deleted_ids)
        return ids

    # --- writing -----------------------------------------------------------------------------

    async def update_many(
        self, object_name: str, items: Sequence[Mapping[str, Any]]
    ) -> list[ItemOutcome]:
        """Bulk `PATCH /{object}`, ≤50 per request; each item needs `Id`; one outcome per item."""
        for item in items:
            if "Id" not in item:
                raise ValueError(f"every {object_name} update needs an `Id`: {sorted(item)}")
        outcomes: list[ItemOutcome] = []
        for start in range(0, len(items), PATCH_BATCH):
            batch = [dict(item) for item in items[start : start + PATCH_BATCH]]
            request = ApiRequest("PATCH", f"{BASE_PATH}/{object_name}", json=batch)
            body = await self._session.json(request, check=_patch_results)
            outcomes.extend(_outcomes(request, batch, body))
        return outcomes

    async def update_accounts(self, items: Sequence[Mapping[str, Any]]) -> list[ItemOutcome]:
        return await self.update_many("Account", items)


def _quoted(literal: str) -> str:
    """A string literal's content in Impartner's filter syntax (quotes doubled)."""
    return literal.replace("'", "''")


def _deleted_ids(request: ApiRequest, body: Any) -> list[int]:
    try:
        return _DELETED_IDS.validate_python(_envelope(request, body))
    except ValidationError:
        raise MalformedResponse("`_deleted` data is not a list of integer ids") from None


def _patch_results(request: ApiRequest, body: Any) -> Any:
    """The per-item results; `success:false` beside them only means some item failed."""
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        raise MalformedResponse("body is not an Impartner envelope")
    results = body.get("results")
    if results is None and isinstance(body.get("data"), dict):
        results = body["data"].get("results")
    if not isinstance(results, list):
        if not body["success"]:
            raise ApiError(request.describe(), 200, error_detail(body))
        raise MalformedResponse("bulk update body has no `results` array")
    return results


def _outcomes(request: ApiRequest, batch: list[dict[str, Any]], results: Any) -> list[ItemOutcome]:
    if len(results) != len(batch):
        raise ApiError(
            request.describe(), 200, f"{len(results)} results for {len(batch)} updated items"
        )
    outcomes = []
    for item, result in zip(batch, results, strict=True):
        ok = isinstance(result, dict) and result.get("success") is True
        errors = [] if ok else [error_detail(result)]
        outcomes.append(ItemOutcome(item["Id"], ok, errors))
    return outcomes
