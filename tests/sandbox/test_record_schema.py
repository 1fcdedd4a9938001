"""Every record type the sandbox serves, fetched over HTTP, against the one table that also renders
and filters it (`northpass_schema`, `impartner_schema`): exactly its attributes, links and
relationships, with JSON types that match (numbers are numbers, booleans booleans, null only
where the table allows it), so the sandbox cannot drift from the vendor's record schema again."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from partnersync.sandbox.generator import MALFORMED_DATE
from partnersync.sandbox.impartner import output_key
from partnersync.sandbox.impartner_schema import ACCOUNT, USER, EntityDef, FieldDef
from partnersync.sandbox.northpass_schema import (
    COURSE,
    COURSE_PROPERTIES,
    ENROLLMENT,
    GROUP,
    MEMBERSHIP,
    PERSON,
    RECORD_TYPES,
    TRANSCRIPT_ITEM,
    Attribute,
    RecordType,
)
from partnersync.sandbox.server import RunningSandbox, running_sandbox

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
Records = Callable[[httpx.Client, RunningSandbox], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with running_sandbox("tiny", rate_limit_per_second=None) as box:
        yield box


@pytest.fixture(scope="module")
def np(sb: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.base_url, headers={"X-Api-Key": sb.northpass_key}) as client:
        yield client


@pytest.fixture(scope="module")
def imp(sb: RunningSandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"prm-key {sb.impartner_key}"}
    with httpx.Client(base_url=sb.base_url, headers=headers) as client:
        yield client


def listed(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    """Every record of a listing, following `links.next`."""
    records: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        response = client.get(url, params={"limit": 100} if url == path else None)
        assert response.status_code == 200, (path, response.text)
        records += response.json()["data"]
        url = response.json()["links"].get("next")
    return records


def single(client: httpx.Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.text)
    record: dict[str, Any] = response.json()["data"]
    return record


def people(np: httpx.Client, sb: RunningSandbox) -> list[dict[str, Any]]:
    return [*listed(np, "/v2/people"), single(np, f"/v2/people/{next(iter(sb.dataset.people))}")]


def groups(np: httpx.Client, sb: RunningSandbox) -> list[dict[str, Any]]:
    return [*listed(np, "/v2/groups"), single(np, f"/v2/groups/{next(iter(sb.dataset.groups))}")]


def memberships(np: httpx.Client, sb: RunningSandbox) -> list[dict[str, Any]]:
    return [r for g in sb.dataset.groups for r in listed(np, f"/v2/groups/{g}/memberships")]


def courses(np: httpx.Client, sb: RunningSandbox) -> list[dict[str, Any]]:
    first = next(iter(sb.dataset.courses))
    return [*listed(np, "/v2/courses"), single(np, f"/v2/courses/{first}")]


def enrollments(np: httpx.Client, sb: RunningSandbox) -> list[dict[str, Any]]:
    return [r for c in sb.dataset.courses for r in listed(np, f"/v2/courses/{c}/enrollments")]


def transcript_items(np: httpx.Client, sb: RunningSandbox) -> list[dict[str, Any]]:
    active = [p for p in sb.dataset.people if sb.dataset.transcripts.get(p)]
    return [r for p in active for r in listed(np, f"/v2/transcripts/{p}")]


def course_properties(np: httpx.Client, sb: RunningSandbox) -> list[dict[str, Any]]:
    readable = next(c for c in sb.dataset.courses if c not in sb.dataset.forbidden_property_ids)
    return [*listed(np, "/v2/properties/courses"), single(np, f"/v2/properties/courses/{readable}")]


FETCH: dict[str, tuple[RecordType, Records]] = {
    rt.type: (rt, fetch)
    for rt, fetch in (
        (PERSON, people),
        (GROUP, groups),
        (MEMBERSHIP, memberships),
        (COURSE, courses),
        (ENROLLMENT, enrollments),
        (TRANSCRIPT_ITEM, transcript_items),
        (COURSE_PROPERTIES, course_properties),
    )
}


def test_every_record_type_is_checked() -> None:
    assert set(FETCH) == {rt.type for rt in RECORD_TYPES}


def typed(attribute: Attribute, value: Any) -> bool:
    if value is None:
        return attribute.nullable
    if attribute.kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if attribute.kind == "datetime":  # the one planted unparsable date passes through as it is
        return isinstance(value, str) and (bool(DATETIME.match(value)) or value == MALFORMED_DATE)
    expected = {"str": str, "bool": bool, "object": dict, "array": list}[attribute.kind]
    return isinstance(value, expected)


def check(record: dict[str, Any], rt: RecordType) -> None:
    assert record["type"] == rt.type
    assert isinstance(record["id"], str) and record["id"]
    assert list(record["attributes"]) == [a.name for a in rt.attributes]
    for attribute in rt.attributes:
        value = record["attributes"][attribute.name]
        assert typed(attribute, value), (rt.type, record["id"], attribute.name, value)

    if rt.relationships:
        assert list(record["relationships"]) == [r.name for r in rt.relationships]
        for relationship in rt.relationships:
            data = record["relationships"][relationship.name]["data"]
            assert isinstance(data, list) if relationship.to_many else isinstance(data, dict)
            for linked in data if relationship.to_many else [data]:
                assert linked["type"] == relationship.type and isinstance(linked["id"], str)
    else:
        assert "relationships" not in record

    if rt.links:
        links = record["links"]
        assert set(links) <= {link.name for link in rt.links}
        for link in rt.links:
            if link.when is None:
                assert link.name in links, (rt.type, link.name)
            if link.name not in links:
                continue
            body = links[link.name]
            assert isinstance(body["href"], str) and body["href"].startswith("http")
            methods = (
                body.get("meta", {}).get("methods") if rt.methods_in_meta else body.get("methods")
            )
            assert methods == (list(link.methods) or None), (rt.type, link.name, body)
    else:
        assert "links" not in record


@pytest.mark.parametrize("record_type", sorted(FETCH))
def test_served_records_match_their_table(
    np: httpx.Client, sb: RunningSandbox, record_type: str
) -> None:
    rt, fetch = FETCH[record_type]
    records = fetch(np, sb)
    assert records
    for record in records:
        check(record, rt)
    # Realistic values: every attribute holds a value somewhere, even in the tiny dataset.
    empty = [
        a.name for a in rt.attributes if all(r["attributes"][a.name] in (None, []) for r in records)
    ]
    assert empty == [], (record_type, empty)


# --- Impartner ------------------------------------------------------------------------------


def impartner_typed(field: FieldDef, value: Any) -> bool:
    if value is None:
        return field.name != "Id"
    if field.kind in ("int", "lookup"):
        return isinstance(value, int) and not isinstance(value, bool)
    if field.kind == "double":
        return isinstance(value, float)
    if field.kind == "datetime":
        return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None
    return isinstance(value, {"string": str, "bool": bool}[field.kind])


@pytest.mark.parametrize("entity", [ACCOUNT, USER], ids=lambda e: e.name)
@pytest.mark.parametrize("how", ["fields", "default_all"])
def test_impartner_records_serve_every_declared_field(
    imp: httpx.Client, sb: RunningSandbox, entity: EntityDef, how: str
) -> None:
    params: dict[str, Any] = {"orderby": "Id", "take": 1000}
    if how == "fields":
        params["fields"] = ",".join(f.name for f in entity.fields)
    sb.set_knobs(impartner_list_default_fields="all" if how == "default_all" else "id")
    try:
        response = imp.get(f"/api/objects/v1/{entity.name}", params=params)
    finally:
        sb.set_knobs(impartner_list_default_fields="id")
    results = response.json()["data"]["results"]
    assert len(results) == len(sb.dataset.impartner_table(entity.name))
    keys = [output_key(f) for f in entity.fields]
    for record in results:
        assert list(record) == keys
        for field in entity.fields:
            value = record[output_key(field)]
            assert impartner_typed(field, value), (entity.name, record["id"], field.name, value)


def test_impartner_serves_only_the_fields_asked_for(imp: httpx.Client) -> None:
    for path in ("/api/objects/v1/Account", "/api/objects/v1/User"):
        records = imp.get(path, params={"fields": "Id,Updated", "take": 5}).json()["data"]
        assert [list(r) for r in records["results"]] == [["id", "updated"]] * 5
