"""`group_analysis` against the sandbox: look-alikes found by domain, public domains never."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine, select, true

from partnersync.db.schema import (
    contacts,
    group_analysis_runs,
    lms_group_members,
    lms_groups,
    partners,
)
from partnersync.db.types import utcnow
from partnersync.domain import PUBLIC_EMAIL_DOMAINS
from partnersync.sandbox.server import RunningSandbox
from partnersync.tasks import analysis
from tests.sync.conftest import run

from .conftest import pull_everything

EXTRA = "extra-corp.example"


def linked_group(engine: Engine) -> tuple[str, int, str]:
    """A partner-linked group, its partner's Impartner id and one of its contacts' domains."""
    with engine.connect() as c:
        return next(
            (row.id, row.impartner_id, row.email_domain)
            for row in c.execute(
                select(lms_groups.c.id, partners.c.impartner_id, contacts.c.email_domain)
                .join(partners, partners.c.id == lms_groups.c.partner_id)
                .join(contacts, contacts.c.partner_id == partners.c.id)
                .where(
                    lms_groups.c.deleted_at.is_(None),
                    partners.c.is_active == true(),
                    contacts.c.is_active == true(),
                    contacts.c.email_domain.is_not(None),
                )
                .order_by(lms_groups.c.id)
            )
        )


def suggested(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as c:
        return {(s.group_id, s.user_id) for s in analysis.list_suggestions(c)}


def test_analysis_finds_look_alikes_not_public_domain_users(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    group_id, impartner_id, domain = linked_group(engine)
    ds = sandbox.dataset
    look_alike = ds.add_person(f"new.colleague@{domain}", "New", "Colleague").id
    configured = ds.add_person(f"someone@{EXTRA}", "Some", "One").id
    # the partner has a contact on gmail.com; a gmail.com learner is still nobody's colleague
    ds.add_user("private.person@gmail.com", "Private", "Person", Account=impartner_id)
    public = ds.add_person("another.person@gmail.com", "Another", "Person").id
    env: dict[str, Any] = {
        "PARTNERSYNC_ANALYSIS_EXTRA_DOMAINS": f'{{"{group_id}": ["{EXTRA.upper()}"]}}'
    }
    for task in ("impartner_sync", "sync_users"):
        assert run(engine, sandbox, task, **env).status == "success"

    with engine.connect() as c:
        assert c.scalar(
            select(contacts.c.is_active)
            .join(partners, partners.c.id == contacts.c.partner_id)
            .where(partners.c.impartner_id == impartner_id, contacts.c.email_domain == "gmail.com")
        )
    outcome = run(engine, sandbox, "group_analysis", **env)
    assert outcome.status == "success", outcome.error
    found = suggested(engine)
    assert (group_id, look_alike) in found and (group_id, configured) in found
    assert all(user != public for _, user in found)

    with engine.connect() as c:
        rows = analysis.list_suggestions(c)
        members = {
            (m.group_id, m.user_id)
            for m in c.execute(
                select(lms_group_members).where(lms_group_members.c.deleted_at.is_(None))
            )
        }
        run_row = c.execute(select(group_analysis_runs)).one()
        counts = analysis.group_counts(c)
    assert not found & members
    assert not {row.email_domain for row in rows} & set(PUBLIC_EMAIL_DOMAINS)
    assert all(
        row.email and row.email_domain is not None and row.email.endswith("@" + row.email_domain)
        for row in rows
    )
    assert run_row.suggestions == len(rows) and run_row.sync_log_id == outcome.log_id
    in_group = {row.user_id: row for row in rows if row.group_id == group_id}
    assert in_group[configured].reason == "configured_domain"
    evidence = in_group[look_alike].evidence or ""
    assert " active contact" in evidence and evidence.endswith(f" {domain}")
    assert {g: c["open"] for g, c in counts.items()} == Counter(g for g, _ in found)
    assert outcome.report.stream(analysis.STREAM).created == len(rows)


def test_dismissed_suggestions_stay_dismissed_and_accepted_become_pending(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    pull_everything(engine, sandbox)
    group_id, _, domain = linked_group(engine)
    ds = sandbox.dataset
    first = ds.add_person(f"first.one@{domain}", "First", "One").id
    second = ds.add_person(f"second.one@{domain}", "Second", "One").id
    assert run(engine, sandbox, "sync_users").status == "success"
    assert run(engine, sandbox, "group_analysis").status == "success"
    with engine.begin() as c:
        by_user = {s.user_id: s.id for s in analysis.list_suggestions(c, group_id=group_id)}
        assert analysis.dismiss(c, [by_user[first]]).done == [by_user[first]]
        decision = analysis.accept(c, [by_user[second], by_user[first], 123_456], utcnow())
        assert decision.done == [by_user[second]]
        assert decision.not_open == [by_user[first]] and decision.unknown == [123_456]
        member = c.execute(
            select(lms_group_members).where(
                lms_group_members.c.group_id == group_id, lms_group_members.c.user_id == second
            )
        ).one()
    assert member.status == "pending" and member.deleted_at is None

    assert run(engine, sandbox, "group_analysis").status == "success"
    found = suggested(engine)
    assert (group_id, first) not in found  # dismissed
    assert (group_id, second) not in found  # a pending member is a member
