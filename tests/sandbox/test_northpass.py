from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from partnersync.sandbox.generator import MALFORMED_DATE
from partnersync.sandbox.server import RunningSandbox

from .conftest import NOW, Clock


def follow(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a listing, following `links.next` as Airbyte's connector does."""
    records: list[dict[str, Any]] = []
    response = client.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["data"]
        if not body["links"].get("next") or not body["data"]:
            return records
        response = client.get(body["links"]["next"])


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_requests_without_a_valid_key_get_a_json_api_401(sb: RunningSandbox) -> None:
    for headers in ({}, {"X-Api-Key": "wrong"}):
        response = httpx.get(f"{sb.base_url}/v2/people", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["errors"][0]
        assert error["status"] == "401" and error["title"] == "Unauthorized"


def test_person_shape(np: httpx.Client, sb: RunningSandbox) -> None:
    person_id, person = next(
        (pid, p) for pid, p in sb.dataset.people.items() if pid in sb.dataset.person_groups
    )
    record = np.get(f"/v2/people/{person_id}").json()["data"]
    assert record["id"] == person_id and record["type"] == "people"
    attributes = record["attributes"]
    assert set(attributes) == {
        "name",
        "email",
        "first_name",
        "last_name",
        "full_name",
        "disabled",
        "unsubscribed",
        "registration_status",
        "custom_avatar_url",
        "invite_token",
        "sso_uid",
        "activated_at",
        "created_at",
        "updated_at",
        "last_active_at",
        "deactivated_at",
    }
    assert attributes["updated_at"] == person.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    groups = record["relationships"]["groups"]["data"]
    assert {g["id"] for g in groups} == sb.dataset.person_groups[person_id]
    assert all(g["type"] == "groups" for g in groups)
    assert record["links"]["self"]["href"] == f"{sb.base_url}/v2/people/{person_id}"


def test_unknown_ids_answer_404(np: httpx.Client) -> None:
    for path in (
        "/v2/people/nope",
        "/v2/groups/nope",
        "/v2/courses/nope",
        "/v2/groups/nope/memberships",
        "/v2/courses/nope/enrollments",
        "/v2/transcripts/nope",
        "/v2/properties/courses/nope",
    ):
        response = np.get(path)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["status"] == "404"


def test_paging_with_absolute_links_and_no_meta(np: httpx.Client, sb: RunningSandbox) -> None:
    first = np.get("/v2/people", params={"limit": 20}).json()
    assert "meta" not in first
    assert len(first["data"]) == 20
    assert first["links"]["self"] == f"{sb.base_url}/v2/people?limit=20"
    assert "prev" not in first["links"]
    assert query(first["links"]["next"]) == {"limit": ["20"], "page": ["2"]}
    last = np.get("/v2/people", params={"limit": 20, "page": 3}).json()
    assert len(last["data"]) == len(sb.dataset.people) - 40
    assert "next" not in last["links"]
    assert query(last["links"]["prev"])["page"] == ["2"]
    beyond = np.get("/v2/people", params={"limit": 20, "page": 9}).json()
    assert beyond["data"] == [] and "next" not in beyond["links"]
    ids = [r["id"] for r in follow(np, "/v2/people", limit=20)]
    assert ids == list(sb.dataset.people)


def test_page_zero_is_refused_or_read_as_the_first_page(
    np: httpx.Client, sb: RunningSandbox
) -> None:
    assert np.get("/v2/people", params={"page": 0}).status_code == 400
    sb.set_knobs(northpass_page_zero="first_page")
    zero = np.get("/v2/people", params={"limit": 5, "page": 0}).json()
    assert zero == np.get("/v2/people", params={"limit": 5}).json()
    assert query(zero["links"]["next"]) == {"limit": ["5"], "page": ["2"]}
    assert np.get("/v2/people", params={"page": -1}).status_code == 400


def test_paging_links_absolute_or_relative_to_the_api_root(
    np: httpx.Client, sb: RunningSandbox
) -> None:
    sb.set_knobs(northpass_next_link_style="relative")
    links = np.get("/v2/people", params={"limit": 20, "page": 2}).json()["links"]
    assert links == {
        "self": "/v2/people?limit=20&page=2",
        "prev": "/v2/people?limit=20",
        "next": "/v2/people?limit=20&page=3",
    }
    assert [r["id"] for r in follow(np, "/v2/people", limit=20)] == list(sb.dataset.people)
    record = np.get("/v2/people", params={"limit": 1}).json()["data"][0]
    assert record["links"]["self"]["href"].startswith(sb.base_url)  # record links stay absolute


def test_default_and_maximum_page_size(np: httpx.Client, sb: RunningSandbox) -> None:
    assert len(np.get("/v2/people").json()["data"]) == 25
    sb.set_knobs(northpass_max_page_size=30)
    assert len(np.get("/v2/people", params={"limit": 1000}).json()["data"]) == 30
    for bad in ({"limit": 0}, {"page": "x"}, {"page": -1}):
        assert np.get("/v2/people", params=bad).status_code == 400


def test_bare_filter_is_contains_and_eq_is_exact(np: httpx.Client, sb: RunningSandbox) -> None:
    person = next(p for p in sb.dataset.people.values() if p.email and p.email.islower())
    assert person.email is not None
    local = person.email.split("@")[0]
    contains = follow(np, "/v2/people", **{"filter[email]": local[1:].upper()})
    assert person.id in {r["id"] for r in contains}
    exact = np.get("/v2/people", params={"filter[email][eq]": person.email}).json()["data"]
    assert [r["id"] for r in exact] == [person.id]
    assert (
        np.get("/v2/people", params={"filter[email][eq]": person.email.upper()}).json()["data"]
        == []
    )
    others = follow(np, "/v2/people", **{"filter[email][not_eq]": person.email})
    assert person.id not in {r["id"] for r in others}
    assert len(others) == sum(1 for p in sb.dataset.people.values() if p.email) - 1


def test_datetime_predicates_at_second_precision(np: httpx.Client, sb: RunningSandbox) -> None:
    stamps = sorted(p.updated_at for p in sb.dataset.people.values())
    middle = stamps[len(stamps) // 2]
    text = middle.strftime("%Y-%m-%dT%H:%M:%SZ")

    def count(predicate: str) -> int:
        params = {f"filter[updated_at][{predicate}]": text}
        return len(follow(np, "/v2/people", limit=100, **params))

    assert count("gteq") == sum(s >= middle for s in stamps)
    assert count("gt") == sum(s > middle for s in stamps)
    assert count("lteq") == sum(s <= middle for s in stamps)
    assert count("lt") == sum(s < middle for s in stamps)
    assert count("gteq") - count("gt") == stamps.count(middle)
    bad = np.get("/v2/people", params={"filter[updated_at][gteq]": "yesterday"})
    assert bad.status_code == 400


def test_boolean_contains_and_combined_filters(np: httpx.Client, sb: RunningSandbox) -> None:
    disabled = follow(np, "/v2/people", **{"filter[disabled][eq]": "true"})
    assert {r["id"] for r in disabled} == {p.id for p in sb.dataset.people.values() if p.disabled}
    gmail = follow(
        np, "/v2/people", **{"filter[email][cont]": "@gmail.com", "filter[disabled][eq]": "false"}
    )
    assert all("@gmail.com" in r["attributes"]["email"].lower() for r in gmail)
    assert all(not r["attributes"]["disabled"] for r in gmail)
    not_gmail = follow(np, "/v2/people", **{"filter[email][not_cont]": "gmail"})
    assert not any("gmail" in r["attributes"]["email"].lower() for r in not_gmail)


def test_unknown_filters_are_ignored_or_refused(np: httpx.Client, sb: RunningSandbox) -> None:
    params: dict[str, Any] = {"filter[shoe_size][eq]": "42", "limit": 100}
    assert len(np.get("/v2/people", params=params).json()["data"]) == len(sb.dataset.people)
    sb.set_knobs(northpass_unknown_filter="error")
    assert np.get("/v2/people", params=params).status_code == 400
    assert np.get("/v2/people", params={"filter[email][near]": "x"}).status_code == 400
    assert np.get("/v2/people", params={"sort": "shoe_size"}).status_code == 400


def test_sort_by_several_keys(np: httpx.Client, sb: RunningSandbox) -> None:
    records = follow(np, "/v2/groups", limit=100, sort="-memberships_count,name")
    keys = [(-r["attributes"]["memberships_count"], r["attributes"]["name"]) for r in records]
    assert keys == sorted(keys)
    people = follow(np, "/v2/people", limit=100, sort="updated_at")
    stamps = [r["attributes"]["updated_at"] for r in people]
    assert stamps == sorted(stamps)


def test_groups_and_memberships(np: httpx.Client, sb: RunningSandbox) -> None:
    group = max(sb.dataset.groups.values(), key=lambda g: len(sb.dataset.memberships[g.id]))
    record = np.get(f"/v2/groups/{group.id}").json()["data"]
    assert record["attributes"]["name"] == group.name
    members = follow(np, f"/v2/groups/{group.id}/memberships", limit=5)
    assert record["attributes"]["memberships_count"] == len(members) > 5
    assert all(m["type"] == "memberships" for m in members)
    assert {m["relationships"]["person"]["data"]["id"] for m in members} == set(
        sb.dataset.memberships[group.id]
    )
    assert {m["relationships"]["group"]["data"]["id"] for m in members} == {group.id}


def test_group_writes_bump_timestamps(np: httpx.Client, sb: RunningSandbox, clock: Clock) -> None:
    clock.now = NOW + timedelta(hours=1)
    stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    created = np.post(
        "/v2/groups", json={"data": {"type": "groups", "attributes": {"name": "ptr_Zeta Ltd"}}}
    )
    assert created.status_code == 201
    group = created.json()["data"]
    assert group["attributes"]["updated_at"] == stamp
    again = np.post("/v2/groups", json={"data": {"attributes": {"name": "ptr_Zeta Ltd"}}})
    assert again.status_code == 200 and again.json()["data"]["id"] == group["id"]
    sb.set_knobs(northpass_duplicate_group="conflict")
    assert (
        np.post("/v2/groups", json={"data": {"attributes": {"name": "ptr_Zeta Ltd"}}}).status_code
        == 409
    )
    assert np.post("/v2/groups", json={"data": {"attributes": {}}}).status_code == 422

    person_id = next(iter(sb.dataset.people))
    clock.now = NOW + timedelta(hours=2)
    body = {"data": [{"type": "people", "id": person_id}]}
    path = f"/v2/groups/{group['id']}/relationships/people"
    assert np.post(path, json=body).status_code == 204
    assert np.post(path, json=body).status_code == 204  # idempotent
    person = np.get(f"/v2/people/{person_id}").json()["data"]
    assert group["id"] in {g["id"] for g in person["relationships"]["groups"]["data"]}
    assert person["attributes"]["updated_at"] == clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = follow(np, "/v2/groups", **{"filter[updated_at][gteq]": "2026-03-10T13:30:00Z"})
    assert [g["id"] for g in changed] == [group["id"]]
    assert np.post(path, json={"data": [{"type": "people", "id": "nope"}]}).status_code == 422

    assert np.request("DELETE", path, json=body).status_code == 204
    assert np.request("DELETE", path, json=body).status_code == 204
    sb.set_knobs(northpass_remove_nonmember_status=404)
    assert np.request("DELETE", path, json=body).status_code == 404
    other = next(p for p in sorted(sb.dataset.people) if p != person_id)
    assert np.post(path, json={"data": [{"type": "people", "id": other}]}).status_code == 204
    both = {"data": [{"type": "people", "id": person_id}, {"type": "people", "id": other}]}
    assert np.request("DELETE", path, json=both).status_code == 404  # all or nothing
    assert other in sb.dataset.memberships[group["id"]]
    renamed = np.patch(
        f"/v2/groups/{group['id']}",
        json={"data": {"type": "groups", "attributes": {"name": "Zeta"}}},
    )
    assert renamed.json()["data"]["attributes"]["name"] == "Zeta"
    assert np.delete(f"/v2/groups/{group['id']}").status_code == 204
    assert np.get(f"/v2/groups/{group['id']}").status_code == 404


def test_create_person_rejects_duplicate_email(np: httpx.Client, sb: RunningSandbox) -> None:
    existing = next(p.email for p in sb.dataset.people.values() if p.email)
    attributes = {"email": existing.upper().strip(), "first_name": "A", "last_name": "B"}
    body = {"data": {"type": "people", "attributes": attributes}}
    response = np.post("/v2/people", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/email"
    attributes["email"] = "new.person@example.org"
    created = np.post("/v2/people", json=body)
    assert created.status_code == 201
    assert created.json()["data"]["id"] in sb.dataset.people


def test_courses_enrollments_and_transcripts_agree(np: httpx.Client, sb: RunningSandbox) -> None:
    ds = sb.dataset
    courses = follow(np, "/v2/courses", limit=100)
    assert {c["id"] for c in courses} == set(ds.courses)
    course = max(courses, key=lambda c: c["attributes"]["enrollments_count"])
    enrollments = follow(np, f"/v2/courses/{course['id']}/enrollments", limit=3)
    assert len(enrollments) == course["attributes"]["enrollments_count"]
    for enrollment in enrollments:
        attributes = enrollment["attributes"]
        assert attributes["course_id"] == course["id"]
        assert enrollment["relationships"]["person"]["data"]["id"] == attributes["person_id"]
        items = follow(np, f"/v2/transcripts/{attributes['person_id']}")
        item = next(i for i in items if i["attributes"]["resource_id"] == course["id"])
        assert item["attributes"]["progress"] == attributes["progress"]
        assert item["attributes"]["enrolled_at"] == attributes["enrolled_at"]


def test_course_counts_follow_enrollments_and_completions(
    np: httpx.Client, sb: RunningSandbox, clock: Clock
) -> None:
    ds = sb.dataset
    course_id = next(iter(ds.courses))

    def counts() -> tuple[int, int, str]:
        attributes = np.get(f"/v2/courses/{course_id}").json()["data"]["attributes"]
        return (
            attributes["enrollments_count"],
            attributes["credential_achievement_count"],
            attributes["updated_at"],
        )

    enrolled, completed, updated = counts()
    items = ds.enrollments[course_id].values()
    assert enrolled == len(items)
    assert completed == sum(i.progress_status == "completed" for i in items) > 0
    clock.now = NOW + timedelta(hours=1)
    person = ds.add_person("new.learner@example.org", "New", "Learner")
    ds.add_completion(person.id, course_id, progress_status="in_progress")
    assert counts() == (enrolled + 1, completed, updated)
    ds.add_completion(person.id, course_id)
    # Whether the vendor bumps a course's updated_at when a count moves is unknown: left alone.
    assert counts() == (enrolled + 1, completed + 1, updated)
    ranked = follow(np, "/v2/courses", sort="-credential_achievement_count")
    achieved = [c["attributes"]["credential_achievement_count"] for c in ranked]
    assert achieved == sorted(achieved, reverse=True)
    more = follow(
        np, "/v2/courses", **{"filter[credential_achievement_count][gteq]": completed + 1}
    )
    assert course_id in {c["id"] for c in more}
    ds.delete_person(person.id)
    assert counts() == (enrolled, completed, updated)


def test_transcript_items_and_404_for_people_without_activity(
    np: httpx.Client, sb: RunningSandbox
) -> None:
    ds = sb.dataset
    idle = next(pid for pid in ds.people if not ds.transcripts.get(pid))
    assert np.get(f"/v2/transcripts/{idle}").status_code == 404
    person_id = next(
        pid
        for pid, items in ds.transcripts.items()
        if any(i.completed_at == MALFORMED_DATE for i in items)
    )
    items = follow(np, f"/v2/transcripts/{person_id}", limit=2)
    assert len(items) == len(ds.transcripts[person_id])
    assert MALFORMED_DATE in {i["attributes"]["completed_at"] for i in items}
    assert set(items[0]["attributes"]) >= {
        "resource_id",
        "resource_type",
        "name",
        "progress_status",
        "progress",
        "enrolled_at",
        "started_at",
        "completed_at",
        "last_active_at",
        "expires_at",
    }
    for item in items:
        done = item["attributes"]["progress_status"] == "completed"
        assert ("certificate" in item["links"]) == done
    paths = next(
        pid
        for pid, its in ds.transcripts.items()
        if any(i.resource_type == "learning_path" for i in its)
    )
    kinds = {i["attributes"]["resource_type"] for i in follow(np, f"/v2/transcripts/{paths}")}
    assert "learning_path" in kinds


def test_course_properties_with_forbidden_ids(np: httpx.Client, sb: RunningSandbox) -> None:
    ds = sb.dataset
    listed = follow(np, "/v2/properties/courses", limit=100)
    assert {r["id"] for r in listed} == set(ds.course_properties) - ds.forbidden_property_ids
    npcu = {r["id"]: r["attributes"]["properties"].get("npcu") for r in listed}
    assert {"abc", 7} & set(npcu.values())
    visible = next(iter(npcu))
    single = np.get(f"/v2/properties/courses/{visible}").json()["data"]
    assert single["attributes"]["properties"]["name"] == ds.course_properties[visible]["name"]
    forbidden = next(iter(ds.forbidden_property_ids))
    response = np.get(f"/v2/properties/courses/{forbidden}")
    assert response.status_code == 403
    assert response.json()["errors"][0]["status"] == "403"


def test_deleted_course_leaves_the_catalog(np: httpx.Client, sb: RunningSandbox) -> None:
    course_id = next(iter(sb.dataset.courses))
    sb.dataset.delete_course(course_id)
    assert np.get(f"/v2/courses/{course_id}").status_code == 404
    assert np.get(f"/v2/courses/{course_id}/enrollments").status_code == 404
    assert np.get(f"/v2/properties/courses/{course_id}").status_code == 403


def test_dataset_helpers_change_what_the_api_serves(
    np: httpx.Client, sb: RunningSandbox, clock: Clock
) -> None:
    ds = sb.dataset
    clock.now = NOW + timedelta(days=1)
    person = ds.add_person("fresh@example.org", "Fresh", "Person")
    course_id = next(iter(ds.courses))
    ds.add_completion(person.id, course_id, expires_at=NOW + timedelta(days=365))
    items = np.get(f"/v2/transcripts/{person.id}").json()["data"]
    assert items[0]["attributes"]["progress_status"] == "completed"
    assert items[0]["attributes"]["expires_at"] == "2027-03-10T12:00:00Z"
    enrolled = follow(np, f"/v2/courses/{course_id}/enrollments", limit=100)
    assert person.id in {e["attributes"]["person_id"] for e in enrolled}
    ds.delete_person(person.id)
    assert np.get(f"/v2/people/{person.id}").status_code == 404
    assert np.get(f"/v2/transcripts/{person.id}").status_code == 404
