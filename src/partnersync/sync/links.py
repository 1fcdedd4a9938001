"""Set-based links between synced rows: contact ↔ partner and contact ↔ LMS user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from partnersync.db.schema import contacts, lms_users, partners


def link_contacts_to_partners(connection: Connection) -> int:
    """`contacts.partner_id` from the contact's Impartner account id; returns rows changed."""
    partner = (
        select(partners.c.id)
        .where(partners.c.impartner_id == contacts.c.impartner_account_id)
        .scalar_subquery()
    )
    return _set_where_different(connection, contacts.c.partner_id, partner)


def link_contacts_to_lms_users(connection: Connection) -> int:
    """`contacts.lms_user_id` by email (the lowest id among live LMS users with that email)."""
    lms_user = (
        select(func.min(lms_users.c.id))
        .where(lms_users.c.email == contacts.c.email, lms_users.c.deleted_at.is_(None))
        .scalar_subquery()
    )
    return _set_where_different(connection, contacts.c.lms_user_id, lms_user)


def _set_where_different(connection: Connection, column: Any, value: Any) -> int:
    differs = or_(
        and_(column.is_(None), value.is_not(None)),
        and_(column.is_not(None), value.is_(None)),
        column != value,
    )
    return connection.execute(update(contacts).where(differs).values({column.name: value})).rowcount
