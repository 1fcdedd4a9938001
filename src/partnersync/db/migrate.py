"""`partnersync migrate`: Alembic upgrade to head, then seed the task registry.

Seeding inserts missing tasks only, so a second run changes nothing and an
operator's choices (enabled, interval) are never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, insert, select

from partnersync.db.schema import scheduled_tasks
from partnersync.db.types import utcnow
from partnersync.tasks.registry import TASKS

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def seed_tasks(connection: Connection) -> int:
    """Insert the contract tasks that are missing; return how many were added."""
    existing = set(connection.scalars(select(scheduled_tasks.c.task_type)))
    missing = [
        {
            "task_type": task.name,
            "interval_minutes": task.interval_minutes,
            "enabled": True,
            "status": "idle",
            "next_run_at": utcnow(),
        }
        for task in TASKS
        if task.name not in existing
    ]
    if missing:
        connection.execute(insert(scheduled_tasks), missing)
    return len(missing)


def migrate(engine: Engine) -> int:
    """Bring the schema to head and seed tasks; return the number of tasks added."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    with engine.begin() as connection:
        return seed_tasks(connection)


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration (checked, never changed)."""
    with engine.connect() as connection:
        heads = ScriptDirectory.from_config(alembic_config(connection)).get_heads()
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(heads)
