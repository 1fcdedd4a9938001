"""The whole schema in SQLAlchemy Core. Column names in docs/design.md §2.5 are a contract.

Conventions:
- every timestamp is a UTC instant (`UtcDateTime`); `*_lms` / `*_source` columns hold
  the vendor's own timestamps, the others are partnersync's;
- synced tables carry `deleted_at`: a soft-deleted row keeps its data, and the bulk
  writer clears `deleted_at` when the row is seen again;
- synced data has no foreign keys to other synced data, so a membership or an
  enrollment that arrives before its person or course is stored, not lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import mysql

from partnersync.db.types import UtcDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

MARIADB: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}

OPAQUE_ID_COLLATION = "utf8mb4_nopad_bin"
"""Vendor ids are opaque: compared byte for byte, so ids that differ in case or in a trailing
space are two rows, not one (MariaDB's `_ci` collations fold case, and PAD SPACE collations,
`utf8mb4_bin` included, ignore trailing spaces). SQLite's default BINARY already does this."""


def opaque_id(length: int) -> Any:
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation=OPAQUE_ID_COLLATION), "mysql", "mariadb"
    )


LmsId = opaque_id(64)
Email = String(320)


def _deleted_at() -> Column[object]:
    return Column("deleted_at", UtcDateTime(), nullable=True)


partners = Table(
    "partners",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("impartner_id", Integer, nullable=False),
    Column("account_name", String(255), nullable=True),
    Column("partner_tier", String(64)),
    Column("account_status", String(64)),
    Column("partner_type", String(128)),
    Column("salesforce_id", opaque_id(32)),
    Column("website", String(500)),
    Column("region", String(128)),
    Column("country", String(128)),
    Column("parent_impartner_id", Integer),
    Column("primary_user_impartner_id", Integer),
    Column("is_active", Boolean, nullable=False, server_default=text("1")),
    Column("updated_at_source", UtcDateTime()),
    Column("certification_count", Integer, nullable=False, server_default=text("0")),
    Column("total_npcu", Integer, nullable=False, server_default=text("0")),
    Column("category_counts", JSON),
    Column("counts_computed_at", UtcDateTime()),
    # when impartner_sync first stored it inactive or deleted, NULL while active: offboarding's
    # grace period counts from here (`sync.impartner.mark_inactive_since`)
    Column("inactive_since", UtcDateTime()),
    _deleted_at(),
    UniqueConstraint("impartner_id"),
    Index(None, "salesforce_id"),
    Index(None, "account_name"),
    Index(None, "is_active", "partner_tier"),
    **MARIADB,
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("impartner_id", Integer, nullable=False),
    Column("email", Email),
    Column("email_domain", String(255)),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("title", String(255)),
    Column("impartner_account_id", Integer),
    Column("partner_id", Integer, ForeignKey("partners.id", ondelete="SET NULL")),
    Column("lms_user_id", LmsId),
    Column("contact_status", String(64)),
    Column("is_active", Boolean, nullable=False, server_default=text("1")),
    Column("updated_at_source", UtcDateTime()),
    Column("inactive_since", UtcDateTime()),  # as on partners
    _deleted_at(),
    UniqueConstraint("impartner_id"),
    Index(None, "email"),
    Index(None, "email_domain"),
    Index(None, "partner_id"),
    Index(None, "impartner_account_id"),
    Index(None, "lms_user_id"),
    **MARIADB,
)

lms_users = Table(
    "lms_users",
    metadata,
    Column("id", LmsId, primary_key=True),
    Column("email", Email),
    Column("email_domain", String(255)),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("status", String(16), nullable=False, server_default=text("'active'")),
    Column("created_at_lms", UtcDateTime()),
    Column("updated_at_lms", UtcDateTime()),
    Column("last_active_at", UtcDateTime()),
    Column("deactivated_at", UtcDateTime()),
    Column("enrollments_synced_at", UtcDateTime()),
    _deleted_at(),
    Index(None, "email"),
    Index(None, "email_domain"),
    Index(None, "status"),
    **MARIADB,
)

lms_groups = Table(
    "lms_groups",
    metadata,
    Column("id", LmsId, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("partner_id", Integer, ForeignKey("partners.id", ondelete="SET NULL")),
    Column("partner_link", String(8)),
    Column("memberships_count", Integer),
    Column("created_at_lms", UtcDateTime()),
    Column("updated_at_lms", UtcDateTime()),
    Column("memberships_synced_at", UtcDateTime()),
    _deleted_at(),
    Index(None, "partner_id"),
    Index(None, "name"),
    **MARIADB,
)

lms_group_members = Table(
    "lms_group_members",
    metadata,
    Column("group_id", LmsId, primary_key=True),
    Column("user_id", LmsId, primary_key=True),
    Column("status", String(16), nullable=False, server_default=text("'confirmed'")),
    Column("added_at", UtcDateTime()),
    Column("confirmed_at", UtcDateTime()),
    Column("pending_error", Text),
    # who put the member there: `manual` (seen in Northpass only), or partnersync for a
    # `contact` or an accepted `suggestion`, decided by `added_by` (partnersync / operator)
    Column("source", String(16), nullable=False, server_default=text("'manual'")),
    Column("added_by", String(16)),
    Column("added_reason", Text),
    _deleted_at(),
    Index(None, "user_id"),
    Index(None, "status"),
    **MARIADB,
)

lms_courses = Table(
    "lms_courses",
    metadata,
    Column("id", LmsId, primary_key=True),
    Column("name", String(500), nullable=False),
    Column("status", String(32)),
    Column("npcu_value", Integer, nullable=False, server_default=text("0")),
    Column("npcu_raw", String(64)),
    Column("certification_category", String(64)),
    Column("created_at_lms", UtcDateTime()),
    Column("updated_at_lms", UtcDateTime()),
    _deleted_at(),
    Index(None, "npcu_value"),
    Index(None, "certification_category"),
    **MARIADB,
)

lms_enrollments = Table(
    "lms_enrollments",
    metadata,
    Column("id", LmsId, primary_key=True),
    Column("user_id", LmsId, nullable=False),
    Column("course_id", LmsId, nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Double()),
    Column("enrolled_at", UtcDateTime()),
    Column("started_at", UtcDateTime()),
    Column("completed_at", UtcDateTime()),
    Column("expires_at", UtcDateTime()),
    Column("last_active_at", UtcDateTime()),
    _deleted_at(),
    Index(None, "user_id", "course_id"),
    Index(None, "course_id", "status"),
    Index(None, "status", "expires_at"),
    **MARIADB,
)

sync_logs = Table(
    "sync_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sync_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("trigger", String(16), nullable=False, server_default=text("'cli'")),
    Column("owner", String(128)),
    Column("records_processed", Integer, nullable=False, server_default=text("0")),
    Column("records_created", Integer, nullable=False, server_default=text("0")),
    Column("records_updated", Integer, nullable=False, server_default=text("0")),
    Column("records_deleted", Integer, nullable=False, server_default=text("0")),
    Column("records_failed", Integer, nullable=False, server_default=text("0")),
    Column("api_requests", Integer, nullable=False, server_default=text("0")),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    Column("error_message", Text),
    Column("details", JSON),
    Index(None, "sync_type", "started_at"),
    Index(None, "status"),
    Index(None, "started_at"),
    **MARIADB,
)

scheduled_tasks = Table(
    "scheduled_tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_type", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("1")),
    Column("interval_minutes", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'idle'")),
    Column("last_status", String(16)),
    Column("last_run_at", UtcDateTime()),
    Column("next_run_at", UtcDateTime()),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UtcDateTime()),
    Column("lease_token", Integer, nullable=False, server_default=text("0")),
    Column("heartbeat_at", UtcDateTime()),
    Column("current_log_id", Integer),
    Column("progress", JSON),
    Column("config", JSON),
    UniqueConstraint("task_type"),
    Index(None, "enabled", "next_run_at"),
    **MARIADB,
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("watermark", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    **MARIADB,
)

certification_category_rules = Table(
    "certification_category_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pattern", String(255), nullable=False),
    Column("category", String(64), nullable=False),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    **MARIADB,
)

partner_push_state = Table(
    "partner_push_state",
    metadata,
    Column("partner_id", Integer, ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True),
    Column("pushed_values", JSON),
    Column("pushed_at", UtcDateTime()),
    Column("last_attempt_at", UtcDateTime()),
    Column("last_error", Text),
    Column("crm_values", JSON),  # what Impartner held for the pushed fields, as last read
    Column("crm_read_at", UtcDateTime()),
    **MARIADB,
)

partner_snapshots = Table(
    "partner_snapshots",
    metadata,
    Column("partner_id", Integer, ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),  # UTC day; the day's last computation wins
    Column("certification_count", Integer, nullable=False),
    Column("total_npcu", Integer, nullable=False),
    Column("certified_users", Integer, nullable=False),
    Column("partner_users", Integer, nullable=False),
    Column("expiring_90d", Integer, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Index(None, "day"),
    **MARIADB,
)

group_analysis_runs = Table(
    "group_analysis_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sync_log_id", Integer),
    Column("run_at", UtcDateTime(), nullable=False),
    Column("groups_analysed", Integer, nullable=False, server_default=text("0")),
    Column("suggestions", Integer, nullable=False, server_default=text("0")),
    Index(None, "run_at"),
    **MARIADB,
)

group_analysis_suggestions = Table(
    "group_analysis_suggestions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "run_id",  # the latest run that made the suggestion
        Integer,
        ForeignKey("group_analysis_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("group_id", LmsId, nullable=False),
    Column("user_id", LmsId, nullable=False),
    Column("email_domain", String(255)),
    Column("reason", String(64), nullable=False),
    Column("evidence", Text),
    Column("status", String(16), nullable=False, server_default=text("'open'")),
    UniqueConstraint("group_id", "user_id"),  # later runs update the row; decisions stay
    Index(None, "run_id", "group_id"),
    **MARIADB,
)

access_audit = Table(
    "access_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),  # when the vendor answered
    Column("sync_log_id", Integer),  # the run that wrote
    Column("action", String(8), nullable=False),  # add, remove
    Column("group_id", LmsId, nullable=False),
    Column("group_name", String(255)),
    Column("user_id", LmsId, nullable=False),
    Column("email", Email),
    Column("partner_id", Integer),  # no foreign key: the trail outlives what it names
    Column("source", String(16), nullable=False),  # the membership's, as above
    Column("decided_by", String(16), nullable=False),  # partnersync, operator
    Column("cause", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("outcome", String(16), nullable=False),  # done, failed
    Column("answer", Text, nullable=False),  # the vendor's, in one line
    Index(None, "at"),
    Index(None, "sync_log_id"),
    Index(None, "user_id"),
    Index(None, "group_id"),
    **MARIADB,
)

SYNCED_TABLES = (
    partners,
    contacts,
    lms_users,
    lms_groups,
    lms_group_members,
    lms_courses,
    lms_enrollments,
)

api_budgets = Table(
    "api_budgets",
    metadata,
    Column("key_id", String(64), primary_key=True),  # "<api>:<hash of the key>", never the key
    Column("api", String(16), nullable=False),
    Column("budget", Double(), nullable=False),  # requests/s for every consumer together
    Column("raised_at", UtcDateTime(), nullable=False),  # the rise was applied up to here
    Column("throttled_at", UtcDateTime()),  # the last back-off
    Column("paused_until", UtcDateTime()),  # a Retry-After every consumer honours
    Column("requests", Integer, nullable=False, server_default=text("0")),
    Column("rate_limited", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", UtcDateTime(), nullable=False),
    **MARIADB,
)

api_consumers = Table(
    "api_consumers",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("consumer", String(128), primary_key=True),  # host:pid:random, one per process
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("heartbeat_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("share", Double(), nullable=False),  # its rate now
    Column("demand", Double()),  # requests/s it would use; NULL: all it can get
    Column("used", Double(), nullable=False, server_default=text("0")),  # requests/s last beat
    Column("requests", Integer, nullable=False, server_default=text("0")),
    Column("rate_limited", Integer, nullable=False, server_default=text("0")),
    **MARIADB,
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", LmsId, nullable=False, unique=True),
    # sha256 of type|person|course|created_at: the same event under another id is a duplicate
    Column("natural_key", String(64), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("person_id", LmsId),
    Column("course_id", LmsId),
    Column("event_created_at", UtcDateTime()),
    Column("payload", Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
    Column("source", String(16), nullable=False),  # "delivery" or "replay"
    Column("received_at", UtcDateTime(), nullable=False),
    Column("processed_at", UtcDateTime()),
    Column("outcome", String(255)),  # what processing did with it; a hint, never truth
    Index(None, "processed_at"),
    Index(None, "event_created_at"),
    **MARIADB,
)
"""The webhook inbox: raw Northpass events, received or replayed, awaiting their re-reads."""
