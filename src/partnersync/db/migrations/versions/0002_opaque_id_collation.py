"""vendor ids compare byte for byte (utf8mb4_nopad_bin on MariaDB)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:20:00

Case-insensitive, PAD SPACE collations made ids that differ in case or a trailing space one
row. SQLite compares with BINARY already, so only MariaDB changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID_COLUMNS = (  # table, column, length, nullable
    ("lms_users", "id", 64, False),
    ("lms_groups", "id", 64, False),
    ("lms_group_members", "group_id", 64, False),
    ("lms_group_members", "user_id", 64, False),
    ("lms_courses", "id", 64, False),
    ("lms_enrollments", "id", 64, False),
    ("lms_enrollments", "user_id", 64, False),
    ("lms_enrollments", "course_id", 64, False),
    ("contacts", "lms_user_id", 64, True),
    ("partners", "salesforce_id", 32, True),
    ("group_analysis_suggestions", "group_id", 64, False),
    ("group_analysis_suggestions", "user_id", 64, False),
)


def _alter(collation: str) -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, column, length, nullable in ID_COLUMNS:
        op.alter_column(
            table,
            column,
            type_=mysql.VARCHAR(length, charset="utf8mb4", collation=collation),
            existing_type=sa.String(length),
            existing_nullable=nullable,
        )


def upgrade() -> None:
    _alter("utf8mb4_nopad_bin")


def downgrade() -> None:
    _alter("utf8mb4_unicode_ci")
