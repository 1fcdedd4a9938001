"""Who counts as a partner user (docs/design.md §2.3), defined once for every task.

A partner user is a live LMS user who is a confirmed member of a live group linked to an
active partner, or whom a live, active contact of an active partner is linked to (by email).
"""

from __future__ import annotations

from sqlalchemy import Select, and_, literal, select, true, union_all

from partnersync.db.schema import contacts, lms_group_members, lms_groups, lms_users, partners

_active_partner = and_(partners.c.is_active == true(), partners.c.deleted_at.is_(None))


def partner_user_sources() -> Select[tuple[int, str, str]]:
    """(partner_id, user_id, how): `how` is "group" for a confirmed member of a linked group,
    "contact" for a user an active contact is linked to. Not deduplicated (UNION ALL is the
    cheaper plan): a user may appear with both, and more than once with one."""
    by_group = (
        select(
            lms_groups.c.partner_id.label("partner_id"),
            lms_group_members.c.user_id.label("user_id"),
            literal("group").label("how"),
        )
        .join(lms_groups, lms_groups.c.id == lms_group_members.c.group_id)
        .join(partners, partners.c.id == lms_groups.c.partner_id)
        .join(lms_users, lms_users.c.id == lms_group_members.c.user_id)
        .where(
            lms_group_members.c.status == "confirmed",
            lms_group_members.c.deleted_at.is_(None),
            lms_groups.c.deleted_at.is_(None),
            lms_users.c.deleted_at.is_(None),
            _active_partner,
        )
    )
    by_contact = (
        select(
            contacts.c.partner_id.label("partner_id"),
            contacts.c.lms_user_id.label("user_id"),
            literal("contact").label("how"),
        )
        .join(partners, partners.c.id == contacts.c.partner_id)
        .join(lms_users, lms_users.c.id == contacts.c.lms_user_id)
        .where(
            contacts.c.lms_user_id.is_not(None),  # implied by the join; lets MariaDB filter early
            contacts.c.is_active == true(),
            contacts.c.deleted_at.is_(None),
            lms_users.c.deleted_at.is_(None),
            _active_partner,
        )
    )
    sources = union_all(by_group, by_contact).subquery("partner_user_sources")
    return select(sources.c.partner_id, sources.c.user_id, sources.c.how)


def partner_user_pairs() -> Select[tuple[int, str]]:
    """Distinct (partner_id, user_id) pairs, from group membership and from contacts."""
    sources = partner_user_sources().subquery()
    return select(sources.c.partner_id, sources.c.user_id).distinct()


def partner_user_ids() -> Select[tuple[str]]:
    pairs = partner_user_pairs().subquery()
    return select(pairs.c.user_id).distinct()
