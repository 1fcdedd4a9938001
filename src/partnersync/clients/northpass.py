"""Northpass LMS API v2 client: paths, parameters and record shapes only.

Rate limit, retries and counting live in `ApiSession`. Paging follows the rules in
docs/design.md §3: `page` + `limit`, continue while `links.next` is present and `data` is
non-empty, never read `meta`. A `next` link that lost our `limit`, filters or sort (or points
elsewhere) is not followed verbatim; the next page is requested from our own parameters instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from partnersync.clients.errors import ApiError
from partnersync.clients.fanout import fan_out
from partnersync.clients.ratelimit import Limiter
from partnersync.clients.records import (
    NorthpassCourse,
    NorthpassCourseEnrollment,
    NorthpassCourseProperties,
    NorthpassGroup,
    NorthpassMembership,
    NorthpassPerson,
    TranscriptItem,
    parse_page,
    parse_records,
)
from partnersync.clients.retry import MalformedResponse
from partnersync.clients.session import ABSENT, ApiClient
from partnersync.clients.settings import NorthpassSettings
from partnersync.clients.transport import ApiKeyAuth, ApiRequest, RequestStats
from partnersync.types import Page, Skipped

M = TypeVar("M", bound=BaseModel)

# Batch size for membership writes (the original system used 50 as well).
MEMBERSHIP_BATCH = 50


WEBHOOK_PAGE_SIZE = 50
"""The sent-webhook log's largest page (vendor-facts §3)."""


def format_time(value: dt.datetime) -> str:
    """Northpass datetime literal: UTC, second precision, `Z`."""
    if value.tzinfo is None:
        raise ValueError("Northpass filter times must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def filter_params(filters: Mapping[str, Any]) -> dict[str, str]:
    """`{"updated_at": {"gteq": t}, "email": {"eq": e}, "name": "x"}` → `filter[...]` params.

    A bare value is Northpass's substring match; use `{"eq": ...}` for an exact one.
    """
    params: dict[str, str] = {}
    for attribute, condition in filters.items():
        predicates = condition if isinstance(condition, Mapping) else {"": condition}
        for predicate, value in predicates.items():
            key = f"filter[{attribute}]" + (f"[{predicate}]" if predicate else "")
            params[key] = _literal(value)
    return params


def _literal(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_literal(item) for item in value)
    return str(value)


def next_page_request(
    base_url: str, path: str, params: Mapping[str, str], page: int, next_link: str
) -> ApiRequest:
    """The request for page `page`: `next_link` itself when it is safe, else our own parameters.

    Safe means: same origin and path as ours, and it carries every one of our parameters (limit,
    filters, sort) unchanged with `page` set to the page we expect. Anything else (a dropped
    `limit` or filter, another host) could widen the query or leak the key, so it is not used.
    """
    wanted = {**params, "page": str(page)}
    base = httpx.URL(base_url)
    link = base.join(next_link)
    same_place = (link.scheme, link.host, link.port) == (base.scheme, base.host, base.port) and (
        link.path == base.path.rstrip("/") + path
    )
    carried = dict(link.params.multi_items())
    if same_place and all(carried.get(key) == value for key, value in wanted.items()):
        return ApiRequest("GET", str(link))
    return ApiRequest("GET", path, tuple(wanted.items()))


def error_detail(body: Any) -> str:
    """JSON:API `errors` → `title: detail; ...`, short and free of request secrets."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        parts = []
        for error in body["errors"]:
            if isinstance(error, dict):
                text = ": ".join(str(error[k]) for k in ("title", "detail") if error.get(k))
                parts.append(text or str(error.get("status", "error")))
        return "; ".join(parts)[:300] or "error"
    return str(body)[:300] if body else "no body"


def _page_body(request: ApiRequest, body: Any) -> tuple[list[Any], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise MalformedResponse("body has no `data` array")
    links = body.get("links")
    next_link = links.get("next") if isinstance(links, dict) else None
    if next_link is not None and not isinstance(next_link, str):
        raise MalformedResponse("`links.next` is not a string")
    return body["data"], next_link or None


@dataclass(frozen=True)
class TranscriptResult:
    """One person's transcript; a 404 (no learning activity) is an empty transcript."""

    person_id: str
    items: list[TranscriptItem]
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a membership write: ids applied (or already so) and ids refused, with why."""

    done: list[str] = field(default_factory=list)
    failed: list[Skipped] = field(default_factory=list)
    not_members: list[str] = field(default_factory=list)
    """Of `done` on a removal, those the vendor answered 404 for (not a member)."""


class NorthpassClient(ApiClient):
    """Async Northpass client; open it inside the event loop that uses it (`async with`)."""

    settings: NorthpassSettings

    def __init__(
        self,
        settings: NorthpassSettings,
        *,
        limiter: Limiter | None = None,
        stats: RequestStats | None = None,
        mock: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            settings,
            ApiKeyAuth("X-Api-Key", settings.api_key, settings.base_url),
            {},
            error_detail,
            limiter=limiter,
            stats=stats,
            mock=mock,
        )
        self.settings = settings

    # --- reading -----------------------------------------------------------------------------

    async def raw_pages(
        self,
        path: str,
        *,
        filters: Mapping[str, Any] | None = None,
        sort: str | None = None,
        absent: Collection[int] = (),
        page_size: int | None = None,
    ) -> AsyncIterator[list[Any] | None]:
        """Every page's `data` of a collection; None, last, if a status in `absent` answered."""
        limit = min(page_size or self.settings.page_size, self.settings.page_size)
        params = {"limit": str(limit), **filter_params(filters or {})}
        if sort:
            params["sort"] = sort
        page = 1
        request = ApiRequest("GET", path, tuple(params.items()))
        previous_ids: list[Any] | None = None
        while True:
            body = await self._session.json(request, check=_page_body, absent=absent)
            if body is ABSENT:
                yield None
                return
            data, next_link = body
            if not data:
                return
            ids = [item.get("id") if isinstance(item, dict) else None for item in data]
            if ids == previous_ids:
                raise ApiError(request.describe(), 200, "paging did not advance (same page twice)")
            previous_ids = ids
            yield data
            if next_link is None:
                return
            page += 1
            request = next_page_request(self.settings.base_url, path, params, page, next_link)

    async def collection(
        self,
        path: str,
        model: type[M],
        *,
        filters: Mapping[str, Any] | None = None,
        sort: str | None = None,
    ) -> AsyncIterator[Page[M]]:
        """Any collection, parsed page by page into `model`; bad records are skipped, counted."""
        async for data in self.raw_pages(path, filters=filters, sort=sort):
            yield parse_page(data or [], model)

    def people(
        self, *, updated_since: dt.datetime | None = None, sort: str | None = None
    ) -> AsyncIterator[Page[NorthpassPerson]]:
        return self.collection(
            "/v2/people", NorthpassPerson, filters=_since(updated_since), sort=sort
        )

    def groups(
        self, *, updated_since: dt.datetime | None = None, sort: str | None = None
    ) -> AsyncIterator[Page[NorthpassGroup]]:
        return self.collection(
            "/v2/groups", NorthpassGroup, filters=_since(updated_since), sort=sort
        )

    def courses(
        self, *, updated_since: dt.datetime | None = None, sort: str | None = None
    ) -> AsyncIterator[Page[NorthpassCourse]]:
        return self.collection(
            "/v2/courses", NorthpassCourse, filters=_since(updated_since), sort=sort
        )

    def group_memberships(self, group_id: str) -> AsyncIterator[Page[NorthpassMembership]]:
        return self.collection(f"/v2/groups/{_seg(group_id)}/memberships", NorthpassMembership)

    def course_properties(self) -> AsyncIterator[Page[NorthpassCourseProperties]]:
        return self.collection("/v2/properties/courses", NorthpassCourseProperties)

    async def course_enrollments(
        self, course_id: str
    ) -> AsyncIterator[Page[NorthpassCourseEnrollment]]:
        """A course's enrollment listing; a course deleted meanwhile (404) yields one skip."""
        path = f"/v2/courses/{_seg(course_id)}/enrollments"
        async for data in self.raw_pages(path, absent=(404,)):
            if data is None:
                yield Page([], [Skipped(course_id, "course not found (HTTP 404)")])
                return
            yield parse_page(data, NorthpassCourseEnrollment)

    async def course_properties_for(self, course_id: str) -> Page[NorthpassCourseProperties]:
        """One course's properties; 403/404 (archived or deleted course) is a reported skip."""
        request = ApiRequest("GET", f"/v2/properties/courses/{_seg(course_id)}")
        body = await self._session.json(request, absent=(403, 404))
        if body is ABSENT:
            return Page([], [Skipped(course_id, "course properties not accessible (403/404)")])
        if not isinstance(body, dict) or "data" not in body:
            return Page([], [Skipped(course_id, "course properties body has no `data`")])
        return parse_page([body["data"]], NorthpassCourseProperties)

    async def transcript(self, person_id: str) -> TranscriptResult:
        """All transcript items of one person (every page); 404 means no activity yet."""
        items: list[TranscriptItem] = []
        skipped: list[Skipped] = []
        async for data in self.raw_pages(f"/v2/transcripts/{_seg(person_id)}", absent=(404,)):
            ok, bad = parse_records(data or [], TranscriptItem)
            items.extend(ok)
            skipped.extend(bad)
        return TranscriptResult(person_id, items, skipped)

    def transcripts(self, person_ids: Iterable[str]) -> AsyncIterator[TranscriptResult]:
        """Transcripts for many people, `concurrency` at a time, in completion order."""
        return fan_out(person_ids, self.transcript, self.settings.concurrency)

    def sent_webhooks(self, types: Iterable[str]) -> AsyncIterator[list[Any] | None]:
        """`GET /v2/webhooks`: the sent-webhook log of these event types, raw, page by page."""
        return self.raw_pages(
            "/v2/webhooks", filters={"type": {"in": sorted(types)}}, page_size=WEBHOOK_PAGE_SIZE
        )

    async def person(self, person_id: str) -> Page[NorthpassPerson] | None:
        """`GET /v2/people/{id}` as a page of one (or of one skipped record); None when
        Northpass no longer has the person."""
        request = ApiRequest("GET", f"/v2/people/{_seg(person_id)}")
        body = await self._session.json(request, absent=(404,))
        if body is ABSENT:
            return None
        return parse_page([body.get("data") if isinstance(body, dict) else None], NorthpassPerson)

    async def exists(self, collection: str, record_id: str) -> bool:
        """Whether `GET /v2/{collection}/{id}` still finds the record; 404 means it is gone."""
        request = ApiRequest("GET", f"/v2/{collection}/{_seg(record_id)}")
        return await self._session.json(request, absent=(404,)) is not ABSENT

    async def gone(self, collection: str, record_ids: Iterable[str]) -> set[str]:
        """The ids the vendor no longer has (404), asked `concurrency` at a time.

        Offset paging can skip a live record when rows before the cursor are deleted during
        the read, so nothing is soft-deleted on a listing's word alone.
        """

        async def check(record_id: str) -> tuple[str, bool]:
            return record_id, await self.exists(collection, record_id)

        found = fan_out(record_ids, check, self.settings.concurrency)
        return {record_id async for record_id, alive in found if not alive}

    # --- writing -----------------------------------------------------------------------------

    async def add_group_members(self, group_id: str, person_ids: Iterable[str]) -> WriteResult:
        """Idempotent add, ≤50 per request; a refused batch (422) is retried one by one."""
        return await self._write_members("POST", group_id, person_ids)

    async def remove_group_members(self, group_id: str, person_ids: Iterable[str]) -> WriteResult:
        """Idempotent remove, ≤50 per request; 404 for one person means already gone."""
        return await self._write_members("DELETE", group_id, person_ids)

    async def _write_members(
        self, method: str, group_id: str, person_ids: Iterable[str]
    ) -> WriteResult:
        """Batches first; a refused batch (422, or 404 on remove) is redone person by person,
        since the API applies a batch all or nothing and does not say who was refused."""
        path = f"/v2/groups/{_seg(group_id)}/relationships/people"
        ids = list(dict.fromkeys(person_ids))
        result = WriteResult()
        for start in range(0, len(ids), MEMBERSHIP_BATCH):
            batch = ids[start : start + MEMBERSHIP_BATCH]
            refusal = await self._send_members(method, path, batch)
            if refusal is None:
                result.done.extend(batch)
                continue
            for person_id in batch:
                if len(batch) > 1:
                    refusal = await self._send_members(method, path, [person_id])
                if refusal is None or refusal.status == 404:  # 404 only on remove: not a member
                    result.done.append(person_id)
                    if refusal is not None:
                        result.not_members.append(person_id)
                else:
                    result.failed.append(Skipped(person_id, refusal.detail))
        return result

    async def _send_members(self, method: str, path: str, person_ids: list[str]) -> _Refusal | None:
        body = {"data": [{"type": "people", "id": person_id} for person_id in person_ids]}
        request = ApiRequest(method, path, json=body)
        try:
            answer = await self._session.json(request, absent=(404,) if method == "DELETE" else ())
        except ApiError as exc:
            if exc.status != 422:
                raise
            return _Refusal(422, exc.detail)
        return _Refusal(404, "not a member") if answer is ABSENT else None


class _Refusal(NamedTuple):
    status: int
    detail: str


def _since(updated_since: dt.datetime | None) -> dict[str, Any]:
    return {"updated_at": {"gteq": updated_since}} if updated_since else {}


def _seg(value: str) -> str:
    return quote(value, safe="")
