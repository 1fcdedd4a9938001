"""`sync_to_impartner` against the sandbox: exact values, change-only sends, per-item failures."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Engine, select, true, update

from partnersync.db.schema import (
    lms_courses,
    lms_enrollments,
    partner_push_state,
    partners,
)
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.partner_users import partner_user_pairs
from partnersync.tasks.dry_run import dry_run
from partnersync.tasks.push import sync_to_impartner
from tests.sync.conftest import run, settings_for

from .conftest import pull_everything

PATCH = "PATCH /api/objects/v1/{object}"


def expected(engine: Engine, now: datetime) -> dict[int, tuple[int, int]]:
    """The rule recomputed in Python from the stored rows: impartner id → (count, npcu)."""
    with engine.connect() as c:
        users: dict[int, set[str]] = defaultdict(set)
        for partner_id, user_id in c.execute(partner_user_pairs()):
            users[partner_id].add(user_id)
        npcu = {i: v for i, v in c.execute(select(lms_courses.c.id, lms_courses.c.npcu_value))}
        enrollments = c.execute(select(lms_enrollments)).all()
        active = c.execute(
            select(partners.c.id, partners.c.impartner_id).where(
                partners.c.is_active == true(), partners.c.deleted_at.is_(None)
            )
        ).all()
    result = {}
    for partner_id, impartner_id in active:
        certified = {
            (e.user_id, e.course_id)
            for e in enrollments
            if e.user_id in users[partner_id]
            and e.status == "completed"
            and e.deleted_at is None
            and (e.expires_at is None or e.expires_at > now)
            and npcu.get(e.course_id, 0) > 0
        }
        result[impartner_id] = (len(certified), sum(npcu[course] for _, course in certified))
    return result


def in_sandbox(sb: RunningSandbox, impartner_ids: list[int]) -> dict[int, tuple[int, int]]:
    accounts = sb.dataset.accounts
    return {
        i: (accounts[i].Certification_Count__cf or 0, int(accounts[i].Total_NPCU__cf or 0))
        for i in impartner_ids
    }


def patches(sb: RunningSandbox) -> int:
    return int(sb.stats()["routes"].get(PATCH, {}).get("total", 0))


def test_push_sends_exact_values_then_only_what_changed(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    sandbox.reset_counters()
    first = run(engine, sandbox, "sync_to_impartner")
    assert first.status == "success", first.error
    want = expected(engine, utcnow())
    assert any(count for count, _ in want.values()), "the sandbox should certify someone"
    assert in_sandbox(sandbox, list(want)) == want
    assert patches(sandbox) == 1 and first.report.total("updated") == len(want)
    with engine.connect() as c:
        stored = {
            row.impartner_id: (row.certification_count, row.total_npcu)
            for row in c.execute(select(partners).where(partners.c.is_active == true()))
        }
    assert stored == want

    sandbox.reset_counters()
    again = run(engine, sandbox, "sync_to_impartner")
    assert again.status == "success" and patches(sandbox) == 0
    assert again.report.total("unchanged") == len(want)

    # one more completion for a user of exactly one partner
    ds = sandbox.dataset
    with engine.connect() as c:
        pairs = c.execute(partner_user_pairs()).all()
        worth = list(c.scalars(select(lms_courses.c.id).where(lms_courses.c.npcu_value > 0)))
        impartner_of = {i: v for i, v in c.execute(select(partners.c.id, partners.c.impartner_id))}
    partners_of: dict[str, set[int]] = defaultdict(set)
    for partner_id, user_id in pairs:
        partners_of[user_id].add(partner_id)
    user = next(u for u in sorted(partners_of) if len(partners_of[u]) == 1 and u in ds.people)
    course = next(c for c in sorted(worth) if user not in ds.enrollments.get(c, {}))
    account = impartner_of[next(iter(partners_of[user]))]
    ds.add_completion(user, course)
    before = {i: (a.Certification_Count__cf, a.Total_NPCU__cf) for i, a in ds.accounts.items()}
    assert run(engine, sandbox, "sync_users").status == "success"
    assert run(engine, sandbox, "sync_enrollments").status == "success"
    sandbox.reset_counters()
    third = run(engine, sandbox, "sync_to_impartner")
    assert third.status == "success" and patches(sandbox) == 1
    assert third.report.total("updated") == 1
    after = {i: (a.Certification_Count__cf, a.Total_NPCU__cf) for i, a in ds.accounts.items()}
    assert [i for i in after if after[i] != before[i]] == [account]
    assert in_sandbox(sandbox, [account])[account] == expected(engine, utcnow())[account]
    assert in_sandbox(sandbox, [account])[account][0] == want[account][0] + 1


def test_full_sends_everyone_and_category_fields(engine: Engine, sandbox: RunningSandbox) -> None:
    pull_everything(engine, sandbox)
    assert run(engine, sandbox, "sync_to_impartner").status == "success"
    sandbox.reset_counters()
    env = {
        "PARTNERSYNC_CERTIFICATION_CATEGORIES": '{"docgen": ["docgen"]}',
        "PARTNERSYNC_PUSH_CATEGORY_FIELDS": '{"docgen": "Nintex_CE_Certifications__cf"}',
    }
    outcome = run(engine, sandbox, "sync_to_impartner", "full", **env)
    assert outcome.status == "success" and patches(sandbox) == 1
    with engine.connect() as c:
        rows = c.execute(select(partners).where(partners.c.is_active == true())).all()
        docgen = set(
            c.scalars(
                select(lms_courses.c.id).where(lms_courses.c.certification_category == "docgen")
            )
        )
    assert docgen == {i for i, course in sandbox.dataset.courses.items() if "DocGen" in course.name}
    assert outcome.report.total("updated") == len(rows)
    for row in rows:
        account = sandbox.dataset.accounts[row.impartner_id]
        assert account.Nintex_CE_Certifications__cf == row.category_counts["docgen"]
        assert account.Name is not None  # never sent, never blanked


def test_a_refused_item_is_recorded_and_retried_then_found_by_salesforce_id(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    ds = sandbox.dataset
    with engine.begin() as c:
        partner_id, impartner_id = next(
            (row.id, row.impartner_id)
            for row in c.execute(
                select(partners).where(partners.c.is_active == true()).order_by(partners.c.id)
            )
            if ds.accounts[row.impartner_id].CrmId
        )
        c.execute(
            update(partners)
            .where(partners.c.id == partner_id)
            .values(impartner_id=999_999, salesforce_id=None)
        )
    first = run(engine, sandbox, "sync_to_impartner")
    assert first.status == "success"
    assert first.report.total("failed") == 1
    with engine.connect() as c:
        state = c.execute(
            select(partner_push_state).where(partner_push_state.c.partner_id == partner_id)
        ).one()
    assert state.pushed_values is None and "not found" in (state.last_error or "")

    sandbox.reset_counters()
    retried = run(engine, sandbox, "sync_to_impartner")
    assert retried.report.total("failed") == 1 and patches(sandbox) == 1

    crm_id = ds.accounts[impartner_id].CrmId
    assert crm_id is not None and len(crm_id) == 18
    with engine.begin() as c:  # the 15-character form of the account's CRM id
        c.execute(
            update(partners).where(partners.c.id == partner_id).values(salesforce_id=crm_id[:15])
        )
    found = run(engine, sandbox, "sync_to_impartner")
    assert found.status == "success" and found.report.total("failed") == 0
    assert found.report.total("updated") == 1
    with engine.connect() as c:
        state = c.execute(
            select(partner_push_state).where(partner_push_state.c.partner_id == partner_id)
        ).one()
        count = c.scalar(select(partners.c.certification_count).where(partners.c.id == partner_id))
    assert state.last_error is None and state.pushed_values["Certification_Count__cf"] == count
    assert ds.accounts[impartner_id].Certification_Count__cf == count


def test_a_run_whose_every_item_is_refused_fails(engine: Engine, sandbox: RunningSandbox) -> None:
    pull_everything(engine, sandbox)
    outcome = run(
        engine, sandbox, "sync_to_impartner", PARTNERSYNC_PUSH_COUNT_FIELD="Missing_Field__cf"
    )
    assert outcome.status == "failed"
    assert "refused all" in (outcome.error or "") and "Missing_Field__cf" in (outcome.error or "")
    with engine.connect() as c:
        states = c.execute(select(partner_push_state)).all()
    assert states and all(s.pushed_values is None and s.last_error for s in states)


def test_dry_run_plans_the_payload_and_changes_nothing(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    sandbox.reset_counters()
    result = dry_run(engine, settings_for(sandbox), sync_to_impartner, mode="incremental")
    want = expected(engine, utcnow())
    assert {
        item["Id"]: (item["Certification_Count__cf"], item["Total_NPCU__cf"])
        for item in result.planned
    } == want
    assert all(
        set(item) == {"Id", "Certification_Count__cf", "Total_NPCU__cf"} for item in result.planned
    )
    assert patches(sandbox) == 0
    with engine.connect() as c:
        assert c.execute(select(partner_push_state)).first() is None
        assert c.scalar(select(partners.c.counts_computed_at).limit(1)) is None
