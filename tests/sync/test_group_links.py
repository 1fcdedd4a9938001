"""Manual group ↔ partner links: the functions on both databases, and `partnersync link`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, insert, select
from typer.testing import CliRunner

from partnersync.cli import app
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import lms_groups, partners
from partnersync.sync.group_links import (
    LinkError,
    clear_manual_link,
    list_links,
    resolve_partner,
    set_manual_link,
)
from partnersync.sync.groups import match_partners
from partnersync.tasks.registry import TASKS

GONE = datetime(2026, 1, 1, tzinfo=UTC)


def seed(connection: Connection) -> None:
    for partner_id, name, active, deleted in (
        (1, "Acme Inc", True, None),
        (2, "Globex", True, None),
        (3, "Gone Ltd", False, GONE),
    ):
        connection.execute(
            insert(partners).values(
                id=partner_id,
                impartner_id=500 + partner_id,
                account_name=name,
                is_active=active,
                deleted_at=deleted,
            )
        )
    for group_id, name, deleted in (
        ("g-acme", "ptr_Acme", None),
        ("g-misc", "Webinar Attendees", None),
        ("g-old", "Old", GONE),
    ):
        connection.execute(insert(lms_groups).values(id=group_id, name=name, deleted_at=deleted))


def link_of(connection: Connection, group_id: str) -> tuple[int | None, str | None]:
    row = connection.execute(
        select(lms_groups.c.partner_id, lms_groups.c.partner_link).where(
            lms_groups.c.id == group_id
        )
    ).one()
    return row.partner_id, row.partner_link


def test_set_clear_and_rematch(engine: Engine) -> None:
    with engine.begin() as connection:
        seed(connection)
        assert match_partners(connection).linked == ["g-acme"]
        assert link_of(connection, "g-acme") == (1, "auto")

        set_manual_link(connection, "g-acme", 2)
        changes = match_partners(connection)
        assert (changes.linked, changes.unlinked, changes.manual) == ([], [], 1)
        assert link_of(connection, "g-acme") == (2, "manual")

        clear_manual_link(connection, "g-acme")
        assert link_of(connection, "g-acme") == (None, None)
        match_partners(connection)
        assert link_of(connection, "g-acme") == (1, "auto")

        assert [link.group_id for link in list_links(connection, unlinked=True)] == ["g-misc"]
        listed = {link.group_id: link for link in list_links(connection)}
        assert set(listed) == {"g-acme", "g-misc"}
        assert (listed["g-acme"].partner_name, listed["g-acme"].impartner_id) == ("Acme Inc", 501)


@pytest.mark.parametrize(
    ("group_id", "partner_id", "message"),
    [
        ("nope", 1, "no LMS group with id 'nope'"),
        ("g-old", 1, "was deleted in Northpass"),
        ("g-acme", 99, "no partner with id 99"),
        ("g-acme", 3, "partner 3 is deleted"),
    ],
)
def test_bad_links_are_refused_with_a_clear_message(
    engine: Engine, group_id: str, partner_id: int, message: str
) -> None:
    with engine.begin() as connection:
        seed(connection)
        with pytest.raises(LinkError, match=message):
            set_manual_link(connection, group_id, partner_id)


def test_partner_by_impartner_id(engine: Engine) -> None:
    with engine.begin() as connection:
        seed(connection)
        assert resolve_partner(connection, None, 502) == 2
        assert resolve_partner(connection, 7, None) == 7
        with pytest.raises(LinkError, match="Impartner id 999"):
            resolve_partner(connection, None, 999)
        with pytest.raises(LinkError, match="either"):
            resolve_partner(connection, 1, 501)


def test_link_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'links.db'}"
    monkeypatch.setenv("PARTNERSYNC_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    engine = make_engine(url)
    migrate(engine, TASKS)
    with engine.begin() as connection:
        seed(connection)
    runner = CliRunner()

    result = runner.invoke(app, ["link", "set", "g-misc", "--impartner-id", "502"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(app, ["link", "list"]).output
    assert "Webinar Attendees" in listing and "manual" in listing and "Globex" in listing
    assert "g-misc" not in runner.invoke(app, ["link", "list", "--unlinked"]).output

    assert runner.invoke(app, ["link", "set", "g-misc", "99"]).exit_code == 2
    assert runner.invoke(app, ["link", "set", "g-misc"]).exit_code == 2
    assert runner.invoke(app, ["link", "clear", "missing"]).exit_code == 2
    assert runner.invoke(app, ["link", "clear", "g-misc"]).exit_code == 0
    with engine.connect() as connection:
        assert link_of(connection, "g-misc") == (None, None)
