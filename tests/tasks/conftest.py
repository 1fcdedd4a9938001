"""Shared by the task tests: the sync tests' sandbox, a database filled from it, and partners,
contacts and people added by hand."""

from __future__ import annotations

from sqlalchemy import Connection, insert

from partnersync.db.schema import contacts, lms_groups, lms_users, partners
from tests.sync.conftest import pull_everything, run, sandbox

__all__ = ["add_partner", "add_people", "pull_everything", "run", "sandbox"]


def add_partner(
    c: Connection, partner_id: int, name: str, emails: list[str], group: str | None = None
) -> None:
    """An active partner with active contacts on `emails` and, with `group`, its linked group."""
    c.execute(
        insert(partners).values(
            id=partner_id, impartner_id=1000 + partner_id, account_name=name, is_active=True
        )
    )
    c.execute(
        insert(contacts),
        [
            {
                "impartner_id": partner_id * 100 + n,
                "email": email,
                "email_domain": email.split("@")[1],
                "partner_id": partner_id,
            }
            for n, email in enumerate(emails)
        ],
    )
    if group is not None:
        c.execute(
            insert(lms_groups).values(
                id=group, name=f"ptr_{name}", partner_id=partner_id, partner_link="auto"
            )
        )


def add_people(c: Connection, *emails: str) -> None:
    """Active LMS users, each with the id `u-<email>`."""
    c.execute(
        insert(lms_users),
        [{"id": f"u-{e}", "email": e, "email_domain": e.split("@")[1]} for e in emails],
    )
