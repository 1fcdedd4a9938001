"""Who belongs to which partner, and who left: the one definition provisioning and offboarding
share, read from the stored Impartner state.

A person *belongs* to a partner while a live, active contact of that live, active partner is
linked to their LMS user (by email). A person *left* a partner when a contact of theirs at it,
or the partner itself, is stored inactive or deleted (`is_active` false, which includes out of
the configured scope, or `deleted_at` set); the departure is *due* once that has lasted the
grace period (`inactive_since`, stamped by `impartner_sync`), so a mistaken deactivation undone
in time removes nothing. A partner's groups are the live groups linked to it; "All Partners" is
every live group of that name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, false, or_, select, true

from partnersync.db.schema import contacts, lms_groups, lms_users, partners
from partnersync.sync.matching import is_all_partners

Key = tuple[str, str]
"""(group id, user id): one membership."""


def all_partners_groups(connection: Connection) -> dict[str, str]:
    """Id → name of every live "All Partners" group."""
    rows = connection.execute(
        select(lms_groups.c.id, lms_groups.c.name).where(lms_groups.c.deleted_at.is_(None))
    )
    return {row.id: row.name for row in rows if is_all_partners(row.name)}


def partner_groups(connection: Connection) -> dict[int, list[str]]:
    """Partner id → its live linked groups (whatever the partner's state)."""
    found: dict[int, list[str]] = {}
    rows = connection.execute(
        select(lms_groups.c.partner_id, lms_groups.c.id)
        .where(lms_groups.c.partner_id.is_not(None), lms_groups.c.deleted_at.is_(None))
        .order_by(lms_groups.c.id)
    )
    for partner_id, group_id in rows:
        found.setdefault(partner_id, []).append(group_id)
    return found


@dataclass(frozen=True)
class Belonging:
    """An active contact of an active partner, linked to a live LMS user."""

    partner_id: int
    user_id: str
    contact_id: int  # the contact's Impartner id
    email: str | None
    partner_name: str | None
    impartner_id: int
    lms_active: bool  # the LMS user is not deactivated in Northpass

    def evidence(self) -> str:
        partner = self.partner_name or f"Impartner account {self.impartner_id}"
        return (
            f"active contact {self.contact_id} ({self.email}) of {partner} "
            f"(Impartner {self.impartner_id})"
        )


def belonging(connection: Connection) -> list[Belonging]:
    """Every person who belongs to a partner, once per contact; lowest contact id first."""
    c, p, u = contacts.c, partners.c, lms_users.c
    rows = connection.execute(
        select(p.id, u.id, c.impartner_id, c.email, p.account_name, p.impartner_id, u.status)
        .join(partners, p.id == c.partner_id)
        .join(lms_users, u.id == c.lms_user_id)
        .where(
            c.is_active == true(),
            c.deleted_at.is_(None),
            p.is_active == true(),
            p.deleted_at.is_(None),
            u.deleted_at.is_(None),
        )
        .order_by(u.id, c.impartner_id)
    )
    return [
        Belonging(partner, user, contact, email, name, impartner, status == "active")
        for partner, user, contact, email, name, impartner, status in rows
    ]


@dataclass(frozen=True)
class Departure:
    """A person who left a partner: which contact or partner change, since when."""

    partner_id: int
    user_id: str
    cause: str  # contact_inactive, contact_deleted, partner_inactive, partner_deleted
    since: datetime
    reason: str


def departures(connection: Connection) -> list[Departure]:
    """Every stored departure, due or not (`since` says when it started), one per contact;
    a partner's own change is named before its contact's."""
    c, p, u = contacts.c, partners.c, lms_users.c
    contact_gone = and_(
        or_(c.is_active == false(), c.deleted_at.is_not(None)), c.inactive_since.is_not(None)
    )
    partner_gone = and_(
        or_(p.is_active == false(), p.deleted_at.is_not(None)), p.inactive_since.is_not(None)
    )
    rows = connection.execute(
        select(
            p.id.label("partner_id"),
            u.id.label("user_id"),
            c.impartner_id.label("contact_id"),
            c.email,
            c.deleted_at.label("contact_deleted"),
            c.inactive_since.label("contact_since"),
            p.account_name,
            p.impartner_id,
            p.deleted_at.label("partner_deleted"),
            p.inactive_since.label("partner_since"),
            partner_gone.label("partner_left"),
        )
        .join(partners, p.id == c.partner_id)
        .join(lms_users, u.id == c.lms_user_id)
        .where(u.deleted_at.is_(None), or_(contact_gone, partner_gone))
        .order_by(u.id, p.id, c.impartner_id)
    )
    found = []
    for row in rows:
        partner = f"{row.account_name or 'an unnamed account'} (Impartner {row.impartner_id})"
        contact = f"contact {row.contact_id} ({row.email})"
        if row.partner_left:
            kind, since, deleted = "partner", row.partner_since, row.partner_deleted is not None
            subject = f"partner {partner} of {contact}"
        else:
            kind, since, deleted = "contact", row.contact_since, row.contact_deleted is not None
            subject = f"{contact} of {partner}"
        state = "deleted in Impartner" if deleted else "inactive or out of scope"
        found.append(
            Departure(
                row.partner_id,
                row.user_id,
                f"{kind}_{'deleted' if deleted else 'inactive'}",
                since,
                f"{subject} {state} since {since:%Y-%m-%d %H:%M} UTC",
            )
        )
    return found


def due(departure: Departure, now: datetime, grace: timedelta) -> bool:
    return departure.since <= now - grace
