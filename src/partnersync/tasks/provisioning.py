"""Provisioning from contacts: the precise signal, asked before any domain guess.

Everyone who belongs to a partner (`access.belonging`, with an LMS user not deactivated in
Northpass) should be a member of the partner's live linked groups and, with
PARTNERSYNC_ACCESS_ALL_PARTNERS, of "All Partners". `group_analysis` looks for the pairs that
are not live members (confirmed or pending). With `contact` in PARTNERSYNC_ACCESS_AUTO_ACCEPT
(the default) they become pending memberships at once, which `group_members_sync` writes;
otherwise they are suggested (reason `contact`) for an operator to accept. A pair an operator
accepted once is approved for good: the person is provisioned again after a removal (say,
re-activated after leaving) without asking; a dismissed pair is never provisioned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from partnersync.config import Settings
from partnersync.db.schema import group_analysis_suggestions, lms_group_members
from partnersync.tasks.access import Belonging, Key, all_partners_groups, belonging, partner_groups
from partnersync.tasks.members import NewMember, add_pending

CONTACT = "contact"
"""The suggestion reason (and the membership source) of a contact's access."""


def missing(connection: Connection, settings: Settings) -> dict[Key, Belonging]:
    """The wanted (group, person) pairs that are not live members, each with the first
    contact that wants it."""
    groups = partner_groups(connection)
    everyone = list(all_partners_groups(connection)) if settings.access_all_partners else []
    member = lms_group_members.c
    live = {
        (row.group_id, row.user_id)
        for row in connection.execute(
            select(member.group_id, member.user_id).where(member.deleted_at.is_(None))
        )
    }
    found: dict[Key, Belonging] = {}
    for person in belonging(connection):
        if not person.lms_active:
            continue
        for group_id in [*groups.get(person.partner_id, []), *everyone]:
            if (group_id, person.user_id) not in live:
                found.setdefault((group_id, person.user_id), person)
    return found


def provision(
    connection: Connection, settings: Settings, now: datetime
) -> tuple[int, dict[Key, Belonging]]:
    """Make the missing pairs that need no acceptance pending; return how many, and the pairs
    left for an operator to decide on."""
    found = missing(connection, settings)
    s = group_analysis_suggestions.c
    decided = {
        (row.group_id, row.user_id): row.status
        for row in connection.execute(
            select(s.group_id, s.user_id, s.status).where(s.status != "open")
        )
    }
    automatic = CONTACT in settings.access_auto_accept
    pending = [
        NewMember(
            group_id,
            user_id,
            "contact",
            "partnersync" if automatic else "operator",
            person.evidence() if automatic else f"{person.evidence()}; accepted before",
        )
        for (group_id, user_id), person in found.items()
        if decided.get((group_id, user_id)) != "dismissed"
        and (automatic or decided.get((group_id, user_id)) == "accepted")
    ]
    add_pending(connection, pending, now)
    undecided = {} if automatic else {k: p for k, p in found.items() if k not in decided}
    return len(pending), undecided
