"""shared request budgets: one budget per API key, divided among the processes using it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import partnersync.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MARIADB: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    instant = partnersync.db.types.UtcDateTime
    op.create_table(
        "api_budgets",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("api", sa.String(length=16), nullable=False),
        sa.Column("budget", sa.Double(), nullable=False),
        sa.Column("raised_at", instant(), nullable=False),
        sa.Column("throttled_at", instant(), nullable=True),
        sa.Column("paused_until", instant(), nullable=True),
        sa.Column("requests", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_limited", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", instant(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_budgets")),
        **MARIADB,
    )
    op.create_table(
        "api_consumers",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("consumer", sa.String(length=128), nullable=False),
        sa.Column("registered_at", instant(), nullable=False),
        sa.Column("heartbeat_at", instant(), nullable=False),
        sa.Column("expires_at", instant(), nullable=False),
        sa.Column("share", sa.Double(), nullable=False),
        sa.Column("demand", sa.Double(), nullable=True),
        sa.Column("used", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column("requests", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rate_limited", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "consumer", name=op.f("pk_api_consumers")),
        **MARIADB,
    )


def downgrade() -> None:
    op.drop_table("api_consumers")
    op.drop_table("api_budgets")
