"""Read-only probes of the Northpass behaviour the sync relies on (about 8 requests).

Each probe asks a question whose answer the sync takes for granted (docs/vendor-facts.md):
the key works, `limit` is honoured, `links.next` keeps the query, `filter[updated_at][gteq]`
filters, people carry `last_active_at` and `deactivated_at`, course properties answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from partnersync.clients.errors import ApiError
from partnersync.clients.northpass import NorthpassClient, format_time, next_page_request
from partnersync.clients.settings import NorthpassSettings
from partnersync.doctor.report import Checklist
from partnersync.doctor.vendor import Vendor, first_answer, probe_all

CHECKS = (
    "northpass.key",
    "northpass.limit",
    "northpass.paging",
    "northpass.updated_filter",
    "northpass.people_fields",
    "northpass.course_properties",
)
PEOPLE = "/v2/people"
SINCE_EVER = "2000-01-01T00:00:00Z"


NORTHPASS = Vendor(
    "Northpass", CHECKS, "NORTHPASS", frozenset({401, 403}), "check NORTHPASS_API_KEY"
)


async def probe(settings: NorthpassSettings, now: dt.datetime) -> Checklist:
    client = NorthpassClient(settings)
    return await probe_all(NORTHPASS, client, lambda checks: _probe(client, checks, now))


async def _probe(client: NorthpassClient, checks: Checklist, now: dt.datetime) -> None:
    settings = client.settings
    answer = client.get(PEOPLE, [("limit", "1")])
    if await first_answer(NORTHPASS, client, settings.base_url, checks, answer) is None:
        return
    params = {"limit": str(settings.page_size), "filter[updated_at][gteq]": SINCE_EVER}
    first = await client.get(PEOPLE, list(params.items()))
    people, next_link = records(first), next_of(first)
    _limit(checks, settings, len(people), next_link)
    await _paging(client, checks, params, people, next_link)
    await _updated_filter(client, checks, people, now)
    _people_fields(checks, people)
    await _course_properties(client, checks)


def records(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def next_of(body: Any) -> str | None:
    links = body.get("links") if isinstance(body, dict) else None
    link = links.get("next") if isinstance(links, dict) else None
    return link if isinstance(link, str) and link else None


def _limit(
    checks: Checklist, settings: NorthpassSettings, served: int, next_link: str | None
) -> None:
    asked = settings.page_size
    if served >= asked:
        checks.add("northpass.limit", "ok", f"a page holds the {asked} records asked for (limit)")
    elif next_link is None:
        checks.add(
            "northpass.limit",
            "ok",
            f"not decisive: only {served} people, fewer than a page of {asked}",
        )
    else:
        checks.add(
            "northpass.limit",
            "fail",
            f"limit={asked} was asked but a page held {served} records: the vendor caps pages "
            f"at {served}; the sync still reads every page, {asked // max(served, 1)}× as many",
            f"set NORTHPASS_PAGE_SIZE={served}",
        )


async def _paging(
    client: NorthpassClient,
    checks: Checklist,
    params: dict[str, str],
    people: list[dict[str, Any]],
    next_link: str | None,
) -> None:
    if next_link is None:
        checks.add("northpass.paging", "ok", "not decisive: the people fit on one page")
        return
    request = next_page_request(client.settings.base_url, PEOPLE, params, 2, next_link)
    followed = request.params == ()
    second = await client.get(request.url, request.params)
    first_ids = {p.get("id") for p in people}
    second_ids = [p.get("id") for p in records(second)]
    if not second_ids or first_ids & set(second_ids):
        checks.add(
            "northpass.paging",
            "fail",
            "page 2 repeats page 1 or is empty although links.next promised more: paging by "
            "`page` is not honoured and a sync could not read past the first page",
            "report it to Northpass; no setting makes the sync cope",
        )
    elif followed:
        checks.add(
            "northpass.paging", "ok", "links.next keeps limit and filters; page 2 follows on"
        )
    else:
        dropped = sorted(set(params) - set(httpx.URL(next_link).params.keys()))
        what = ", ".join(dropped) if dropped else "the query or its place"
        checks.add(
            "northpass.paging",
            "fail",
            f"links.next drops {what}: the sync does not follow it but asks for each next page "
            "with its own parameters (correct; nothing to change)",
            "none needed; report it to Northpass if it is new",
        )


async def _updated_filter(
    client: NorthpassClient, checks: Checklist, people: list[dict[str, Any]], now: dt.datetime
) -> None:
    future = format_time(now + dt.timedelta(days=1))
    ahead = records(
        await client.get(PEOPLE, [("limit", "1"), ("filter[updated_at][gteq]", future)])
    )
    stamps = sorted(t for t in (updated_at(p) for p in people) if t is not None)
    older: list[Any] = []
    if len(stamps) > 1 and stamps[0] < stamps[-1]:
        middle = stamps[len(stamps) // 2].replace(microsecond=0)
        answer = await client.get(
            PEOPLE,
            [
                ("limit", str(client.settings.page_size)),
                ("filter[updated_at][gteq]", format_time(middle)),
            ],
        )
        older = [p for p in records(answer) if (updated_at(p) or middle) < middle]
    if ahead or older:
        checks.add(
            "northpass.updated_filter",
            "fail",
            "filter[updated_at][gteq] is ignored (it returned people changed before the "
            "asked time): every incremental run reads whole collections, as slowly as a full run",
            "nothing to set; tell Northpass, and expect incremental runs to cost full runs",
        )
    else:
        checks.add(
            "northpass.updated_filter",
            "ok",
            "filter[updated_at][gteq] filters (nothing newer than tomorrow; no older rows)",
        )


def updated_at(person: dict[str, Any]) -> dt.datetime | None:
    attributes = person.get("attributes")
    value = attributes.get("updated_at") if isinstance(attributes, dict) else None
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _people_fields(checks: Checklist, people: list[dict[str, Any]]) -> None:
    if not people:
        checks.add("northpass.people_fields", "ok", "not decisive: the school has no people")
        return
    keys = [set(p.get("attributes") or {}) for p in people]
    missing = [
        name for name in ("last_active_at", "deactivated_at") if not any(name in k for k in keys)
    ]
    if not missing:
        checks.add(
            "northpass.people_fields", "ok", "people carry last_active_at and deactivated_at"
        )
        return
    consequences = {
        "last_active_at": "incremental sync_enrollments cannot see who was active, so it reads "
        "only new partner members and people last read PARTNERSYNC_ENROLLMENT_MAX_AGE_DAYS ago",
        "deactivated_at": "deactivation is read from `disabled` alone",
    }
    checks.add(
        "northpass.people_fields",
        "fail",
        f"people carry no {' and no '.join(missing)}: "
        + "; ".join(consequences[name] for name in missing),
        "run `partnersync sync sync_enrollments --full` daily, or lower "
        "PARTNERSYNC_ENROLLMENT_MAX_AGE_DAYS"
        if "last_active_at" in missing
        else None,
    )


async def _course_properties(client: NorthpassClient, checks: Checklist) -> None:
    try:
        await client.get("/v2/properties/courses", [("limit", "1")])
    except ApiError as exc:
        checks.add(
            "northpass.course_properties",
            "fail",
            f"course properties answer HTTP {exc.status}: sync_npcu cannot read NPCU values "
            "and keeps the stored ones",
            "give the key access to course properties",
        )
        return
    courses = records(await client.get("/v2/courses", [("limit", "1")]))
    if not courses:
        checks.add("northpass.course_properties", "ok", "course properties answer (no courses)")
        return
    course_id = str(courses[0].get("id"))
    try:
        await client.get(f"/v2/properties/courses/{course_id}")
        how = "answer"
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
        how = f"answer; one course's answer HTTP {exc.status}, which the sync counts as skipped"
    checks.add("northpass.course_properties", "ok", f"course properties {how}")
