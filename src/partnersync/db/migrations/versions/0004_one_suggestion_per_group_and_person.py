"""group_analysis: one suggestion per (group, person), with its evidence

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

Every run used to insert its suggestions again, so a database can hold several rows for one
(group, person). Before the unique constraint they are merged: the accepted row is kept if there
is one, else the dismissed one, else the newest; within a status, the newest.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 1000
RANK = {"accepted": 2, "dismissed": 1}
"""Which of several rows for one (group, person) is kept: a decision over an open row."""

suggestions = sa.table(
    "group_analysis_suggestions",
    sa.column("id", sa.Integer()),
    sa.column("group_id", sa.String()),
    sa.column("user_id", sa.String()),
    sa.column("status", sa.String()),
)


def _twins(connection: sa.Connection) -> Iterator[int]:
    """The ids of every row but the one kept for each (group, person) with several."""
    s = suggestions.c
    doubled = (
        sa.select(s.group_id, s.user_id)
        .group_by(s.group_id, s.user_id)
        .having(sa.func.count() > 1)
        .subquery()
    )
    rows = connection.execute(
        sa.select(s.id, s.group_id, s.user_id, s.status).join(
            doubled, sa.and_(doubled.c.group_id == s.group_id, doubled.c.user_id == s.user_id)
        )
    )
    ranked: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in rows:
        ranked.setdefault((row.group_id, row.user_id), []).append((RANK.get(row.status, 0), row.id))
    for candidates in ranked.values():
        candidates.sort()
        yield from (row_id for _, row_id in candidates[:-1])


def _merge_twins() -> None:
    connection = op.get_bind()
    twins = list(_twins(connection))
    for start in range(0, len(twins), BATCH):
        connection.execute(
            sa.delete(suggestions).where(suggestions.c.id.in_(twins[start : start + BATCH]))
        )


def upgrade() -> None:
    _merge_twins()
    with op.batch_alter_table("group_analysis_suggestions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence", sa.Text(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_group_analysis_suggestions_group_id_user_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_group_analysis_suggestions_group_id_user_id"), ["group_id", "user_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("group_analysis_suggestions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_group_analysis_suggestions_group_id_user_id"), type_="unique"
        )
        batch_op.create_index(
            batch_op.f("ix_group_analysis_suggestions_group_id_user_id"),
            ["group_id", "user_id"],
            unique=False,
        )
        batch_op.drop_column("evidence")
