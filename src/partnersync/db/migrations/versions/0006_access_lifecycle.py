"""access lifecycle: when partners and contacts became inactive, who added a membership, audit

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00

Existing memberships count as manual (added outside partnersync), except those partnersync
wrote: pending rows, and confirmed rows of an accepted suggestion whose `added_at` (the
acceptance) differs from `confirmed_at` (a member first seen in Northpass gets both at once).
`inactive_since` starts empty: the first `impartner_sync` after the upgrade stamps the rows
that are inactive then, so their grace period starts there.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import partnersync.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MARIADB: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}

members = sa.table(
    "lms_group_members",
    sa.column("group_id", sa.String()),
    sa.column("user_id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("added_at", partnersync.db.types.UtcDateTime()),
    sa.column("confirmed_at", partnersync.db.types.UtcDateTime()),
    sa.column("source", sa.String()),
    sa.column("added_by", sa.String()),
)
suggestions = sa.table(
    "group_analysis_suggestions",
    sa.column("group_id", sa.String()),
    sa.column("user_id", sa.String()),
    sa.column("status", sa.String()),
)


def _opaque_id() -> Any:
    return sa.String(length=64).with_variant(
        mysql.VARCHAR(length=64, charset="utf8mb4", collation="utf8mb4_nopad_bin"),
        "mysql",
        "mariadb",
    )


def _mark_partnersync_memberships() -> None:
    m, s = members.c, suggestions.c
    accepted = sa.exists().where(
        s.group_id == m.group_id, s.user_id == m.user_id, s.status == "accepted"
    )
    written_after_acceptance = sa.and_(
        accepted,
        sa.or_(m.added_at.is_(None), m.confirmed_at.is_(None), m.added_at != m.confirmed_at),
    )
    op.get_bind().execute(
        sa.update(members)
        .where(sa.or_(m.status == "pending", written_after_acceptance))
        .values(source="suggestion", added_by="operator")
    )


def upgrade() -> None:
    instant = partnersync.db.types.UtcDateTime
    for table in ("partners", "contacts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("inactive_since", instant(), nullable=True))
    with op.batch_alter_table("lms_group_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source", sa.String(length=16), server_default=sa.text("'manual'"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("added_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("added_reason", sa.Text(), nullable=True))
    _mark_partnersync_memberships()
    op.create_table(
        "access_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", instant(), nullable=False),
        sa.Column("sync_log_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("group_id", _opaque_id(), nullable=False),
        sa.Column("group_name", sa.String(length=255), nullable=True),
        sa.Column("user_id", _opaque_id(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_audit")),
        **MARIADB,
    )
    with op.batch_alter_table("access_audit", schema=None) as batch_op:
        for column in ("at", "sync_log_id", "user_id", "group_id"):
            batch_op.create_index(batch_op.f(f"ix_access_audit_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("access_audit")
    with op.batch_alter_table("lms_group_members", schema=None) as batch_op:
        batch_op.drop_column("added_reason")
        batch_op.drop_column("added_by")
        batch_op.drop_column("source")
    for table in ("contacts", "partners"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("inactive_since")
