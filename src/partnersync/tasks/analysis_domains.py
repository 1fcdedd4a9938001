"""Which corporate email domains count for a partner group in `group_analysis`, and why.

A domain of a partner's active contacts counts only on evidence: at least
`analysis_min_domain_contacts` of those contacts use it, or at least `analysis_min_domain_share`
of them do (so a partner with one contact keeps its domain). One stray contact with another
company's address must not make that company's people look like the partner's. A domain that
counts for two active partners says nothing about either and counts for neither. Public mail
domains never count. Domains configured for a group (`PARTNERSYNC_ANALYSIS_EXTRA_DOMAINS`) are
the operator's choice and count as given, unless public.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    CTE,
    ColumnElement,
    Double,
    Integer,
    Select,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)

from partnersync.config import Settings
from partnersync.db.schema import contacts, lms_groups, partners

CONTACTS_DOMAIN = "domain"
CONFIGURED_DOMAIN = "configured_domain"
"""`group_analysis_suggestions.reason`: where the domain that suggested the person comes from."""


def active_partner() -> ColumnElement[bool]:
    return and_(partners.c.is_active == true(), partners.c.deleted_at.is_(None))


def live_group() -> ColumnElement[bool]:
    """A group that is not deleted and is linked to an active partner (joined to `partners`)."""
    return and_(lms_groups.c.deleted_at.is_(None), active_partner())


def partner_domains(settings: Settings) -> CTE:
    """(partner id, domain, uses, total): the non-public domains that count for an active
    partner, with how many of its active contacts with an address use it, of how many."""
    c = contacts.c
    with_address = (
        select(c.partner_id, c.email_domain)
        .join(partners, partners.c.id == c.partner_id)
        .where(
            active_partner(),
            c.is_active == true(),
            c.deleted_at.is_(None),
            c.email_domain.is_not(None),
        )
        .subquery("with_address")
    )
    totals = (
        select(with_address.c.partner_id, func.count().label("total"))
        .group_by(with_address.c.partner_id)
        .subquery("totals")
    )
    uses = (
        select(
            with_address.c.partner_id,
            with_address.c.email_domain.label("domain"),
            func.count().label("uses"),
        )
        .where(with_address.c.email_domain.not_in(list(settings.public_email_domains)))
        .group_by(with_address.c.partner_id, with_address.c.email_domain)
        .subquery("uses")
    )
    # a share in doubles on both databases (MariaDB divides integers into a 4-digit DECIMAL)
    share = cast(uses.c.uses, Double) / totals.c.total
    return (
        select(uses.c.partner_id, uses.c.domain, uses.c.uses, totals.c.total)
        .join(totals, totals.c.partner_id == uses.c.partner_id)
        .where(
            or_(
                uses.c.uses >= settings.analysis_min_domain_contacts,
                share >= settings.analysis_min_domain_share,
            )
        )
        .cte("partner_domains")
    )


def group_domains(
    settings: Settings,
) -> Select[tuple[str, str, str, int | None, int | None, str | None, int, int]]:
    """(group id, domain, reason, uses, total, partner name, impartner id, partner id) for live
    partner-linked groups: the domains that count for the group's partner and for no other, and
    those configured for the group (a domain that is both gives a row of each)."""
    counted = partner_domains(settings)
    sole = select(counted.c.domain).group_by(counted.c.domain).having(func.count() == 1)
    from_contacts = (
        select(
            lms_groups.c.id.label("group_id"),
            counted.c.domain,
            literal(CONTACTS_DOMAIN).label("reason"),
            counted.c.uses,
            counted.c.total,
        )
        .join(counted, counted.c.partner_id == lms_groups.c.partner_id)
        .where(counted.c.domain.in_(sole))
    )
    configured = [
        select(
            literal(group_id).label("group_id"),
            literal(domain).label("domain"),
            literal(CONFIGURED_DOMAIN).label("reason"),
            literal(None, Integer).label("uses"),
            literal(None, Integer).label("total"),
        )
        for group_id, domains in settings.analysis_extra_domains.items()
        for domain in domains
        if domain not in settings.public_email_domains
    ]
    pairs = union_all(from_contacts, *configured).subquery("pairs")
    return (
        select(
            pairs.c.group_id,
            pairs.c.domain,
            pairs.c.reason,
            pairs.c.uses,
            pairs.c.total,
            partners.c.account_name,
            partners.c.impartner_id,
            partners.c.id.label("partner_id"),
        )
        .join(lms_groups, lms_groups.c.id == pairs.c.group_id)
        .join(partners, partners.c.id == lms_groups.c.partner_id)
        .where(live_group())
    )


@dataclass(frozen=True)
class DomainEvidence:
    """Why a domain counts for a group: stored, as text, with each suggestion it makes."""

    domain: str
    reason: str
    uses: int | None  # of the partner's active contacts with an address; None when configured
    total: int | None
    partner: str

    @property
    def configured(self) -> bool:
        return self.reason == CONFIGURED_DOMAIN

    def text(self) -> str:
        if self.uses is None or self.total is None:
            return f"{self.domain} is configured for the group (PARTNERSYNC_ANALYSIS_EXTRA_DOMAINS)"
        contacts_ = "contact" if self.total == 1 else "contacts"
        verb = "uses" if self.uses == 1 else "use"
        return (
            f"{self.uses} of {self.total} active {contacts_} of {self.partner} {verb} {self.domain}"
        )
