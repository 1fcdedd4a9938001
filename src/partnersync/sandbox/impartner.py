"""Simulated Impartner PRM Objects API v1: the `{success, data}` envelope, camelCased keys,
`fields`/`filter`/`orderby`/`skip`/`take`, partial and bulk PATCH with per-item results,
creates, deletes and `_deleted`."""

from __future__ import annotations

import base64
import binascii
import math
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from partnersync.sandbox import page_mutations
from partnersync.sandbox.casing import camel_case
from partnersync.sandbox.data import Dataset
from partnersync.sandbox.impartner_filter import (
    FieldRef,
    FilterError,
    compile_filter,
    parse_datetime,
    parse_filter,
)
from partnersync.sandbox.impartner_schema import ENTITIES, EntityDef, FieldDef
from partnersync.sandbox.pipeline import ApiStyle, JsonResponse, Refusal, api_route, json_body
from partnersync.sandbox.state import SandboxState

PREFIXES = ("/api/objects/v1", "/prm/api/objects/v1")
Render = Callable[[Any], Any]

LITERAL_OFFSET = re.compile(r"('\d{4}[-/]\d\d[-/]\d\dT[\d:.]+)(?:Z|[+-]\d\d:?\d\d)'")
"""A date-time literal's zone designator, dropped when the server is set to ignore it."""


class QueryError(Refusal):
    """A request the API answers with `success: false`."""

    def __init__(self, message: str, code: str = "INVALID_REQUEST") -> None:
        super().__init__(message, code=code)


# --- envelope, auth -------------------------------------------------------------------------


def error(state: SandboxState, status: int, code: str, message: str) -> Response:
    body = {"success": False, "message": message, "errors": [{"code": code, "message": message}]}
    return JsonResponse(body, status)


NOT_FOUND_CODES = frozenset({"UNKNOWN_OBJECT", "NOT_FOUND"})


def refuse(state: SandboxState, refusal: Refusal) -> Response:
    """`success: false`: 404 for what does not exist, otherwise the configured status."""
    code = refusal.code or "INVALID_REQUEST"
    status = refusal.status or (404 if code in NOT_FOUND_CODES else None)
    return error(state, status or state.knobs.impartner_error_status, code, str(refusal))


def refuse_result(state: SandboxState, errors: list[dict[str, Any]]) -> Response:
    """A write whose items all failed: their messages together, with the configured status."""
    message = "; ".join(e["message"] for e in errors)
    body = {"success": False, "message": message, "errors": errors}
    return JsonResponse(body, state.knobs.impartner_error_status)


def authenticate(request: Request, state: SandboxState) -> str | Response:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    key = credential.strip() if scheme.lower() == "prm-key" else None
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(credential).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            key = None
    tenant = request.headers.get("x-prm-tenantid")
    tenant_ok = tenant == str(state.tenant_id) or (
        tenant is None and not state.knobs.impartner_require_tenant
    )
    if key in state.impartner_keys and tenant_ok:
        return key
    if state.knobs.impartner_auth_failure_status == 302:
        return RedirectResponse(f"/login?ReturnUrl={request.url.path}", 302)
    return JsonResponse(
        {"success": False, "message": "Authorization has been denied for this request."}, 401
    )


IMPARTNER = ApiStyle("impartner", authenticate, error, refuse)


def ok(data: Any) -> Response:
    return JsonResponse({"success": True, "data": data})


# --- rendering ------------------------------------------------------------------------------


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def output_key(field: FieldDef) -> str:
    return camel_case(field.name) + ("Id" if field.kind == "lookup" else "")


def field_renderer(ds: Dataset, field: FieldDef, tz: ZoneInfo) -> Render:
    if field.kind == "datetime":

        def when(record: Any) -> str | None:
            value = field.value(ds, record)
            return value.astimezone(tz).isoformat(timespec="seconds") if value else None

        return when
    if field.kind == "double":

        def number(record: Any) -> float | None:
            value = field.value(ds, record)
            return None if value is None else float(value)

        return number
    return lambda record: field.value(ds, record)


def render_plan(
    ds: Dataset, entity: EntityDef, names: list[str] | None, tz: ZoneInfo
) -> Callable[[Any], dict[str, Any]]:
    """A function rendering a record with the requested fields (all when `names` is None);
    dotted names (`Account.Name`) expand a lookup into a nested object."""
    flat: list[tuple[str, Render]] = []
    nested: dict[str, tuple[FieldDef, list[str]]] = {}
    for name in names if names is not None else [f.name for f in entity.fields]:
        head, _, rest = name.strip().partition(".")
        field = entity.field(head)
        if field is None or (rest and field.kind != "lookup"):
            raise QueryError(
                f"Invalid field '{name.strip()}' for object {entity.name}", "INVALID_FIELD"
            )
        if rest:
            nested.setdefault(camel_case(field.name), (field, []))[1].append(rest)
        elif output_key(field) not in dict(flat):
            flat.append((output_key(field), field_renderer(ds, field, tz)))
    subplans: list[tuple[str, FieldDef, dict[int, Any], Callable[[Any], dict[str, Any]]]] = []
    for key, (field, sub_names) in nested.items():
        if field.target is None:  # an object the sandbox does not serve: never linked
            subplans.append((key, field, {}, lambda linked: {}))
            continue
        target = ENTITIES[field.target.lower()]
        sub = render_plan(ds, target, sub_names, tz)
        subplans.append((key, field, ds.impartner_table(target.name), sub))

    def render(record: Any) -> dict[str, Any]:
        out = {key: fn(record) for key, fn in flat}
        for key, field, table, sub in subplans:
            linked = table.get(getattr(record, field.name))
            out[key] = sub(linked) if linked is not None else None
        return out

    return render


def resolver(ds: Dataset, entity: EntityDef) -> Callable[[str], FieldRef]:
    """Field paths for filters and ordering: `Name`, `RegionId`, `Account.Name`."""

    def resolve(path: str) -> FieldRef:
        head, _, rest = path.partition(".")
        field = entity.field(head)
        if field is None or (rest and field.kind != "lookup"):
            raise FilterError(f"Invalid field '{path}' for object {entity.name}")
        if not rest:
            return FieldRef(lambda r: field.value(ds, r), field.kind)
        if field.target is None:  # an object the sandbox does not serve: always null
            return FieldRef(lambda r: None, "string")
        target = ENTITIES[field.target.lower()]
        table = ds.impartner_table(target.name)
        inner = resolver(ds, target)(rest)

        def through(record: Any) -> Any:
            linked = table.get(getattr(record, field.name))
            return inner.getter(linked) if linked is not None else None

        return FieldRef(through, inner.kind)

    return resolve


# --- searching ------------------------------------------------------------------------------


def integer(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"'{name}' must be an integer") from exc
    if number < 0:
        raise QueryError(f"'{name}' must not be negative")
    return number


def order_keys(
    resolve: Callable[[str], FieldRef], orderby: list[tuple[str, bool]]
) -> list[tuple[Callable[[Any], Any], bool]]:
    keys: list[tuple[Callable[[Any], Any], bool]] = []
    for path, descending in orderby:
        try:
            ref = resolve(path)
        except FilterError as exc:
            raise QueryError(str(exc), "INVALID_FIELD") from exc

        def key(
            record: Any,
            getter: Callable[[Any], Any] = ref.getter,
            text: bool = ref.kind == "string",
        ) -> tuple[int, Any]:
            value = getter(record)
            if value is None:
                return (0, 0)  # SQL Server puts nulls first
            return (1, value.casefold() if text else value)

        keys.append((key, descending))
    return keys


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    result = []
    for part in (text or "").split(","):
        words = part.split()
        if not words:
            continue
        direction = words[1].lower() if len(words) > 1 else "asc"
        if len(words) > 2 or direction not in ("asc", "desc"):
            raise QueryError(f"Invalid orderby '{part.strip()}'")
        result.append((words[0], direction == "desc"))
    return result


def search(
    state: SandboxState,
    entity: EntityDef,
    fields: list[str] | None,
    filter_text: str | None,
    orderby: list[tuple[str, bool]],
    skip_value: Any,
    take_value: Any,
) -> Response:
    knobs, ds = state.knobs, state.dataset
    skip = integer(skip_value, "skip", 0)
    take = integer(take_value, "take", knobs.impartner_default_take)
    if take > knobs.impartner_max_take:
        if knobs.impartner_take_over_max == "reject":
            raise QueryError(f"'take' must not exceed {knobs.impartner_max_take}")
        take = knobs.impartner_max_take
    if fields is None and knobs.impartner_list_default_fields == "id":
        fields = ["Id"]
    tz = zone(knobs.impartner_timezone)
    zoneless = tz if knobs.impartner_zoneless_literals == "tenant" else UTC
    if filter_text and knobs.impartner_literal_offsets == "ignore":
        filter_text = LITERAL_OFFSET.sub(r"\1'", filter_text)
    resolve = resolver(ds, entity)
    with ds.lock:
        render = render_plan(ds, entity, fields, tz)
        keys = order_keys(resolve, orderby)
        try:
            predicate = (
                compile_filter(parse_filter(filter_text), resolve, zoneless)
                if filter_text and filter_text.strip()
                else None
            )
        except FilterError as exc:
            raise QueryError(f"Invalid filter: {exc}", "INVALID_FILTER") from exc

        for pending in state.hooks.visible_now(entity.name):
            page_mutations.apply_late(ds, pending)

        def compute() -> list[Any]:
            rows = list(ds.impartner_table(entity.name).values())
            if predicate is not None:
                rows = [r for r in rows if predicate(r)]
            for key, descending in reversed(keys or [(lambda r: r.Id, False)]):
                rows.sort(key=key, reverse=descending)
            return rows

        query_key = ("impartner", entity.name, filter_text, str(orderby), str(zoneless))
        rows = state.cache.rows(query_key, ds.version, compute)
        if not orderby and knobs.impartner_unstable_order:
            rows = random.Random(state.dice.rng.random()).sample(rows, len(rows))
        results = [render(r) for r in rows[skip : skip + take]]
    for mutation in state.hooks.after_page(knobs, entity.name):
        page_mutations.apply(ds, mutation)
    return ok({"count": len(rows), "entity": entity.name, "results": results})


def entity_of(request: Request) -> EntityDef:
    name = request.path_params["object"]
    entity = ENTITIES.get(name.lower())
    if entity is None:
        raise QueryError(f"Unknown object '{name}'", "UNKNOWN_OBJECT")
    return entity


def param(request: Request, name: str) -> str | None:
    """Query parameter names bind case-insensitively, as in ASP.NET."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name:
            return value
    return None


def field_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


async def list_records(request: Request, state: SandboxState) -> Response:
    return search(
        state,
        entity_of(request),
        field_list(param(request, "fields")),
        param(request, "filter"),
        parse_orderby(param(request, "orderby")),
        param(request, "skip"),
        param(request, "take"),
    )


async def search_records(request: Request, state: SandboxState) -> Response:
    """POST search with a SearchCriteria body: filter, fields[], orderBy[], skip, take."""
    entity = entity_of(request)
    criteria = await json_body(request)
    if not isinstance(criteria, dict):
        raise QueryError("Search criteria must be an object")
    criteria = {k.lower(): v for k, v in criteria.items()}
    orderby = [
        (str(o.get("field", "")), str(o.get("direction", "Asc")).lower() == "desc")
        for o in criteria.get("orderby") or []
    ]
    return search(
        state,
        entity,
        criteria.get("fields") or None,
        criteria.get("filter"),
        orderby,
        criteria.get("skip"),
        criteria.get("take"),
    )


async def get_record(request: Request, state: SandboxState) -> Response:
    entity, ds = entity_of(request), state.dataset
    with ds.lock:
        record = ds.impartner_table(entity.name).get(request.path_params["id"])
        if record is None:
            raise QueryError(f"{entity.name} {request.path_params['id']} not found", "NOT_FOUND")
        tz = zone(state.knobs.impartner_timezone)
        return ok(render_plan(ds, entity, field_list(param(request, "fields")), tz)(record))


# --- writes ---------------------------------------------------------------------------------


def convert(ds: Dataset, field: FieldDef, value: Any) -> Any:
    """The value as stored, or ValueError when it does not fit the field's type."""
    if value is None:
        return None
    kind = field.kind
    if kind == "string":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError
        return str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ValueError
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    if kind == "double":
        return number
    if number != int(number):
        raise ValueError
    if kind == "lookup":
        if field.target is None:  # nothing the sandbox serves can be linked
            raise ValueError
        table = ds.impartner_table(field.target)
        if int(number) not in table:
            raise ValueError
    return int(number)


def changes_for(
    ds: Dataset, entity: EntityDef, body: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Validated attribute changes and per-field errors; `Id` in the body is only a locator."""
    changes, errors = {}, []
    for name, value in body.items():
        field = entity.field(name)
        if field is not None and field.name == "Id":
            continue
        if field is None:
            errors.append(
                {
                    "code": "UNKNOWN_FIELD",
                    "message": f"Field '{name}' does not exist on {entity.name}",
                }
            )
        elif field.read_only:
            errors.append(
                {"code": "FIELD_READ_ONLY", "message": f"Field '{field.name}' is read-only"}
            )
        else:
            try:
                changes[field.name] = convert(ds, field, value)
            except (TypeError, ValueError):
                errors.append(
                    {
                        "code": "INVALID_VALUE",
                        "message": f"Invalid value {value!r} for field '{field.name}'",
                    }
                )
    return changes, errors


def returned(state: SandboxState, entity: EntityDef, request: Request) -> Callable[[Any], Any]:
    names = field_list(param(request, "returnfields"))
    return render_plan(state.dataset, entity, names or ["Id"], zone(state.knobs.impartner_timezone))


def item_result(
    success: bool, data: Any = None, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"success": success, "data": data, "errors": errors or []}


def many_result(results: list[dict[str, Any]]) -> Response:
    """ModifyManyResult: HTTP 200 even when items failed; `success` only if none did."""
    failed = sum(not r["success"] for r in results)
    return JsonResponse(
        {
            "success": failed == 0,
            "message": f"{failed} of {len(results)} records failed" if failed else None,
            "errors": [],
            "results": results,
        }
    )


def update_one(
    state: SandboxState, entity: EntityDef, record_id: Any, body: Any, render: Callable[[Any], Any]
) -> dict[str, Any]:
    ds = state.dataset
    if not isinstance(body, dict):
        return item_result(
            False, errors=[{"code": "INVALID_REQUEST", "message": "Each item must be an object"}]
        )
    if record_id is None:
        return item_result(False, errors=[{"code": "MISSING_ID", "message": "Id is required"}])
    table = ds.impartner_table(entity.name)
    if not isinstance(record_id, int) or record_id not in table:
        return item_result(
            False, errors=[{"code": "NOT_FOUND", "message": f"{entity.name} {record_id} not found"}]
        )
    changes, errors = changes_for(ds, entity, body)
    if errors:
        return item_result(False, {"id": record_id}, errors)
    return item_result(True, render(ds.update_record(entity.name, record_id, **changes)))


async def patch_record(request: Request, state: SandboxState) -> Response:
    entity, ds = entity_of(request), state.dataset
    body = await json_body(request)
    record_id = request.path_params["id"]
    with ds.lock:
        if record_id not in ds.impartner_table(entity.name):
            raise QueryError(f"{entity.name} {record_id} not found", "NOT_FOUND")
        result = update_one(
            state,
            entity,
            record_id,
            body,
            returned(state, entity, request)
            if param(request, "returnfields")
            else render_plan(ds, entity, None, zone(state.knobs.impartner_timezone)),
        )
    if not result["success"]:
        return refuse_result(state, result["errors"])
    return ok(result["data"])


async def patch_many(request: Request, state: SandboxState) -> Response:
    entity, ds = entity_of(request), state.dataset
    body = await json_body(request)
    if not isinstance(body, list):
        raise QueryError("Expected an array of objects, each with its Id")
    with ds.lock:
        render = returned(state, entity, request)
        results = []
        for item in body:
            lowered = {k.lower(): v for k, v in item.items()} if isinstance(item, dict) else {}
            results.append(update_one(state, entity, lowered.get("id"), item, render))
    return many_result(results)


def create_one(
    state: SandboxState, entity: EntityDef, body: Any, render: Callable[[Any], Any]
) -> dict[str, Any]:
    ds = state.dataset
    if not isinstance(body, dict) or entity.name == "Region":
        return item_result(
            False,
            errors=[{"code": "INVALID_REQUEST", "message": f"Cannot create this {entity.name}"}],
        )
    changes, errors = changes_for(ds, entity, body)
    if entity.name == "Account" and not changes.get("Name"):
        errors.append({"code": "REQUIRED", "message": "Field 'Name' is required"})
    if entity.name == "User":
        user_name = changes.get("UserName")
        if not user_name:
            errors.append({"code": "REQUIRED", "message": "Field 'UserName' is required"})
        elif any(u.UserName.lower() == user_name.lower() for u in ds.users.values()):
            errors.append(
                {"code": "NOT_UNIQUE", "message": f"UserName '{user_name}' is not a unique value"}
            )
    if errors:
        return item_result(False, None, errors)
    if entity.name == "Account":
        record: Any = ds.add_account(changes.pop("Name"), **changes)
    else:
        email = changes.pop("Email", None) or changes["UserName"]
        record = ds.add_user(
            email,
            changes.pop("FirstName", None) or "",
            changes.pop("LastName", None) or "",
            **changes,
        )
    return item_result(True, render(record))


async def create_records(request: Request, state: SandboxState) -> Response:
    entity, ds = entity_of(request), state.dataset
    body = await json_body(request)
    with ds.lock:
        render = returned(state, entity, request)
        if isinstance(body, list):
            return many_result([create_one(state, entity, item, render) for item in body])
        result = create_one(state, entity, body, render)
    if not result["success"]:
        return refuse_result(state, result["errors"])
    return ok(result["data"])


async def delete_record(request: Request, state: SandboxState) -> Response:
    entity, ds = entity_of(request), state.dataset
    record_id = request.path_params["id"]
    with ds.lock:
        if record_id not in ds.impartner_table(entity.name):
            raise QueryError(f"{entity.name} {record_id} not found", "NOT_FOUND")
        ds.delete_record(entity.name, record_id)
    return ok(record_id)


async def delete_many(request: Request, state: SandboxState) -> Response:
    entity, ds = entity_of(request), state.dataset
    body = await json_body(request)
    if not isinstance(body, list):
        raise QueryError("Expected an array of ids")
    results = []
    with ds.lock:
        table = ds.impartner_table(entity.name)
        for record_id in body:
            if isinstance(record_id, int) and record_id in table:
                ds.delete_record(entity.name, record_id)
                results.append(item_result(True, record_id))
            else:
                results.append(
                    item_result(
                        False,
                        record_id,
                        [{"code": "NOT_FOUND", "message": f"{entity.name} {record_id} not found"}],
                    )
                )
    return many_result(results)


def utc_param(request: Request, name: str) -> datetime:
    text = param(request, name.lower())
    if not text:
        raise QueryError(f"'{name}' is required")
    try:
        return parse_datetime(text, UTC)
    except FilterError as exc:
        raise QueryError(f"'{name}' is not a date-time") from exc


async def deleted_ids(request: Request, state: SandboxState) -> Response:
    entity = entity_of(request)
    start, end = utc_param(request, "fromUtc"), utc_param(request, "toUtc")
    with state.dataset.lock:
        deleted = state.dataset.deleted[entity.name]
        return ok(sorted(i for i, when in deleted.items() if start <= when <= end))


async def describe(request: Request, state: SandboxState) -> Response:
    entity = entity_of(request)
    fields = [
        {
            "name": f.name,
            "fieldType": f.kind,
            "isReadOnly": f.read_only,
            "isFilterable": True,
            "isSortable": True,
            "lookupObject": f.target,
        }
        for f in entity.fields
    ]
    return ok({"name": entity.name, "fields": fields})


def routes() -> list[Route]:
    table: list[tuple[str, str, Any]] = [
        ("GET", "/{object}", list_records),
        ("POST", "/{object}", search_records),
        ("PUT", "/{object}", create_records),
        ("PATCH", "/{object}", patch_many),
        ("DELETE", "/{object}", delete_many),
        ("GET", "/{object}/_deleted", deleted_ids),
        ("GET", "/{object}/_describe", describe),
        ("GET", "/{object}/{id:int}", get_record),
        ("PATCH", "/{object}/{id:int}", patch_record),
        ("DELETE", "/{object}/{id:int}", delete_record),
    ]
    return [
        api_route(IMPARTNER, method, prefix + path, handler)
        for prefix in PREFIXES
        for method, path, handler in table
    ]
