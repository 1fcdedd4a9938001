"""`sync_users`: every Northpass person → `lms_users`, partner or not."""

from __future__ import annotations

from typing import Any

from partnersync.clients import NorthpassPerson
from partnersync.db.schema import lms_users
from partnersync.sync.collection import Stream, confirmed_gone_in_northpass, pull
from partnersync.sync.context import SyncContext
from partnersync.sync.links import link_contacts_to_lms_users


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1] or None


def person_row(person: NorthpassPerson) -> dict[str, Any]:
    deactivated = person.deactivated_at is not None or bool(person.disabled)
    return {
        "id": person.id,
        "email": person.email,
        "email_domain": email_domain(person.email),
        "first_name": person.first_name,
        "last_name": person.last_name,
        "status": "deactivated" if deactivated else "active",
        "created_at_lms": person.created_at,
        "updated_at_lms": person.updated_at,
        "last_active_at": person.last_active_at,
        "deactivated_at": person.deactivated_at,
    }


PEOPLE = Stream(
    name="northpass.people",
    table=lms_users,
    to_row=person_row,
    updated_at=lambda person: person.updated_at,
    deleted_values={"status": "deleted"},
    confirm=confirmed_gone_in_northpass("people"),
)


async def sync_users(context: SyncContext) -> None:
    await pull(context, PEOPLE, lambda since: context.northpass.people(updated_since=since))
    with context.write() as connection:
        linked = link_contacts_to_lms_users(connection)
    context.report.stream(PEOPLE.name).notes.append(f"{linked} contact link(s) changed")
