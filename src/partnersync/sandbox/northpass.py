"""Simulated Northpass LMS API v2: JSON:API documents, page/limit paging with absolute (or
relative) links, Ransack-style filters, sorting and the write endpoints a sync uses. What each
record looks like, and what can be filtered on, is its table in `northpass_schema`."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from partnersync.sandbox import page_mutations
from partnersync.sandbox.data import Dataset, Person
from partnersync.sandbox.northpass_schema import (
    COURSE,
    COURSE_PROPERTIES,
    ENROLLMENT,
    GROUP,
    MEMBERSHIP,
    PERSON,
    TRANSCRIPT_ITEM,
    WEBHOOK,
    Fields,
    Getter,
    RecordType,
)
from partnersync.sandbox.pipeline import ApiStyle, JsonResponse, Refusal, api_route, json_body
from partnersync.sandbox.state import SandboxState

JSON_TYPE = "application/json; charset=utf-8"
FILTER_PARAM = re.compile(r"^filter\[([^\]]+)\](?:\[([^\]]+)\])?$")
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "not_eq": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
}
Render = Callable[[Dataset, str, Any], dict[str, Any]]


class BadRequest(Refusal):
    """A query the API refuses with 400."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, status=400)


# --- formatting ---------------------------------------------------------------------------


def error(
    state: SandboxState, status: int, title: str, detail: str, pointer: str | None = None
) -> Response:
    body: dict[str, Any] = {
        "status": str(status),
        "title": title,
        "detail": detail,
        "source": {"pointer": pointer} if pointer else {},
    }
    return JsonResponse({"errors": [body]}, status, media_type=JSON_TYPE)


def authenticate(request: Request, state: SandboxState) -> str | Response:
    key = request.headers.get("x-api-key", "")
    if key in state.northpass_keys:
        return key
    return error(
        state,
        401,
        "Unauthorized",
        "Credentials are missing or invalid: send a valid X-Api-Key header.",
    )


TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity"}


def refuse(state: SandboxState, refusal: Refusal) -> Response:
    status = refusal.status or 400
    return error(state, status, TITLES.get(status, "Error"), str(refusal))


NORTHPASS = ApiStyle("northpass", authenticate, error, refuse)


def document(payload: dict[str, Any], status: int = 200) -> Response:
    return JsonResponse(payload, status, media_type=JSON_TYPE)


def root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# --- query parameters ----------------------------------------------------------------------


def coerce(kind: str, text: str) -> Any:
    if kind == "datetime":
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).replace(microsecond=0)
    if kind == "bool":
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise ValueError(text)
    if kind == "number":
        return float(text)
    return text


def predicate(getter: Getter, kind: str, name: str | None, raw: str) -> Callable[[Any], bool]:
    """One Ransack condition; like SQL, a missing (null) value matches no comparison."""
    if name in ("cont", "not_cont") or (name is None and kind == "str"):
        needle = raw.lower()
        wanted = name != "not_cont"

        def contains(record: Any) -> bool:
            value = getter(record)
            return value is not None and (needle in str(value).lower()) == wanted

        return contains
    if name == "in":
        values = {coerce(kind, part) for part in raw.split(",")}
        return lambda record: getter(record) in values
    compare = COMPARISONS[name or "eq"]
    value = coerce(kind, raw)

    def matches(record: Any) -> bool:
        actual = getter(record)
        try:
            return actual is not None and compare(actual, value)
        except TypeError:  # a planted malformed value never matches
            return False

    return matches


def filters(request: Request, fields: Fields, state: SandboxState) -> list[Callable[[Any], bool]]:
    conditions = []
    for key, raw in request.query_params.multi_items():
        match = FILTER_PARAM.match(key)
        if not match:
            continue
        attribute, name = match.groups()
        if attribute in state.knobs.northpass_ignored_filters:
            continue
        if attribute not in fields or (
            name is not None and name not in (*COMPARISONS, "cont", "not_cont", "in")
        ):
            if state.knobs.northpass_unknown_filter == "error":
                raise BadRequest(f"Unknown filter {key}")
            continue
        getter, kind = fields[attribute]
        try:
            conditions.append(predicate(getter, kind, name, raw))
        except ValueError as exc:
            raise BadRequest(f"Invalid value for {key}: {raw!r}") from exc
    return conditions


def sort_key(getter: Getter, kind: str) -> Callable[[Any], tuple[int, Any]]:
    """Nulls (and planted malformed dates) sort last ascending, first descending, like Postgres."""

    def key(record: Any) -> tuple[int, Any]:
        value = getter(record)
        if value is None or (kind == "datetime" and not isinstance(value, datetime)):
            return (1, 0)
        return (0, value)

    return key


def sort_keys(request: Request, fields: Fields, state: SandboxState) -> list[tuple[Getter, bool]]:
    keys = []
    for part in request.query_params.get("sort", "").split(","):
        attribute = part.strip().lstrip("-")
        if not attribute:
            continue
        if attribute not in fields:
            if state.knobs.northpass_unknown_filter == "error":
                raise BadRequest(f"Unknown sort attribute {attribute}")
            continue
        keys.append((sort_key(*fields[attribute]), part.strip().startswith("-")))
    return keys


def positive(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a positive integer") from exc
    if value < 1:
        raise BadRequest(f"{name} must be a positive integer")
    return value


def page_number(request: Request, state: SandboxState) -> int:
    """`page`, from 1. Whether the vendor refuses `page=0` (as here by default) or reads it as
    the first page (as an older third-party client expects) is unknown: a knob decides."""
    raw = request.query_params.get("page", "").strip()
    if raw.isdigit() and int(raw) == 0 and state.knobs.northpass_page_zero == "first_page":
        return 1
    return positive(request, "page", 1)


def query_rows(
    records: Iterable[Any], conditions: list[Callable[[Any], bool]], keys: list[tuple[Getter, bool]]
) -> list[Any]:
    rows = [r for r in records if all(c(r) for c in conditions)] if conditions else list(records)
    for key, descending in reversed(keys):
        rows.sort(key=key, reverse=descending)
    return rows


# --- listing ------------------------------------------------------------------------------


def page_url(base_url: str, params: list[tuple[str, str]], page: int) -> str:
    if page > 1:
        params = [*params, ("page", str(page))]
    return f"{base_url}?{urlencode(params)}" if params else base_url


def links(request: Request, state: SandboxState, page: int, has_next: bool) -> dict[str, Any]:
    """`self`, `prev`, `next`: absolute URLs as documented, or (a knob, since clients differ in
    what they cope with) relative to the API root, e.g. `/v2/people?limit=100&page=2`."""
    relative = state.knobs.northpass_next_link_style == "relative"
    base_url = request.url.path if relative else str(request.url.replace(query=""))
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    result: dict[str, Any] = {"self": page_url(base_url, params, page)}
    if page > 1:
        result["prev"] = page_url(base_url, params, page - 1)
    style = state.knobs.northpass_next_link_params
    if style == "drop_limit":
        params = [(k, v) for k, v in params if k != "limit"]
    elif style == "drop_filters":
        params = [(k, v) for k, v in params if not k.startswith("filter[") and k != "sort"]
    if has_next:
        result["next"] = page_url(base_url, params, page + 1)
    elif state.knobs.northpass_last_page_next == "null":
        result["next"] = None
    return result


def listing(
    request: Request,
    state: SandboxState,
    name: str,
    records: Callable[[], Iterable[Any]],
    record_type: RecordType,
    render: Render | None = None,
    max_page_size: int | None = None,
    cache_key: Hashable = None,
) -> Response:
    """One page of a collection, with Northpass's paging, filtering, sorting and links; the
    record type's table says what can be filtered and sorted on and (unless `render` is given)
    how each record looks. `cache_key`: what else besides the dataset's version the rows
    depend on."""
    knobs, ds = state.knobs, state.dataset
    render = render or record_type.render
    fields = record_type.fields(ds)
    page = page_number(request, state)
    limit = min(
        positive(request, "limit", knobs.northpass_default_page_size),
        max_page_size or knobs.northpass_max_page_size,
    )
    conditions = filters(request, fields, state)
    keys = sort_keys(request, fields, state)
    query_key = (
        "northpass",
        request.url.path,
        str(
            sorted(
                (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "limit")
            )
        ),
        knobs.northpass_ignored_filters,  # the same query filters differently then
        cache_key,
    )
    base = root(request)
    for pending in state.hooks.visible_now(name):
        page_mutations.apply_late(ds, pending)
    with ds.lock:
        rows = state.cache.rows(
            query_key, ds.version, lambda: query_rows(records(), conditions, keys)
        )
        start = (page - 1) * limit
        chunk = rows[start : start + limit]
        data = [render(ds, base, row) for row in chunk]
    full_last = bool(chunk) and len(chunk) == limit and knobs.northpass_next_on_full_last_page
    payload: dict[str, Any] = {
        "data": data,
        "links": links(request, state, page, start + limit < len(rows) or full_last),
    }
    if knobs.northpass_meta:
        payload["meta"] = {"total_count": len(rows), "total_pages": math.ceil(len(rows) / limit)}
    for mutation in state.hooks.after_page(knobs, name):
        page_mutations.apply(ds, mutation)
    return document(payload)


def not_found(state: SandboxState, what: str) -> Response:
    return error(state, 404, "Not Found", f"{what} not found")


async def body_data(request: Request) -> Any:
    """The request's top-level `data` member, or BadRequest."""
    try:
        body = await json_body(request)
    except Refusal as exc:
        raise BadRequest(str(exc)) from exc
    if not isinstance(body, dict) or "data" not in body:
        raise BadRequest("Request body must have a top-level data member")
    return body["data"]


# --- handlers -----------------------------------------------------------------------------


def person_renderer(state: SandboxState) -> Render:
    """A person as `PERSON` renders them, less the attributes `northpass_people_omit` names."""
    omit = state.knobs.northpass_people_omit
    if not omit:
        return PERSON.render

    def render(ds: Dataset, base: str, person: Person) -> dict[str, Any]:
        record = PERSON.render(ds, base, person)
        record["attributes"] = {k: v for k, v in record["attributes"].items() if k not in omit}
        return record

    return render


async def list_people(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    return listing(request, state, "people", ds.people.values, PERSON, person_renderer(state))


def one(
    request: Request, state: SandboxState, table: Mapping[str, Any], kind: str, render: Render
) -> Response:
    """`GET /v2/{collection}/{id}`: the record as a JSON:API document, or a 404."""
    ds = state.dataset
    with ds.lock:
        record = table.get(request.path_params["id"])
        if record is None:
            return not_found(state, kind)
        return document({"data": render(ds, root(request), record)})


async def get_person(request: Request, state: SandboxState) -> Response:
    return one(request, state, state.dataset.people, "Person", person_renderer(state))


async def create_person(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    try:
        attributes = (await body_data(request)).get("attributes", {})
    except (BadRequest, AttributeError):
        return error(state, 400, "Bad Request", "Expected {data: {attributes: {...}}}")
    email = str(attributes.get("email") or "").strip()
    if not email:
        return error(
            state, 422, "Unprocessable Entity", "Email can't be blank", "/data/attributes/email"
        )
    with ds.lock:
        if any((p.email or "").strip().lower() == email.lower() for p in ds.people.values()):
            return error(
                state,
                422,
                "Unprocessable Entity",
                "Email has already been taken",
                "/data/attributes/email",
            )
        person = ds.add_person(
            email, str(attributes.get("first_name") or ""), str(attributes.get("last_name") or "")
        )
        return document({"data": PERSON.render(ds, root(request), person)}, 201)


async def list_groups(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    return listing(request, state, "groups", ds.groups.values, GROUP)


async def get_group(request: Request, state: SandboxState) -> Response:
    return one(request, state, state.dataset.groups, "Group", GROUP.render)


async def create_group(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    try:
        attributes = (await body_data(request)).get("attributes", {})
    except (BadRequest, AttributeError):
        return error(state, 400, "Bad Request", "Expected {data: {attributes: {...}}}")
    name = str(attributes.get("name") or "").strip()
    if not name:
        return error(
            state, 422, "Unprocessable Entity", "Name can't be blank", "/data/attributes/name"
        )
    with ds.lock:
        existing = next((g for g in ds.groups.values() if g.name == name), None)
        if existing is not None:
            if state.knobs.northpass_duplicate_group == "conflict":
                return error(
                    state, 409, "Conflict", "Name has already been taken", "/data/attributes/name"
                )
            return document({"data": GROUP.render(ds, root(request), existing)})
        description = attributes.get("description")
        group = ds.add_group(name, description=str(description) if description else None)
        return document({"data": GROUP.render(ds, root(request), group)}, 201)


async def update_group(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    try:
        attributes = (await body_data(request)).get("attributes", {})
    except (BadRequest, AttributeError):
        return error(state, 400, "Bad Request", "Expected {data: {attributes: {...}}}")
    with ds.lock:
        group_id = request.path_params["id"]
        if group_id not in ds.groups:
            return not_found(state, "Group")
        group = ds.rename_group(group_id, str(attributes.get("name") or ds.groups[group_id].name))
        return document({"data": GROUP.render(ds, root(request), group)})


async def delete_group(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    with ds.lock:
        if request.path_params["id"] not in ds.groups:
            return not_found(state, "Group")
        ds.delete_group(request.path_params["id"])
    return Response(status_code=204)


async def list_memberships(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    members = ds.memberships.get(request.path_params["id"])
    if members is None:
        return not_found(state, "Group")
    return listing(request, state, "memberships", members.values, MEMBERSHIP)


async def change_members(request: Request, state: SandboxState) -> Response:
    """POST adds and DELETE removes `{data: [{type: "people", id}]}` (all or nothing)."""
    ds = state.dataset
    try:
        data = await body_data(request)
        person_ids = [str(entry["id"]) for entry in data]
    except (BadRequest, TypeError, KeyError):
        return error(state, 400, "Bad Request", "Expected {data: [{type: 'people', id}]}")
    group_id = request.path_params["id"]
    with ds.lock:
        if group_id not in ds.groups:
            return not_found(state, "Group")
        unknown = [pid for pid in person_ids if pid not in ds.people]
        if unknown:
            return error(state, 422, "Unprocessable Entity", f"Unknown people: {unknown}", "/data")
        if request.method == "POST":
            for pid in person_ids:
                ds.add_membership(group_id, pid)
            return Response(status_code=204)
        members = ds.memberships[group_id]
        missing = [pid for pid in person_ids if pid not in members]
        if missing and state.knobs.northpass_remove_nonmember_status == 404:
            return not_found(state, "Membership")
        for pid in person_ids:
            ds.remove_membership(group_id, pid)
    return Response(status_code=204)


async def list_courses(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    return listing(request, state, "courses", ds.courses.values, COURSE)


async def get_course(request: Request, state: SandboxState) -> Response:
    return one(request, state, state.dataset.courses, "Course", COURSE.render)


async def list_enrollments(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    course_id = request.path_params["id"]
    if course_id not in ds.courses:
        return not_found(state, "Course")
    enrolled = ds.enrollments.get(course_id, {})
    return listing(request, state, "enrollments", enrolled.values, ENROLLMENT)


async def list_course_properties(request: Request, state: SandboxState) -> Response:
    ds = state.dataset

    def visible() -> list[str]:
        return [cid for cid in ds.course_properties if cid not in ds.forbidden_property_ids]

    return listing(request, state, "course_properties", visible, COURSE_PROPERTIES)


async def get_course_properties(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    course_id = request.path_params["id"]
    with ds.lock:
        if course_id in ds.forbidden_property_ids:
            return error(
                state, 403, "Forbidden", "You are not allowed to access properties of this course"
            )
        if course_id not in ds.course_properties:
            return not_found(state, "Course")
        return document({"data": COURSE_PROPERTIES.render(ds, root(request), course_id)})


async def list_transcript(request: Request, state: SandboxState) -> Response:
    ds = state.dataset
    items = ds.transcripts.get(request.path_params["id"])
    if not items or request.path_params["id"] not in ds.people:
        return not_found(state, "Transcript")
    return listing(request, state, "transcripts", lambda: items, TRANSCRIPT_ITEM)


WEBHOOK_PAGE_SIZE = 50


async def list_webhooks(request: Request, state: SandboxState) -> Response:
    """The sent-webhook log, newest first (the vendor's order is undocumented), 50 a page."""
    hooks = state.webhooks
    return listing(
        request,
        state,
        "webhooks",
        hooks.kept,
        WEBHOOK,
        max_page_size=WEBHOOK_PAGE_SIZE,
        cache_key=hooks.horizon(),
    )


def routes() -> list[Route]:
    def route(method: str, path: str, handler: Any) -> Route:
        return api_route(NORTHPASS, method, path, handler)

    return [
        route("GET", "/v2/people", list_people),
        route("POST", "/v2/people", create_person),
        route("GET", "/v2/people/{id}", get_person),
        route("GET", "/v2/groups", list_groups),
        route("POST", "/v2/groups", create_group),
        route("GET", "/v2/groups/{id}", get_group),
        route("PATCH", "/v2/groups/{id}", update_group),
        route("DELETE", "/v2/groups/{id}", delete_group),
        route("GET", "/v2/groups/{id}/memberships", list_memberships),
        route("POST", "/v2/groups/{id}/relationships/people", change_members),
        route("DELETE", "/v2/groups/{id}/relationships/people", change_members),
        route("GET", "/v2/courses", list_courses),
        route("GET", "/v2/courses/{id}", get_course),
        route("GET", "/v2/courses/{id}/enrollments", list_enrollments),
        route("GET", "/v2/properties/courses", list_course_properties),
        route("GET", "/v2/properties/courses/{id}", get_course_properties),
        route("GET", "/v2/transcripts/{id}", list_transcript),
        route("GET", "/v2/webhooks", list_webhooks),
    ]
