"""partner view: daily snapshots of each partner's counts, and what Impartner holds

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import partnersync.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_snapshots",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("certification_count", sa.Integer(), nullable=False),
        sa.Column("total_npcu", sa.Integer(), nullable=False),
        sa.Column("certified_users", sa.Integer(), nullable=False),
        sa.Column("partner_users", sa.Integer(), nullable=False),
        sa.Column("expiring_90d", sa.Integer(), nullable=False),
        sa.Column("recorded_at", partnersync.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_snapshots_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", "day", name=op.f("pk_partner_snapshots")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("partner_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_snapshots_day"), ["day"], unique=False)
    with op.batch_alter_table("partner_push_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crm_values", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("crm_read_at", partnersync.db.types.UtcDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("partner_push_state", schema=None) as batch_op:
        batch_op.drop_column("crm_read_at")
        batch_op.drop_column("crm_values")
    with op.batch_alter_table("partner_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_snapshots_day"))
    op.drop_table("partner_snapshots")
