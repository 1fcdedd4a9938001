"""The partner view over the sandbox's data: every number is checked against the rule
recomputed here, from the stored rows, without the code under test."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, and_, select, true, update

from partnersync.config import Settings
from partnersync.db.schema import (
    contacts,
    lms_courses,
    lms_enrollments,
    lms_group_members,
    lms_groups,
    lms_users,
    partners,
)
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.partner_view import SORTABLE, PartnerSummary
from partnersync.web.app import create_app
from tests.sync.conftest import pull_everything, run, sandbox, settings_for
from tests.web.conftest import AUTH, TOKEN

__all__ = ["sandbox"]
PATCH = "PATCH /api/objects/v1/{object}"


@pytest.fixture
def synced(engine: Engine, sandbox: RunningSandbox) -> Iterator[TestClient]:
    """The sandbox pulled and pushed once; a client of the app over that database."""
    pull_everything(engine, sandbox)
    assert run(engine, sandbox, "sync_to_impartner").status == "success"
    app = create_app(engine, settings_for(sandbox, PARTNERSYNC_API_TOKEN=TOKEN))
    with TestClient(app) as client:
        client.headers.update(AUTH)
        yield client


def partner_users(engine: Engine) -> dict[int, dict[str, set[str]]]:
    """partner id → user id → how they belong, from the rows as the design defines it."""
    with engine.connect() as c:
        active = set(
            c.scalars(
                select(partners.c.id).where(
                    partners.c.is_active == true(), partners.c.deleted_at.is_(None)
                )
            )
        )
        live_users = set(c.scalars(select(lms_users.c.id).where(lms_users.c.deleted_at.is_(None))))
        groups = {
            g.id: g.partner_id
            for g in c.execute(select(lms_groups).where(lms_groups.c.deleted_at.is_(None)))
        }
        found: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for m in c.execute(select(lms_group_members)):
            partner = groups.get(m.group_id)
            if (
                partner is not None
                and partner in active
                and m.status == "confirmed"
                and m.deleted_at is None
                and m.user_id in live_users
            ):
                found[partner][m.user_id].add("group")
        for contact in c.execute(select(contacts)):
            if (
                contact.partner_id in active
                and contact.is_active
                and contact.deleted_at is None
                and contact.lms_user_id in live_users
            ):
                found[contact.partner_id][contact.lms_user_id].add("contact")
    return found


def certified(engine: Engine, now: datetime) -> dict[int, dict[tuple[str, str], datetime | None]]:
    """partner id → counted (user, course) → expiry (None: never), recomputed from rows."""
    users = partner_users(engine)
    with engine.connect() as c:
        npcu = dict(c.execute(select(lms_courses.c.id, lms_courses.c.npcu_value)).tuples().all())
        enrollments = c.execute(select(lms_enrollments)).all()
    result: dict[int, dict[tuple[str, str], datetime | None]] = {}
    for partner_id, members in users.items():
        pairs: dict[tuple[str, str], list[datetime | None]] = defaultdict(list)
        for e in enrollments:
            if (
                e.user_id in members
                and e.status == "completed"
                and e.deleted_at is None
                and (e.expires_at is None or e.expires_at > now)
                and npcu.get(e.course_id, 0) > 0
            ):
                pairs[(e.user_id, e.course_id)].append(e.expires_at)
        result[partner_id] = {
            pair: None if None in expiries else max(e for e in expiries if e is not None)
            for pair, expiries in pairs.items()
        }
    return result


def all_items(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    page = client.get("/api/partners", params={"limit": 5000, **params}).json()
    assert page["total"] == len(page["items"])
    items: list[dict[str, Any]] = page["items"]
    return items


def test_every_partner_number_is_the_rule_recomputed(engine: Engine, synced: TestClient) -> None:
    now = utcnow()
    with engine.connect() as c:
        npcu = dict(c.execute(select(lms_courses.c.id, lms_courses.c.npcu_value)).tuples().all())
        live = c.scalar(select(partners.c.id).where(partners.c.deleted_at.is_(None)).limit(1))
    expected = certified(engine, now)
    users = partner_users(engine)
    items = all_items(synced)
    assert live is not None and len(items) > 3
    checked = 0
    for item in items:
        pairs = expected.get(item["id"], {})
        assert item["certification_count"] == len(pairs), item
        assert item["total_npcu"] == sum(npcu[course] for _, course in pairs)
        assert item["certified_users"] == len({user for user, _ in pairs})
        assert item["partner_users"] == len(users.get(item["id"], {}))
        soon = [e for e in pairs.values() if e is not None and e <= now + timedelta(days=90)]
        assert item["expiring_90d"] == len(soon)
        if item["is_active"]:  # the push just wrote them and read nothing else back
            assert item["pushed_certification_count"] == item["certification_count"]
            assert item["crm_total_npcu"] == item["total_npcu"]
            assert item["drift"] is False and item["last_pushed_at"] is not None
        checked += bool(pairs)
    assert checked > 0, "the sandbox gave no partner a certification"


def test_sorting_filtering_and_paging(synced: TestClient) -> None:
    items = all_items(synced)
    by_count = all_items(synced, sort="certification_count", order="desc")
    counts = [item["certification_count"] for item in by_count]
    assert counts == sorted(counts, reverse=True)
    names = [item["name"] for item in all_items(synced)]
    named = [name.casefold() for name in names if name is not None]
    assert names[: len(named)] == [n for n in names if n is not None]  # no name: last
    assert named == sorted(named)
    page = synced.get("/api/partners", params={"limit": 2, "offset": 1, "sort": "id"}).json()
    assert [i["id"] for i in page["items"]] == sorted(i["id"] for i in items)[1:3]
    assert page["total"] == len(items)
    some = items[0]
    assert some["id"] in {i["id"] for i in all_items(synced, q=(some["name"] or "")[:4].upper())}
    assert [i["id"] for i in all_items(synced, q=str(some["impartner_id"]))] == [some["id"]]
    tiers = {i["tier"] for i in items if i["tier"]}
    tier = sorted(tiers)[0]
    assert {i["tier"] for i in all_items(synced, tier=tier.lower())} == {tier}
    assert all(not i["is_active"] for i in all_items(synced, active="false"))
    for field in SORTABLE:
        assert synced.get("/api/partners", params={"sort": field}).status_code == 200
    assert synced.get("/api/partners", params={"sort": "group_ids"}).status_code == 422
    assert set(SORTABLE) == {
        f
        for f in PartnerSummary.__dataclass_fields__
        if f not in ("tier", "group_ids", "crm_read_at")
    }


def test_a_partner_page_lists_its_people_and_why_a_course_does_not_count(
    engine: Engine, synced: TestClient
) -> None:
    now = utcnow()
    expected = certified(engine, now)
    partner_id = max(expected, key=lambda p: len(expected[p]))
    (user_id, course_id) = sorted(expected[partner_id])[0]
    with engine.begin() as c:  # that certification expired yesterday
        c.execute(
            update(lms_enrollments)
            .where(lms_enrollments.c.user_id == user_id, lms_enrollments.c.course_id == course_id)
            .values(expires_at=now - timedelta(days=1))
        )
    detail = synced.get(f"/api/partners/{partner_id}").json()
    users = partner_users(engine)[partner_id]
    assert {u["lms_user_id"] for u in detail["users"]} == set(users)
    for user in detail["users"]:
        how = users[user["lms_user_id"]]
        assert user["membership"] == ("both" if len(how) == 2 else next(iter(how)))
    counted = sum(c["counted"] for u in detail["users"] for c in u["certifications"])
    assert counted == detail["certification_count"] == len(expected[partner_id]) - 1
    person = next(u for u in detail["users"] if u["lms_user_id"] == user_id)
    lapsed = next(c for c in person["certifications"] if c["course_id"] == course_id)
    assert lapsed["counted"] is False and lapsed["not_counted_reason"] == "expired"
    assert synced.get("/api/partners/999999").status_code == 404


def test_csv_parses_back_to_the_json_and_defuses_formulas(
    engine: Engine, synced: TestClient
) -> None:
    items = all_items(synced)
    victim = items[0]["id"]
    with engine.begin() as c:
        c.execute(
            update(partners).where(partners.c.id == victim).values(account_name='=HYPERLINK("x")')
        )
    answer = synced.get("/api/partners.csv", params={"sort": "id"})
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.decode("utf-8").count("\r\n") == len(items) + 1
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    by_id = {int(row["id"]): row for row in rows}
    assert by_id[victim]["name"] == '\'=HYPERLINK("x")'
    for item in all_items(synced, sort="id"):
        row = by_id[item["id"]]
        assert int(row["certification_count"]) == item["certification_count"]
        assert int(row["total_npcu"]) == item["total_npcu"]
        assert row["group_ids"] == ";".join(item["group_ids"])
        assert row["drift"] == str(item["drift"]).lower()

    partner = max(items, key=lambda i: i["certification_count"])
    detail = synced.get(f"/api/partners/{partner['id']}").json()
    users_csv = synced.get(f"/api/partners/{partner['id']}/users.csv").text
    lines = list(csv.DictReader(io.StringIO(users_csv)))
    assert len(lines) == sum(max(1, len(u["certifications"])) for u in detail["users"])
    assert sum(line["counted"] == "true" for line in lines) == detail["certification_count"]


def test_expiring_certifications_within_the_window(engine: Engine, synced: TestClient) -> None:
    now = utcnow()
    expected = certified(engine, now)
    partner_id = max(expected, key=lambda p: len(expected[p]))
    user_id, course_id = sorted(expected[partner_id])[0]
    with engine.begin() as c:
        c.execute(
            update(lms_enrollments)
            .where(lms_enrollments.c.user_id == user_id, lms_enrollments.c.course_id == course_id)
            .values(expires_at=now + timedelta(days=10))
        )
    soon = synced.get("/api/certifications/expiring", params={"days": 30}).json()
    found = {(s["partner_id"], s["lms_user_id"], s["course_id"]) for s in soon}
    assert (partner_id, user_id, course_id) in found
    expires = [s["expires_at"] for s in soon]
    assert expires == sorted(expires)
    recomputed = certified(engine, now)
    window = now + timedelta(days=30)
    assert len(soon) == sum(
        1 for pairs in recomputed.values() for e in pairs.values() if e is not None and e <= window
    )
    narrow = synced.get("/api/certifications/expiring", params={"days": 5}).json()
    assert (partner_id, user_id, course_id) not in {
        (s["partner_id"], s["lms_user_id"], s["course_id"]) for s in narrow
    }
    assert synced.get(f"/api/partners/{partner_id}").json()["expiring_90d"] >= 1


def test_a_value_changed_in_impartner_is_seen_and_put_right_by_the_next_push(
    engine: Engine, sandbox: RunningSandbox, synced: TestClient
) -> None:
    item = max(all_items(synced, active="true"), key=lambda i: i["certification_count"])
    account = sandbox.dataset.accounts[item["impartner_id"]]
    account.Certification_Count__cf = item["certification_count"] + 7  # an admin's edit
    sandbox.reset_counters()
    outcome = run(engine, sandbox, "sync_to_impartner")
    assert outcome.status == "success"
    assert sandbox.stats()["routes"][PATCH]["total"] == 1  # only that account was sent
    assert account.Certification_Count__cf == item["certification_count"]
    notes = outcome.report.stream("impartner.account_push").notes
    assert any("Impartner differs for 1" in note for note in notes), notes
    after = synced.get(f"/api/partners/{item['id']}").json()
    assert after["crm_certification_count"] == item["certification_count"]
    assert after["drift"] is False


def test_drift_shows_when_impartner_holds_other_numbers(engine: Engine, synced: TestClient) -> None:
    from partnersync.db.schema import partner_push_state

    item = max(all_items(synced, active="true"), key=lambda i: i["certification_count"])
    with engine.begin() as c:
        state = c.execute(
            select(partner_push_state.c.crm_values).where(
                partner_push_state.c.partner_id == item["id"]
            )
        ).scalar_one()
        state = {**state, "Certification_Count__cf": item["certification_count"] + 1}
        c.execute(
            update(partner_push_state)
            .where(partner_push_state.c.partner_id == item["id"])
            .values(crm_values=state)
        )
    after = synced.get(f"/api/partners/{item['id']}").json()
    assert after["drift"] is True
    assert after["crm_certification_count"] == item["certification_count"] + 1


def test_each_push_leaves_one_snapshot_per_partner_and_day(
    engine: Engine, sandbox: RunningSandbox, synced: TestClient
) -> None:
    item = max(all_items(synced, active="true"), key=lambda i: i["certification_count"])
    assert run(engine, sandbox, "sync_to_impartner").status == "success"
    trend = synced.get(f"/api/partners/{item['id']}/history").json()
    assert len(trend) == 1
    (today,) = trend
    assert today["day"] == utcnow().date().isoformat()
    for field in ("certification_count", "total_npcu", "certified_users", "partner_users"):
        assert today[field] == item[field]
    assert synced.get("/api/partners/999999/history").status_code == 404


def test_a_partner_item_has_exactly_the_documented_fields() -> None:
    from partnersync.web.models import PartnerItem

    assert list(PartnerItem.model_fields) == list(PartnerSummary.__dataclass_fields__)


def test_kept_numbers_are_never_served_after_any_write_or_an_expiry(
    engine: Engine, synced: TestClient
) -> None:
    import time

    from partnersync.sync.partner_view_cache import PartnerViewCache

    cache, settings = PartnerViewCache(), Settings()
    now = utcnow()
    time.sleep(1.1)  # the server's change record has second precision
    with engine.connect() as c:
        first = cache.summaries(c, settings, now)
        again = cache.summaries(c, settings, now)
    kept = engine.dialect.name != "sqlite"  # SQLite keeps no change record: always computed
    assert (again is first) == kept
    target = next(item for item in first if item.certification_count > 0)
    with engine.begin() as c:  # an operator's UPDATE, outside partnersync
        c.execute(
            update(lms_enrollments)
            .where(lms_enrollments.c.status == "completed")
            .values(expires_at=now + timedelta(days=400))
        )
    with engine.connect() as c:
        fresh = cache.summaries(c, settings, now)
        assert fresh is not first
        time.sleep(1.1)
        fresh = cache.summaries(c, settings, now)  # computed a second after the change
        later = cache.summaries(c, settings, now + timedelta(days=300))  # nothing due yet
        due = cache.summaries(c, settings, now + timedelta(days=311))  # in the 90-day window
        expired = cache.summaries(c, settings, now + timedelta(days=401))  # all expired
    assert (later is fresh) == kept
    assert {i.id: i.expiring_90d for i in later}[target.id] == 0
    assert due is not later and {i.id: i.expiring_90d for i in due}[target.id] > 0
    assert all(item.certification_count == 0 for item in expired)


def test_each_reason_a_completed_course_does_not_count(engine: Engine, synced: TestClient) -> None:
    now = utcnow()
    partner_id, user, course = min(
        (partner_id, user, course)
        for partner_id, pairs in certified(engine, now).items()
        for user, course in pairs
    )
    enrollment = and_(lms_enrollments.c.user_id == user, lms_enrollments.c.course_id == course)

    def reason() -> str:
        detail = synced.get(f"/api/partners/{partner_id}").json()
        person = next(u for u in detail["users"] if u["lms_user_id"] == user)
        found = next(c for c in person["certifications"] if c["course_id"] == course)
        assert found["counted"] is False
        return str(found["not_counted_reason"])

    with engine.begin() as c:
        c.execute(update(lms_enrollments).where(enrollment).values(deleted_at=now))
    assert reason() == "enrollment removed in Northpass"
    with engine.begin() as c:
        c.execute(update(lms_enrollments).where(enrollment).values(deleted_at=None))
        c.execute(update(lms_courses).where(lms_courses.c.id == course).values(npcu_value=0))
    assert reason() == "course worth no NPCU"
