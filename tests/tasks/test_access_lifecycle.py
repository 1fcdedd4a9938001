"""Partner access follows the PRM, over the sandbox: contacts provisioned, people who left
removed after the grace period (and not before), re-activation, partners going inactive, a
person in two partners, the deletion guard, partial upstream data, dry runs and the audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, true
from structlog.testing import capture_logs

from partnersync.db.schema import access_audit, lms_group_members, lms_groups, partners
from partnersync.db.types import utcnow
from partnersync.sandbox.server import RunningSandbox
from partnersync.sync.matching import is_all_partners
from partnersync.tasks.dry_run import dry_run
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.members import group_members_sync
from partnersync.tasks.runner import RunOutcome, run_task
from tests.sync.conftest import settings_for

ALL_PARTNERS = {"PARTNERSYNC_ACCESS_ALL_PARTNERS": True}
LATER = 25  # hours: past the default grace period of 24


def run(engine: Engine, sb: RunningSandbox, task: str, hours: float = 0, **env: Any) -> RunOutcome:
    """Run `task` as if `hours` from now, and check it succeeded."""
    outcome = run_task(
        engine,
        settings_for(sb, **env),
        task,
        TASK_FUNCTIONS[task],
        clock=lambda: utcnow() + timedelta(hours=hours),
    )
    assert outcome.status == "success", (task, outcome.error)
    return outcome


def fail(engine: Engine, sb: RunningSandbox, task: str, hours: float = 0, **env: Any) -> str:
    """Run `task` as if `hours` from now, check it failed, and return why (its traceback,
    logged at debug level, is captured rather than rendered: that would cost a second)."""
    with capture_logs():
        outcome = run_task(
            engine,
            settings_for(sb, **env),
            task,
            TASK_FUNCTIONS[task],
            clock=lambda: utcnow() + timedelta(hours=hours),
        )
    assert outcome.status == "failed", task
    return outcome.error or ""


def fill(engine: Engine, sb: RunningSandbox) -> None:
    for task in ("impartner_sync", "sync_users", "sync_groups"):
        run(engine, sb, task)


def everyone(sb: RunningSandbox) -> str:
    return next(g.id for g in sb.dataset.groups.values() if is_all_partners(g.name))


def audit(engine: Engine, user_id: str | None = None) -> list[Any]:
    query = select(access_audit).order_by(access_audit.c.id)
    if user_id is not None:
        query = query.where(access_audit.c.user_id == user_id)
    with engine.connect() as c:
        return list(c.execute(query))


def live_rows(engine: Engine, user_id: str) -> dict[str, Any]:
    member = lms_group_members.c
    with engine.connect() as c:
        rows = c.execute(
            select(lms_group_members).where(member.user_id == user_id, member.deleted_at.is_(None))
        )
        return {row.group_id: row for row in rows}


def test_a_contact_is_provisioned_offboarded_after_the_grace_period_and_provisioned_again(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    fill(engine, sandbox)
    with engine.connect() as c:
        group_id, impartner_id = c.execute(
            select(lms_groups.c.id, partners.c.impartner_id)
            .join(partners, partners.c.id == lms_groups.c.partner_id)
            .where(partners.c.is_active == true())
            .order_by(lms_groups.c.id)
        ).first() or ("", 0)
    domain = str(ds.accounts[impartner_id].Website).split("www.")[1].rstrip("/")
    person = ds.add_person(f"new.hire@{domain}", "New", "Hire")
    user = ds.add_user(f"new.hire@{domain}", "New", "Hire", Account=impartner_id)
    groups = {group_id, everyone(sandbox)}

    for task in ("impartner_sync", "sync_users", "group_analysis", "group_members_sync"):
        run(engine, sandbox, task, **ALL_PARTNERS)
    assert all(person.id in ds.memberships[g] for g in groups)
    stored = live_rows(engine, person.id)
    assert {g: (r.status, r.source, r.added_by) for g, r in stored.items()} == dict.fromkeys(
        groups, ("confirmed", "contact", "partnersync")
    )
    added = audit(engine, person.id)
    assert {(a.action, a.group_id, a.source, a.decided_by, a.outcome) for a in added} == {
        ("add", g, "contact", "partnersync", "done") for g in groups
    }
    assert all(f"active contact {user.Id} " in a.reason for a in added)

    ds.update_user(user.Id, IsActive=False)  # the contact left
    run(engine, sandbox, "impartner_sync")
    early = run(engine, sandbox, "group_members_sync", hours=LATER - 2)
    assert all(person.id in ds.memberships[g] for g in groups)
    assert "within the grace period of 24 h" in " ".join(
        early.report.stream("northpass.offboarding").notes
    )

    plan = dry_run(
        engine,
        settings_for(sandbox, PARTNERSYNC_OFFBOARD_GRACE_HOURS=0),
        group_members_sync,
        mode="incremental",
    )
    assert sorted((item["group_id"], item["remove_person_ids"]) for item in plan.planned) == (
        sorted((g, [person.id]) for g in groups)
    )
    assert all(f"contact {user.Id} " in item["reasons"][person.id] for item in plan.planned)
    writes = len(audit(engine))
    assert all(person.id in ds.memberships[g] for g in groups) and len(audit(engine)) == writes

    gone = run(engine, sandbox, "group_members_sync", hours=LATER)
    assert not any(person.id in ds.memberships[g] for g in groups)
    assert person.id in ds.people  # people and groups are never deleted
    assert live_rows(engine, person.id) == {}
    assert gone.report.stream("northpass.offboarding").deleted == 2
    removed = audit(engine, person.id)[2:]
    assert {(a.action, a.group_id, a.cause, a.outcome, a.answer) for a in removed} == {
        ("remove", g, "contact_inactive", "done", "removed (HTTP 204)") for g in groups
    }
    assert all(a.sync_log_id == gone.log_id and "grace 24 h" in a.reason for a in removed)

    ds.update_user(user.Id, IsActive=True)  # back again: provisioned again
    for task in ("impartner_sync", "group_analysis", "group_members_sync"):
        run(engine, sandbox, task, hours=LATER, **ALL_PARTNERS)
    assert all(person.id in ds.memberships[g] for g in groups)
    assert [a.action for a in audit(engine, person.id)] == ["add"] * 2 + ["remove"] * 2 + [
        "add"
    ] * 2


def test_a_partner_going_inactive_loses_its_people_but_one_in_an_active_partner_too_keeps_it(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    ds = sandbox.dataset
    fill(engine, sandbox)
    by_email: dict[str, list[int]] = {}  # a person's accounts, by their contacts (any state)
    for user in ds.users.values():
        if user.Account is not None:
            by_email.setdefault(str(user.Email).lower(), []).append(user.Account)
    twice = next(p for p in ds.people.values() if len(by_email.get(str(p.email), [])) == 2)
    leaving, staying = sorted(by_email[str(twice.email)], key=lambda a: -ds.accounts[a].MemberCount)
    with engine.connect() as c:
        owned = {
            row.impartner_id: row.id
            for row in c.execute(
                select(partners.c.impartner_id, lms_groups.c.id).join(
                    lms_groups, lms_groups.c.partner_id == partners.c.id
                )
            )
        }
    group_id, other_group, all_partners = owned[leaving], owned[staying], everyone(sandbox)
    contacts_of = {
        p.id
        for p in ds.people.values()
        if leaving in by_email.get(str(p.email).lower(), []) and p.id in ds.memberships[group_id]
    }
    assert twice.id in contacts_of and len(contacts_of) > 2

    ds.update_account(leaving, Account_Status__cf="Inactive")
    for task in ("impartner_sync", "sync_groups"):
        run(engine, sandbox, task)
    before = {g: set(m) for g, m in ds.memberships.items()}
    manual = {"PARTNERSYNC_OFFBOARD_MANUAL_MEMBERSHIPS": True}

    kept = run(engine, sandbox, "group_members_sync", hours=LATER)  # the sandbox's are manual
    assert "added outside partnersync and kept" in " ".join(
        kept.report.stream("northpass.offboarding").notes
    )
    refused = fail(engine, sandbox, "group_members_sync", hours=LATER, **manual)
    assert (
        refused.startswith("RemovalRefused: refusing to remove ") and "members of group" in refused
    )
    assert (
        "and removing none; if the departures are real, run once with --allow-mass-delete"
        in refused
    )

    sandbox.set_knobs(fault_5xx_share=1.0, fault_path_prefix="/api/objects")
    fail(engine, sandbox, "impartner_sync", PARTNERSYNC_HTTP_MAX_ATTEMPTS=1)
    sandbox.set_knobs(fault_5xx_share=0.0)
    lifted = {**manual, "PARTNERSYNC_ALLOW_MASS_DELETE": True}
    partial = fail(engine, sandbox, "group_members_sync", hours=LATER, **lifted)
    assert partial.startswith("PartialData: refusing to offboard from partial data: the latest ")
    assert "refusing to analyse partial data" in fail(engine, sandbox, "group_analysis")
    assert {g: set(m) for g, m in ds.memberships.items()} == before and audit(engine) == []

    run(engine, sandbox, "impartner_sync")
    run(engine, sandbox, "group_members_sync", hours=LATER, **lifted)
    assert not contacts_of & set(ds.memberships[group_id])
    assert set(ds.memberships[group_id]) == before[group_id] - contacts_of
    assert twice.id in ds.memberships[other_group] and twice.id in ds.memberships[all_partners]
    in_scope = {
        a.Id for a in ds.accounts.values() if a.Name and a.Account_Status__cf != "Inactive"
    } - {a.Id for a in ds.accounts.values() if a.Partner_Tier__cf == "Pending"}
    belongs = {
        str(u.Email).lower() for u in ds.users.values() if u.IsActive and u.Account in in_scope
    }
    left = {p.id for p in ds.people.values() if str(p.email).lower() in set(by_email) - belongs}
    assert before[all_partners] - set(ds.memberships[all_partners]) == before[all_partners] & left
    assert twice.id not in left and contacts_of - {twice.id} <= left
    causes = {(a.user_id, a.group_id): a.cause for a in audit(engine)}
    assert causes[(twice.id, group_id)] == "partner_inactive"
    assert (twice.id, all_partners) not in causes
