"""The small typed core every layer shares: modes, triggers, the status words, pages.

Status words are Literals rather than bare strings, so a typo (`"sucess"`) is a type error
wherever it is written, and the API's models, the runner and the scheduler mean the same set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, NamedTuple, TypeVar

Mode = Literal["incremental", "full"]
"""Incremental reads what changed since the watermark; full reads everything and sweeps."""

Trigger = Literal["schedule", "cli", "api"]
"""Who asked for a run; every trigger goes through the same runner."""

RunStatus = Literal["running", "success", "failed"]
"""A run's `sync_logs.status`: `running` until its outcome (or an abandonment) is recorded."""

TaskStatus = Literal["idle", "running"]
"""`scheduled_tasks.status`: `running` while a lease is held."""

OutcomeStatus = Literal["success", "failed"]
"""How a finished run ended (`scheduled_tasks.last_status`)."""

MemberStatus = Literal["confirmed", "pending"]
"""`lms_group_members.status`: listed by Northpass, or written locally and not yet listed."""

SuggestionStatus = Literal["open", "accepted", "dismissed"]
"""A `group_analysis` suggestion, as the operator decided."""

SuggestionReason = Literal["contact", "domain", "configured_domain"]
"""Why a person is suggested for a group: an active contact of its partner (the precise
signal), a corporate domain its contacts use, or a domain configured for the group."""

MembershipSource = Literal["manual", "contact", "suggestion"]
"""`lms_group_members.source`: seen in Northpass only (added outside partnersync), or added by
partnersync for an active contact or an accepted suggestion."""

AccessAction = Literal["add", "remove"]
"""A membership write to Northpass, as `access_audit.action` records it."""


class Skipped(NamedTuple):
    """A record left out of a page, with the id when it had one, and why."""

    id: str | None
    reason: str


R = TypeVar("R")


@dataclass(frozen=True)
class Page(Generic[R]):
    """What every listing yields: the records that parsed and the ones skipped."""

    records: list[R]
    skipped: list[Skipped] = field(default_factory=list)
