"""Operator-set group ↔ partner links: set, clear and list (used by the CLI, later the API).

A manual link is one the matcher never overwrites (docs/design.md §3). Clearing it hands the group
back to automatic matching: the next `sync_groups` may link it again by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from partnersync.db.schema import lms_groups, partners


class LinkError(ValueError):
    """An unknown or deleted group or partner; the message says which."""


@dataclass(frozen=True)
class GroupLink:
    group_id: str
    group_name: str
    partner_id: int | None
    partner_name: str | None
    impartner_id: int | None
    link: str | None  # auto / manual / None


def _live_group(connection: Connection, group_id: str) -> None:
    row = connection.execute(
        select(lms_groups.c.deleted_at).where(lms_groups.c.id == group_id)
    ).first()
    if row is None:
        raise LinkError(f"no LMS group with id {group_id!r} (run sync_groups first?)")
    if row.deleted_at is not None:
        raise LinkError(f"LMS group {group_id!r} was deleted in Northpass")


def resolve_partner(
    connection: Connection, partner_id: int | None, impartner_id: int | None
) -> int:
    """`partners.id` given either itself or the partner's Impartner account id."""
    if (partner_id is None) == (impartner_id is None):
        raise LinkError("give either a partner id or an Impartner id, not both or neither")
    if partner_id is not None:
        return partner_id
    found = connection.scalar(select(partners.c.id).where(partners.c.impartner_id == impartner_id))
    if found is None:
        raise LinkError(f"no partner with Impartner id {impartner_id} (run impartner_sync first?)")
    return int(found)


def set_manual_link(connection: Connection, group_id: str, partner_id: int) -> None:
    """Link a group to a partner for good; its memberships are read on the next sync."""
    _live_group(connection, group_id)
    partner = connection.execute(
        select(partners.c.deleted_at).where(partners.c.id == partner_id)
    ).first()
    if partner is None:
        raise LinkError(f"no partner with id {partner_id}")
    if partner.deleted_at is not None:
        raise LinkError(f"partner {partner_id} is deleted")
    connection.execute(
        update(lms_groups)
        .where(lms_groups.c.id == group_id)
        .values(partner_id=partner_id, partner_link="manual", memberships_synced_at=None)
    )


def clear_manual_link(connection: Connection, group_id: str) -> None:
    """Remove a group's link (manual or automatic); the matcher may link it again later."""
    _live_group(connection, group_id)
    connection.execute(
        update(lms_groups)
        .where(lms_groups.c.id == group_id)
        .values(partner_id=None, partner_link=None)
    )


def list_links(connection: Connection, *, unlinked: bool = False) -> list[GroupLink]:
    """Live groups with their partner and link kind; `unlinked` keeps only groups without one."""
    query = (
        select(
            lms_groups.c.id,
            lms_groups.c.name,
            lms_groups.c.partner_id,
            lms_groups.c.partner_link,
            partners.c.account_name,
            partners.c.impartner_id,
        )
        .select_from(lms_groups.outerjoin(partners, partners.c.id == lms_groups.c.partner_id))
        .where(lms_groups.c.deleted_at.is_(None))
        .order_by(lms_groups.c.name, lms_groups.c.id)
    )
    if unlinked:
        query = query.where(lms_groups.c.partner_id.is_(None))
    return [
        GroupLink(
            row.id, row.name, row.partner_id, row.account_name, row.impartner_id, row.partner_link
        )
        for row in connection.execute(query)
    ]


def is_live_group(connection: Connection, group_id: str) -> bool:
    found = connection.scalar(
        select(lms_groups.c.id).where(
            lms_groups.c.id == group_id, lms_groups.c.deleted_at.is_(None)
        )
    )
    return found is not None
