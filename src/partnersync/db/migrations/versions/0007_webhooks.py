"""webhook inbox: raw Northpass events, deduplicated by id and by natural key

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import partnersync.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MARIADB: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def opaque_id() -> Any:
    return sa.String(64).with_variant(
        mysql.VARCHAR(64, charset="utf8mb4", collation="utf8mb4_nopad_bin"), "mysql", "mariadb"
    )


def upgrade() -> None:
    instant = partnersync.db.types.UtcDateTime
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", opaque_id(), nullable=False),
        sa.Column("natural_key", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("person_id", opaque_id(), nullable=True),
        sa.Column("course_id", opaque_id(), nullable=True),
        sa.Column("event_created_at", instant(), nullable=True),
        sa.Column(
            "payload",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", instant(), nullable=False),
        sa.Column("processed_at", instant(), nullable=True),
        sa.Column("outcome", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_webhook_events_event_id")),
        sa.UniqueConstraint("natural_key", name=op.f("uq_webhook_events_natural_key")),
        **MARIADB,
    )
    op.create_index(
        op.f("ix_webhook_events_processed_at"), "webhook_events", ["processed_at"], unique=False
    )
    op.create_index(
        op.f("ix_webhook_events_event_created_at"),
        "webhook_events",
        ["event_created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("webhook_events")
