"""Contacts first: pending at once or waiting for an operator, per source; domains never
suggest a partner's contacts; an approved pair comes back without asking."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, update

from partnersync.config import Settings
from partnersync.db.schema import contacts, lms_group_members
from partnersync.db.types import utcnow
from partnersync.tasks import analysis
from partnersync.tasks.runner import run_task

from .conftest import add_partner, add_people


def analyse(engine: Engine, auto: str) -> None:
    settings = Settings(PARTNERSYNC_ACCESS_AUTO_ACCEPT=auto)
    outcome = run_task(engine, settings, "group_analysis", analysis.group_analysis)
    assert outcome.status == "success", outcome.error


def pending(engine: Engine) -> dict[str, tuple[str, str | None]]:
    m = lms_group_members.c
    with engine.connect() as c:
        rows = c.execute(select(m.user_id, m.source, m.added_by).where(m.status == "pending"))
        return {row.user_id: (row.source, row.added_by) for row in rows}


def suggested(engine: Engine) -> dict[str, str]:
    with engine.connect() as c:
        return {s.user_id: s.reason for s in analysis.list_suggestions(c, status="open")}


def test_each_source_is_automatic_or_waits_for_an_operator(engine: Engine) -> None:
    with engine.begin() as c:
        add_people(c, "alice@acme.io", "bob@acme.io", "carol@acme.io")
        add_partner(c, 1, "Acme", ["alice@acme.io", "bob@acme.io"], "g1")
        c.execute(update(contacts).values(lms_user_id="u-" + contacts.c.email))

    analyse(engine, "")  # nothing automatic: every source waits
    assert pending(engine) == {}
    assert suggested(engine) == {
        "u-alice@acme.io": "contact",
        "u-bob@acme.io": "contact",
        "u-carol@acme.io": "domain",  # a colleague by domain; the contacts never are
    }
    with engine.begin() as c:
        (alice,) = [s.id for s in analysis.list_suggestions(c) if s.user_id == "u-alice@acme.io"]
        assert analysis.accept(c, [alice], utcnow()).done == [alice]
    assert pending(engine) == {"u-alice@acme.io": ("contact", "operator")}

    with engine.begin() as c:  # removed, say as someone who left and came back
        c.execute(update(lms_group_members).values(deleted_at=utcnow()))
    analyse(engine, "")
    assert pending(engine) == {"u-alice@acme.io": ("contact", "operator")}  # approved before

    analyse(engine, "contact,domain")
    expected: dict[str, Any] = {
        "u-alice@acme.io": ("contact", "operator"),
        "u-bob@acme.io": ("contact", "partnersync"),
        "u-carol@acme.io": ("suggestion", "partnersync"),
    }
    assert pending(engine) == expected and suggested(engine) == {}
