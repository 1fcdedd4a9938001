"""Group ↔ partner links and group_analysis suggestions over the API."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from partnersync.db.schema import (
    group_analysis_runs,
    group_analysis_suggestions,
    lms_group_members,
    lms_groups,
    lms_users,
    partners,
)
from tests.conftest import inserted_id

GONE = datetime(2026, 1, 1, tzinfo=UTC)
EVIDENCE = "2 of 2 active contacts of Acme Inc use acme.com"


def seed_groups(engine: Engine) -> None:
    with engine.begin() as connection:
        for partner_id, name, deleted in (
            (1, "Acme Inc", None),
            (2, "Globex", None),
            (3, "Gone", GONE),
        ):
            connection.execute(
                insert(partners).values(
                    id=partner_id,
                    impartner_id=500 + partner_id,
                    account_name=name,
                    is_active=deleted is None,
                    deleted_at=deleted,
                )
            )
        connection.execute(
            insert(lms_groups),
            [
                {
                    "id": "g-acme",
                    "name": "ptr_Acme",
                    "partner_id": 1,
                    "partner_link": "auto",
                    "deleted_at": None,
                },
                {
                    "id": "g-misc",
                    "name": "Webinar Attendees",
                    "partner_id": None,
                    "partner_link": None,
                    "deleted_at": None,
                },
                {
                    "id": "g-old",
                    "name": "Old",
                    "partner_id": None,
                    "partner_link": None,
                    "deleted_at": GONE,
                },
            ],
        )


def test_links_list_set_and_clear(engine: Engine, client: TestClient) -> None:
    seed_groups(engine)
    links = client.get("/api/links").json()
    assert sorted((link["group_id"], link["link"] or "-") for link in links) == [
        ("g-acme", "auto"),
        ("g-misc", "-"),
    ]
    assert [link["group_id"] for link in client.get("/api/links?unlinked=true").json()] == [
        "g-misc"
    ]
    assert [link["group_id"] for link in client.get("/api/links?q=acme").json()] == ["g-acme"]

    linked = client.put("/api/links/g-misc", json={"impartner_id": 502})
    assert linked.status_code == 200
    assert (linked.json()["partner_name"], linked.json()["link"]) == ("Globex", "manual")
    cleared = client.delete("/api/links/g-misc").json()
    assert (cleared["partner_id"], cleared["link"]) == (None, None)


def test_bad_links_are_refused(engine: Engine, client: TestClient) -> None:
    seed_groups(engine)
    assert client.put("/api/links/g-nope", json={"partner_id": 1}).status_code == 404
    assert client.put("/api/links/g-old", json={"partner_id": 1}).status_code == 404
    assert client.delete("/api/links/g-nope").status_code == 404
    unknown = client.put("/api/links/g-misc", json={"partner_id": 99})
    assert unknown.status_code == 422
    assert "no partner with id 99" in unknown.json()["detail"]
    assert client.put("/api/links/g-misc", json={"partner_id": 3}).status_code == 422  # deleted
    assert client.put("/api/links/g-misc", json={}).status_code == 422
    both = {"partner_id": 1, "impartner_id": 501}
    assert client.put("/api/links/g-misc", json=both).status_code == 422


def test_partner_search(engine: Engine, client: TestClient) -> None:
    seed_groups(engine)
    names = [p["name"] for p in client.get("/api/partners").json()["items"]]
    assert names == ["Acme Inc", "Globex"]
    assert [p["id"] for p in client.get("/api/partners?q=glo").json()["items"]] == [2]
    assert [p["id"] for p in client.get("/api/partners?q=501").json()["items"]] == [1]
    assert client.get("/api/partners?q=100%25").json() == {"items": [], "total": 0}


def seed_suggestions(engine: Engine) -> list[int]:
    seed_groups(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(lms_users),
            [
                {"id": f"u{n}", "email": f"person{n}@acme.com", "email_domain": "acme.com"}
                for n in (1, 2, 3)
            ],
        )
        run_id = inserted_id(
            connection.execute(
                insert(group_analysis_runs).values(run_at=GONE, groups_analysed=1, suggestions=3)
            )
        )
        connection.execute(
            insert(group_analysis_suggestions),
            [
                {
                    "run_id": run_id,
                    "group_id": "g-acme",
                    "user_id": f"u{n}",
                    "email_domain": "acme.com",
                    "reason": "domain",
                    "evidence": EVIDENCE,
                }
                for n in (1, 2, 3)
            ],
        )
        ids = connection.scalars(
            select(group_analysis_suggestions.c.id).order_by(group_analysis_suggestions.c.id)
        ).all()
    return list(ids)


def test_suggestions_list_accept_and_dismiss(engine: Engine, client: TestClient) -> None:
    first, second, third = seed_suggestions(engine)
    page = client.get("/api/suggestions").json()
    assert page["total"] == 3
    assert page["suggestions"][0]["email"] == "person1@acme.com"
    assert page["suggestions"][0]["group_name"] == "ptr_Acme"
    assert page["suggestions"][0]["evidence"] == EVIDENCE

    accepted = client.post("/api/suggestions/accept", json={"ids": [first]})
    assert accepted.status_code == 200
    assert accepted.json() == {"done": [first], "already": [], "not_open": []}
    with engine.connect() as connection:
        member = connection.execute(
            select(lms_group_members).where(lms_group_members.c.user_id == "u1")
        ).one()
    assert (member.group_id, member.status) == ("g-acme", "pending")

    assert client.post("/api/suggestions/dismiss", json={"ids": [second]}).json()["done"] == [
        second
    ]
    again = client.post("/api/suggestions/accept", json={"ids": [first, second]}).json()
    assert again["not_open"] == [first, second]
    open_ones = client.get("/api/suggestions", params={"status": "open"}).json()
    assert [s["id"] for s in open_ones["suggestions"]] == [third]


def test_an_unknown_suggestion_changes_nothing(engine: Engine, client: TestClient) -> None:
    first, _, _ = seed_suggestions(engine)
    response = client.post("/api/suggestions/accept", json={"ids": [first, 999999]})
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]
    statuses = {s["id"]: s["status"] for s in client.get("/api/suggestions").json()["suggestions"]}
    assert statuses[first] == "open"
    assert client.post("/api/suggestions/accept", json={"ids": []}).status_code == 422
